"""Grade a whole class: every submission in a folder, each with the same core as a single
grading (a fresh work dir and run id, cleanup in a ``finally``), one after another or
``jobs`` at a time in separate processes.

A submission that cannot be graded at all, or that makes the grader itself fail, gets
a row that says why, and the batch goes on. The output folder receives the gradebook
(``notas.csv``), a summary (``resumen.md``), a histogram of the scores (``notas.png``)
and, under ``entregas/``, one Markdown, one HTML and one JSON report per student.

A batch can be resumed: with ``resume=True`` a submission whose JSON report exists and
records the same fingerprint (the submission's bytes, the lab and the grader's own code)
is not graded again. Tampering seen while other submissions ran at the same time is
re-graded alone at the end, together with every submission graded at the same time as it,
so that it is blamed on the right one: the course's tree is shared, so a grading sees the
files another one planted, and restoring them hides them from the one that did it."""
from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing
import re
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from grader import integrity, runner
from grader.grade import GradingError, grade
from grader.report import LabResult

GRADEBOOK = "notas.csv"
SUMMARY = "resumen.md"
HISTOGRAM = "notas.png"
REPORTS = "entregas"
GRADEBOOK_COLUMNS = ("estudiante", "entrega", "lab", "puntuacion", "obtenidos", "verificables",
                     "totales", "ejecucion", "estado", "segundos", "motivo")


@dataclass
class Entry:
    student: str
    submission: Path
    report_name: str = ""      # file name (no suffix) of its reports, unique in the batch
    result: LabResult | None = None
    problem: str = ""          # why there is no result (cannot be graded, grader crash)
    seconds: float = 0.0
    fingerprint: str = ""      # what was graded, with which grader (see resume)
    reused: bool = False       # taken from a previous run of the batch
    span: tuple[float, float] = (0.0, 0.0)  # when it was graded (epoch seconds)

    @property
    def state(self) -> str:
        if self.result is None:
            return "sin_corregir"
        return "completa" if self.result.success else "con_fallos"

    def row(self) -> dict[str, object]:
        r = self.result
        return {
            "estudiante": self.student, "entrega": self.submission.name,
            "lab": r.lab if r else "", "puntuacion": f"{r.score:.4f}" if r else "",
            "obtenidos": r.passed_points if r else "",
            "verificables": r.verifiable_points if r else "",
            "totales": r.total_points if r else "", "ejecucion": r.execution.status if r else "",
            "estado": self.state, "segundos": f"{self.seconds:.1f}",
            "motivo": self.problem or (r.execution.message if r and not r.execution.ok else ""),
        }


def find_submissions(folder: Path) -> list[tuple[str, Path]]:
    """(student, submission) pairs: each notebook and each sub-folder of ``folder``.
    The student is the file or folder name without extension; hidden entries and
    Jupyter checkpoints are ignored."""
    if not folder.is_dir():
        raise GradingError(f"«{folder}» no es una carpeta de entregas.")
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith((".", "_")) or path.name == ".ipynb_checkpoints":
            continue
        if path.is_dir() or path.suffix == ".ipynb":
            found.append((path.stem if path.is_file() else path.name, path))
    if not found:
        raise GradingError(f"No hay entregas en «{folder}» (se esperan cuadernos .ipynb o "
                           "carpetas, una por estudiante).")
    return found


def _safe_name(student: str) -> str:
    return re.sub(r"[^\w.-]+", "_", student).strip("._") or "entrega"


