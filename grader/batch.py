"""Grade a whole class: every submission in a folder, one after another, each with the
same core as a single grading (a fresh work dir and run id, cleanup in a ``finally``).

A submission that cannot be graded at all, or that makes the grader itself fail, gets
a row that says why, and the batch goes on. The output folder receives the gradebook
(``notas.csv``), a summary (``resumen.md``), a histogram of the scores (``notas.png``)
and, under ``entregas/``, one Markdown and one JSON report per student."""
from __future__ import annotations

import csv
import json
import re
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

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
                cell_timeout: float, total_timeout: float,
                notify: Callable[[int, int, str], None] = lambda i, n, message: None
                ) -> list[Entry]:
    """Grade every submission of ``folder`` into ``out_dir``; ``notify(i, n, message)``
    reports progress (submission ``i`` of ``n``)."""
    pairs = find_submissions(folder)
    (out_dir / REPORTS).mkdir(parents=True, exist_ok=True)
    entries = []
    used: set[str] = set()
    for i, (student, submission) in enumerate(pairs, start=1):
        entry = Entry(student, submission, _unique(_safe_name(student), used))
        started = time.perf_counter()
        notify(i, len(pairs), f"{student}: empezando")
        try:
            entry.result = grade(submission, lab, cell_timeout=cell_timeout,
                                 total_timeout=total_timeout,
                                 notify=lambda message, s=student: notify(i, len(pairs),
                                                                          f"{s}: {message}"))
        except GradingError as exc:
            entry.problem = str(exc)
        except Exception as exc:  # the grader's own bug: report it, keep the batch going
            where = traceback.extract_tb(exc.__traceback__)[-1]
            entry.problem = (f"El corrector falló con esta entrega ({exc.__class__.__name__}: "
                             f"{exc}; {Path(where.filename).name}:{where.lineno}).")
        entry.seconds = time.perf_counter() - started
        _write_reports(entry, out_dir)
        entries.append(entry)
        notify(i, len(pairs), f"{student}: {_describe(entry)}")
    write_gradebook(entries, out_dir / GRADEBOOK)
    (out_dir / SUMMARY).write_text(summary_markdown(entries), encoding="utf-8")
    plot_scores(entries, out_dir / HISTOGRAM)
    return entries


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
        as_json.write_text(entry.result.to_json(), encoding="utf-8")
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
            lines.append(f"| {e.student} | — | — | — | {e.problem} |")
        else:
            reason = "" if r.execution.ok else r.execution.message.splitlines()[0][:120]
            lines.append(f"| {e.student} | {r.score:.0%} | {r.passed_points}/{r.verifiable_points} "
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
