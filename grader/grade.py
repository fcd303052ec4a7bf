"""Grade one submission: prepare a fresh work dir, execute (notebooks) or take as is
(directories), run the lab's checks, and clean up everything of the run, always."""
from __future__ import annotations

import contextlib
import importlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import nbformat

from course import cleanup, processes
from course import docker as cdocker
from course import lab as course_lab
from grader import checks, integrity, runner
from grader.context import GradingContext
from grader.errors import GradingError
from grader.labs import _cluster
from grader.report import LabResult

LAB_RE = re.compile(r"lab(\d{2})")
CELL_TIMEOUT = 600
TOTAL_TIMEOUT = 1800
# The run id a grading takes instead of a new one: set by ``curso corregir --aislado`` for
# its inner grader, whose namespaces the host has prepared under that id.
RUN_ID_ENV = "TEMA15_ID_CORRECCION"


def infer_lab(submission: Path) -> str:
    """The lab id from notebook metadata (``tema15.lab``) or from a ``labNN`` name."""
    if submission.is_file():
        try:
            lab = nbformat.read(submission, as_version=4).metadata.get("tema15", {}).get("lab")
            if lab:
                return lab
        except Exception:
            pass  # unreadable notebooks are reported by the runner; fall back to the name
    match = LAB_RE.search(submission.name) or LAB_RE.search(str(submission.resolve()))
    if not match:
        raise GradingError(f"No sé qué laboratorio es «{submission}»: indícalo con --lab labNN.")
    return f"lab{match[1]}"


def load_lab(lab: str):
    if not re.fullmatch(r"lab\d{2}", lab):
        raise GradingError(f"Nombre de laboratorio no válido: «{lab}» (se espera labNN).")
    try:
        return importlib.import_module(f"grader.labs.{lab}")
    except ModuleNotFoundError:
        raise GradingError(f"El laboratorio {lab} todavía no tiene corrector.") from None


def grade(submission: Path, lab: str | None = None, *, cell_timeout: float = CELL_TIMEOUT,
          total_timeout: float = TOTAL_TIMEOUT, keep_workdir: bool = False,
          notify: Callable[[str], None] = lambda _: None,
          only: Sequence[str] | None = None) -> LabResult:
    """Grade ``submission``; ``notify`` receives short Spanish progress messages;
    ``only``: just these check ids, in that order."""
    submission = Path(submission)
    if not submission.exists():
        raise GradingError(f"No existe la entrega «{submission}».")
    lab = lab or infer_lab(submission)
    module = load_lab(lab)
    try:
        checks.select(lab, only)  # an unknown id is refused before anything runs
    except ValueError as exc:
        raise GradingError(str(exc)) from None
    started = time.perf_counter()
    started_at = time.time()
    run_id = os.environ.get(RUN_ID_ENV) or cdocker.new_run_id()
    workdir = Path(tempfile.mkdtemp(prefix=f"{run_id}-"))
    strays: list = []  # processes the notebook detached and stripped of the run id
    try:
        course_lab.prepare(workdir, lab)
        # Optional lab hook: start what the lab needs (e.g. a registry) and return extra
        # notebook parameters; whatever it starts must carry the run label.
        extra = module.before_execution(workdir, run_id) if hasattr(module, "before_execution") else {}
        if submission.is_dir():
            terms = course_lab.contract(lab)
            _overlay(submission, workdir / terms.submission_root, keep_git=terms.keep_git)
            execution = runner.ExecutionReport(runner.NOT_EXECUTED, "Entrega de ficheros: se "
                                               "corrige tal cual, sin ejecutar nada.")
        else:
            notebook = workdir / submission.name
            shutil.copy(submission, notebook)
            notify("Ejecutando el cuaderno en una carpeta de trabajo limpia…")
            before = integrity.snapshot()
            # Optional lab hook: a context manager that observes the execution (e.g. the
            # engine's events); what it yields reaches the checks as parameters["seen"].
            watch = (module.while_executing(workdir, run_id)
                     if hasattr(module, "while_executing") else contextlib.nullcontext())
            with watch as seen:
                execution = runner.execute(
                    notebook, workdir, {"workdir": str(workdir), "run_id": run_id, **extra},
                    cell_timeout=cell_timeout, total_timeout=total_timeout,
                    # Every process the notebook starts inherits the run id in its environment,
                    # so the cleanup below finds even one that left the kernel's process group.
                    env={"TEMA15_RUN_ID": run_id, processes.RUN_ENV: run_id})
            if seen is not None:
                extra = {**extra, "seen": seen}
            strays = execution.strays
            tampered = integrity.changes(before)
            if tampered:
                integrity.restore(before)  # so that later gradings use the real grader
                return _tampering(lab, submission, run_id, tampered, execution,
                                  time.perf_counter() - started)
        ctx = GradingContext(lab, workdir, run_id, execution, parameters=extra)
        results = checks.run_all(lab, ctx, notify, only=only)
        return LabResult(lab, str(submission), execution, results, run_id,
                         time.perf_counter() - started)
    finally:
        notify("Limpiando lo que creó la entrega…")
        # Local servers (even if the kernel crashed), namespaces, Docker objects.
        runner.stop_strays(strays)
        cleanup.run(run_id, since=started_at)
        _cluster.delete_created_cluster(run_id)
        if not keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def _tampering(lab: str, submission: Path, run_id: str, paths: list[str],
               execution: runner.ExecutionReport, seconds: float) -> LabResult:
    """A submission that rewrote the course's files scores nothing; every check says why."""
    shown = ", ".join(paths[:5]) + (f" y {len(paths) - 5} más" if len(paths) > 5 else "")
    message = (f"La entrega modificó ficheros del curso o del corrector ({shown}). Se han "
               "restaurado y la entrega no se corrige: un cuaderno solo debe escribir en su "
               "carpeta de trabajo.")
    report = runner.ExecutionReport(runner.TAMPERED, message, execution.cell, execution.seconds)
    failed = [checks.CheckResult(c.id, checks.FAILED, c.points, c.description, message)
              for c in checks.REGISTRY.checks.get(lab, [])]
    return LabResult(lab, str(submission), report, failed, run_id, seconds)


def _overlay(submitted: Path, target: Path, keep_git: bool = False) -> None:
    """A student repository over the work dir: its folder named like the target (e.g.
    ``service/``) if it has one, else the whole folder (``submission_root`` of the lab's
    contract). Git metadata is dropped unless the lab grades a repository's history
    (``keep_git``)."""
    source = submitted / target.name if (submitted / target.name).is_dir() else submitted
    skipped = course_lab.JUNK if keep_git else (".git", *course_lab.JUNK)
    shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*skipped))