def grade_class(folder: Path, lab: str | None, out_dir: Path, *,
                cell_timeout: float, total_timeout: float, jobs: int = 1, resume: bool = False,
                isolated: bool = False,
                notify: Callable[[int, int, str], None] = lambda i, n, message: None
                ) -> list[Entry]:
    """Grade every submission of ``folder`` into ``out_dir``, ``jobs`` at a time;
    ``notify(i, n, message)`` reports progress (submission ``i`` of ``n``)."""
    if jobs < 1:
        raise GradingError("El número de correcciones en paralelo debe ser 1 o más.")
    pairs = find_submissions(folder)
    (out_dir / REPORTS).mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    entries = [Entry(student, submission, _unique(_safe_name(student), used))
               for student, submission in pairs]
    grader_code = _grader_fingerprint()
    pending = []
    for i, entry in enumerate(entries, start=1):
        entry.fingerprint = _fingerprint(entry.submission, lab, grader_code)
        if resume and _reuse(entry, out_dir):
            notify(i, len(entries), f"{entry.student}: ya corregida ({_describe(entry)})")
        else:
            pending.append((i, entry))
    options = {"lab": lab, "cell_timeout": cell_timeout, "total_timeout": total_timeout}
    if isolated:  # each submission in its own sandbox (grader.isolated)
        options["isolated"] = True
    if jobs == 1:
        for i, entry in pending:
            notify(i, len(entries), f"{entry.student}: empezando")
            _fill(entry, _grade_one(entry.submission, notify=lambda message, i=i, s=entry.student:
                                    notify(i, len(entries), f"{s}: {message}"), **options))
            _finish(entry, out_dir, i, len(entries), notify)
    else:
        # Separate processes: each grading keeps its own run id, kernel and cleanup, and a
        # crash of one (or of its kernel) cannot take the others with it.
        with ProcessPoolExecutor(max_workers=jobs,
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_grade_one, entry.submission, **options): (i, entry)
                       for i, entry in pending}
            for i, entry in pending:
                notify(i, len(entries), f"{entry.student}: en cola")
            for future in as_completed(futures):
                i, entry = futures[future]
                try:
                    outcome = future.result()
                except Exception as exc:  # the worker process itself died
                    outcome = (None, "El proceso que corregía esta entrega terminó de forma "
                               f"inesperada ({exc.__class__.__name__}: {exc}).", 0.0, (0.0, 0.0))
                _fill(entry, outcome)
                _finish(entry, out_dir, i, len(entries), notify)
        for i, entry in to_regrade_alone(pending):
            notify(i, len(entries), f"{entry.student}: se corrigió a la vez que una "
                   "manipulación de los ficheros del curso; se corrige de nuevo sola para "
                   "atribuirla bien")
            _fill(entry, _grade_one(entry.submission, **options))
            _finish(entry, out_dir, i, len(entries), notify)
    write_gradebook(entries, out_dir / GRADEBOOK)
    (out_dir / SUMMARY).write_text(summary_markdown(entries), encoding="utf-8")
    plot_scores(entries, out_dir / HISTOGRAM)
    return entries


def to_regrade_alone(pending: list[tuple[int, Entry]]) -> list[tuple[int, Entry]]:
    """The entries of a parallel run to grade again one at a time: those that saw tampering
    and every one graded at the same time as one of them (it may have been the culprit,
    its evidence restored away by the other)."""
    tampered = [entry.span for _, entry in pending
                if entry.result is not None and entry.result.execution.status == runner.TAMPERED]
    return [(i, entry) for i, entry in pending
            if any(entry.span[0] < end and start < entry.span[1] for start, end in tampered)]


def _grade_one(submission: Path, *, lab: str | None, cell_timeout: float, total_timeout: float,
               notify: Callable[[str], None] = lambda _: None, isolated: bool = False
               ) -> tuple[LabResult | None, str, float, tuple[float, float]]:
    """(result, problem, seconds, (start, end) in epoch seconds) of one submission; never
    raises (a batch goes on)."""
    from grader import isolated as isolated_grading
    from grader import sandbox

    span_start = time.time()
    started = time.perf_counter()
    result, problem = None, ""
    try:
        grade_fn = isolated_grading.grade if isolated else grade
        result = grade_fn(submission, lab, cell_timeout=cell_timeout,
                          total_timeout=total_timeout, notify=notify)
    except (GradingError, sandbox.SandboxUnavailable) as exc:
        problem = str(exc)
    except Exception as exc:  # the grader's own bug: report it, keep the batch going
        where = traceback.extract_tb(exc.__traceback__)[-1]
        problem = (f"El corrector falló con esta entrega ({exc.__class__.__name__}: "
                   f"{exc}; {Path(where.filename).name}:{where.lineno}).")
    return result, problem, time.perf_counter() - started, (span_start, time.time())


def _fill(entry: Entry, outcome: tuple[LabResult | None, str, float, tuple[float, float]]) -> None:
    entry.result, entry.problem, entry.seconds, entry.span = outcome


def _finish(entry: Entry, out_dir: Path, i: int, n: int,
            notify: Callable[[int, int, str], None]) -> None:
    _write_reports(entry, out_dir)
    notify(i, n, f"{entry.student}: {_describe(entry)}")


def _grader_fingerprint() -> str:
    """The course's and grader's own code: a changed grader means grading again."""
    digest = hashlib.sha256()
    for path, content in sorted(integrity.snapshot().items()):
        digest.update(str(path).encode() + b"\0" + content)
    return digest.hexdigest()[:16]


def _fingerprint(submission: Path, lab: str | None, grader_code: str) -> str:
    digest = hashlib.sha256(f"{lab}|{grader_code}".encode())
    files = sorted(p for p in submission.rglob("*") if p.is_file()) if submission.is_dir() \
        else [submission]
    for path in files:
        digest.update(str(path.relative_to(submission.parent)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _reuse(entry: Entry, out_dir: Path) -> bool:
    """Take the result of a previous run of this batch if it graded the same thing."""
    try:
        data = json.loads((out_dir / REPORTS / f"{entry.report_name}.json").read_text("utf-8"))
        if data.get("huella") != entry.fingerprint or "comprobaciones" not in data:
            return False
        entry.result = LabResult.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError):
        return False  # missing or unreadable: grade it again
    entry.seconds, entry.reused = data.get("segundos", 0.0), True
    return True


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 1
    while candidate.lower() in used:  # "Ana" and "ana" are one file on some systems
        n += 1
        candidate = f"{name}-{n}"
    used.add(candidate.lower())
    return candidate


def _describe(entry: Entry) -> str:
    if entry.result is None:
        return "no se pudo corregir"
    return f"{entry.result.score:.0%}"


def _write_reports(entry: Entry, out_dir: Path) -> None:
    markdown = out_dir / REPORTS / f"{entry.report_name}.md"
    as_json = out_dir / REPORTS / f"{entry.report_name}.json"
    if entry.result is not None:
        markdown.write_text(entry.result.to_markdown(), encoding="utf-8")
        (out_dir / REPORTS / f"{entry.report_name}.html").write_text(entry.result.to_html(),
                                                                       encoding="utf-8")
        as_json.write_text(json.dumps({**entry.result.to_dict(), "huella": entry.fingerprint},
                                      ensure_ascii=False, indent=2), encoding="utf-8")
    else:
        markdown.write_text(
            f"# {entry.student}\n\n**No se pudo corregir** `{entry.submission.name}`: "
            f"{entry.problem}\n", encoding="utf-8")
        as_json.write_text(json.dumps(
            {"estudiante": entry.student, "entrega": str(entry.submission),
             "estado": entry.state, "motivo": entry.problem}, ensure_ascii=False, indent=2),
            encoding="utf-8")


def write_gradebook(entries: list[Entry], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=GRADEBOOK_COLUMNS)
        writer.writeheader()
        writer.writerows(entry.row() for entry in entries)


def _scores(entries: list[Entry]) -> Iterator[float]:
    return (e.result.score for e in entries if e.result is not None)


def summary_markdown(entries: list[Entry]) -> str:
    graded = [e for e in entries if e.result is not None]
    scores = sorted(_scores(entries))
    lines = ["# Corrección de la clase", "",
             f"- Entregas: {len(entries)}; corregidas: {len(graded)}; sin corregir: "
             f"{len(entries) - len(graded)}."]
    if scores:
        middle = scores[len(scores) // 2] if len(scores) % 2 else (
            scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2
        lines.append(f"- Puntuación media {sum(scores) / len(scores):.0%}, mediana {middle:.0%}; "
                     f"completas (todo lo verificable correcto): "
                     f"{sum(e.result.success for e in graded)}.")
        unverifiable = {e.result.total_points - e.result.verifiable_points for e in graded}
        if unverifiable != {0}:
            lines.append("- Hay comprobaciones que no se pudieron verificar en esta máquina: la "
                         "puntuación es sobre los puntos verificables (ver cada informe).")
    lines += ["", "| Estudiante | Puntuación | Puntos | Ejecución | Motivo |",
              "|---|---|---|---|---|"]
    for e in entries:
        r = e.result
        if r is None:
            lines.append(f"| {_cell(e.student)} | — | — | — | {_cell(e.problem)} |")
        else:
            reason = "" if r.execution.ok else _cell(r.execution.message.splitlines()[0][:120])
            lines.append(f"| {_cell(e.student)} | {r.score:.0%} | {r.passed_points}/{r.verifiable_points} "
                         f"| {r.execution.status} | {reason} |")
    failing: dict[str, int] = {}
    for e in graded:
        for c in e.result.checks:
            if c.status in ("failed", "error"):
                failing[c.id] = failing.get(c.id, 0) + 1
    if failing:
        lines += ["", "## Comprobaciones que más fallan", "",
                  "| Comprobación | Entregas que no la superan |", "|---|---|"]
        lines += [f"| `{check}` | {n} |" for check, n in
                  sorted(failing.items(), key=lambda item: (-item[1], item[0]))]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text for one Markdown table cell: a file name may hold a newline or a «|»."""
    return " ".join(text.split()).replace("|", "\\|")


def plot_scores(entries: list[Entry], path: Path) -> None:
    """A histogram of the scores (0–100 %, 10 bins), for the instructor's overview."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed: the file is the output
    import matplotlib.pyplot as plt

    scores = [s * 100 for s in _scores(entries)]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(scores, bins=[i * 10 for i in range(11)], color="#2e86ab", edgecolor="white")
    ax.set_xlabel("Puntuación (% de los puntos verificables)")
    ax.set_ylabel("Entregas")
    missing = len(entries) - len(scores)
    ax.set_title(f"{len(scores)} entregas corregidas"
                 + (f", {missing} sin corregir" if missing else ""))
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
