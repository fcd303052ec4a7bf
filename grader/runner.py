"""Execute a lab notebook with papermill in a fresh work dir, in a child process, with a
per-cell and a whole-lab timeout. Every way a submission can go wrong (invalid JSON, no
``parameters`` cell, a failing cell, a timeout, a dead kernel) becomes an
``ExecutionReport`` with a Spanish message; nothing here raises for a bad submission."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import nbformat
import psutil

from course import processes


class Status(StrEnum):
    """How an execution ended. A ``str``: reports and JSON keep the Spanish values."""
    OK = "ok"
    INVALID = "cuaderno_invalido"
    NO_PARAMETERS = "sin_parametros"
    CELL_ERROR = "error_en_celda"
    TIMEOUT = "tiempo_agotado"
    DEAD_KERNEL = "kernel_muerto"
    NOT_EXECUTED = "no_ejecutado"  # a directory of artifacts is graded as it is
    TAMPERED = "manipulacion"      # it changed the course's own files (grader.integrity)


OK, INVALID, NO_PARAMETERS, CELL_ERROR = Status.OK, Status.INVALID, Status.NO_PARAMETERS, Status.CELL_ERROR
TIMEOUT, DEAD_KERNEL, NOT_EXECUTED, TAMPERED = (Status.TIMEOUT, Status.DEAD_KERNEL,
                                                Status.NOT_EXECUTED, Status.TAMPERED)

OUTPUT_TAIL = 4000  # characters of an error kept for the report


@dataclass
class ExecutionReport:
    status: str
    message: str = ""
    cell: int | None = None        # 1-based index of the failing code cell
    seconds: float = 0.0
    output_notebook: Path | None = None
    # [pid, create_time] of processes the notebook left that may not carry the run id
    # (see grader.papermill_child); the grader stops them with stop_strays().
    strays: list = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return self.status in (OK, NOT_EXECUTED)


def validate(notebook: Path) -> ExecutionReport | None:
    """None when the notebook can be executed, else the report saying why not."""
    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception as exc:  # nbformat raises several types for broken files
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        return ExecutionReport(INVALID, f"El cuaderno no se puede leer (¿JSON roto?): {first}")
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        return ExecutionReport(
            NO_PARAMETERS, "Falta la celda etiquetada «parameters»: el corrector la necesita "
            "para indicar la carpeta de trabajo. Recupérala del laboratorio original.")
    return None


def execute(notebook: Path, workdir: Path, parameters: dict, *, cell_timeout: float,
            total_timeout: float, env: dict | None = None) -> ExecutionReport:
    """Run ``notebook`` with papermill (in a child process group) inside ``workdir``."""
    problem = validate(notebook)
    if problem:
        return problem
    output = workdir / f"ejecutado-{notebook.name}"
    result = workdir / ".resultado-ejecucion.json"
    request = workdir / ".peticion-ejecucion.json"
    request.write_text(json.dumps({
        "input": str(notebook), "output": str(output), "cwd": str(workdir),
        "parameters": parameters, "cell_timeout": int(cell_timeout), "result": str(result)},
        default=str))
    # papermill runs in a child process group: a whole-lab timeout kills it and its kernel.
    cmd = [sys.executable, "-m", "grader.papermill_child", str(request)]
    started = time.perf_counter()
    # Output to a file, and wait for the child rather than for the end of its output: a
    # process the notebook detached keeps the descriptor open long after papermill is done.
    with tempfile.TemporaryFile() as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, start_new_session=True)
        try:
            proc.wait(timeout=total_timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        log = _tail(log_file)
    if timed_out:
        left = _descendants(proc.pid)  # orphans adopted by the child, before it dies
        processes.stop_group(proc, grace=10)
        report = ExecutionReport(TIMEOUT, f"El laboratorio superó el tiempo total de "
                                 f"{total_timeout:.0f} s y se detuvo.")
        report.cell = _last_started_cell(output)
        if report.cell:
            report.message += f" Estaba ejecutando la celda de código {report.cell}."
        report.strays = left
        return _finish(report, started, output)
    if not workdir.is_dir():
        return _finish(ExecutionReport(CELL_ERROR, "El cuaderno borró su propia carpeta de "
                                       "trabajo: no queda nada que corregir."), started, output)
    outcome = _read_outcome(result)
    if proc.returncode == 0 and outcome.get("kind") == "ok":
        report = ExecutionReport(OK, "El cuaderno se ejecutó sin errores.")
    elif proc.returncode < 0:
        # The child itself was killed (the notebook killed its parent or its process
        # group, or the OOM killer chose it): whatever the result file says is not its own.
        report = _killed(-proc.returncode, output)
    else:
        report = _diagnose(outcome, log, output, cell_timeout)
    report.strays = outcome.get("strays", []) if proc.returncode == 0 else []
    return _finish(report, started, output)


def _tail(log_file) -> str:
    """The last OUTPUT_TAIL characters the child wrote (it may have written megabytes)."""
    size = log_file.seek(0, os.SEEK_END)
    log_file.seek(max(0, size - 4 * OUTPUT_TAIL))
    return log_file.read().decode("utf-8", errors="replace")[-OUTPUT_TAIL:]


def _descendants(pid: int) -> list[list[float]]:
    try:
        return [[p.pid, p.create_time()] for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def stop_strays(strays: list, timeout: float = 5) -> int:
    """Stop the processes in ``strays`` that are still the same processes (same start
    time: a pid may have been reused), with their descendants."""
    procs = []
    for pid, created in strays:
        try:
            proc = psutil.Process(int(pid))
            if abs(proc.create_time() - created) < 0.01:
                procs += [proc, *proc.children(recursive=True)]
        except psutil.Error:
            continue
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=timeout)
    return len(procs)


def _killed(signum: int, output: Path) -> ExecutionReport:
    import signal

    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"señal {signum}"
    cell = _last_started_cell(output)
    where = f" en la celda de código {cell}" if cell else ""
    return ExecutionReport(DEAD_KERNEL, f"El proceso que ejecutaba el cuaderno terminó por "
                           f"{name}{where} (¿el cuaderno mató a su proceso padre o a su grupo, o "
                           "se quedó sin memoria?). La ejecución no se completó.", cell)


def _read_outcome(result: Path) -> dict:
    """What the child wrote; {} if it died before writing (killed, out of memory)."""
    try:
        return json.loads(result.read_text())
    except (OSError, ValueError):
        return {}


def _finish(report: ExecutionReport, started: float, output: Path) -> ExecutionReport:
    report.seconds = time.perf_counter() - started
    report.output_notebook = output if output.exists() else None
    return report


def _code_cells(output: Path) -> list:
    try:
        nb = nbformat.read(output, as_version=4)
    except Exception:
        return []
    return [c for c in nb.cells if c.cell_type == "code"
            and "injected-parameters" not in c.get("metadata", {}).get("tags", [])]


def _last_started_cell(output: Path) -> int | None:
    """1-based index of the code cell papermill was running (status 'running')."""
    for i, cell in enumerate(_code_cells(output), 1):
        if cell.get("metadata", {}).get("papermill", {}).get("status") == "running":
            return i
    return None


def _diagnose(outcome: dict, log: str, output: Path, cell_timeout: float) -> ExecutionReport:
    """The report for an execution that did not end well, from the exception type the
    child recorded (never from words in the output, which the notebook controls)."""
    kind = outcome.get("kind")
    cell = _failed_cell(output) or _last_started_cell(output)
    if kind == "dead_kernel":
        where = f" en la celda de código {cell}" if cell else ""
        return ExecutionReport(DEAD_KERNEL, "El kernel de Python murió durante la ejecución "
                               f"(¿os._exit, falta de memoria?){where}.", cell)
    if kind == "cell_timeout":
        return ExecutionReport(TIMEOUT, f"La celda de código {cell} superó el límite de "
                               f"{cell_timeout:.0f} s por celda.", cell)
    if kind == "cell_error":
        error_text = f"{outcome.get('ename')}: {outcome.get('evalue')}"
        hint = (" (todavía tiene un hueco «# TU CÓDIGO AQUÍ» sin resolver)"
                if outcome.get("ename") == "NotImplementedError" else "")
        return ExecutionReport(CELL_ERROR, f"La celda de código {cell} falló{hint}: "
                               f"{error_text.rstrip(': ')}", cell)
    if kind == "other":
        return ExecutionReport(CELL_ERROR, "No se pudo ejecutar el cuaderno: "
                               f"{outcome.get('ename')}: {outcome.get('evalue')}", cell)
    tail = log[-OUTPUT_TAIL:]
    last_line = next((line for line in reversed(tail.splitlines()) if line.strip()), "sin detalle")
    return ExecutionReport(CELL_ERROR, f"La ejecución se interrumpió: {last_line}", cell)


def _failed_cell(output: Path) -> int | None:
    """1-based index of the first code cell with an error output."""
    for i, cell in enumerate(_code_cells(output), 1):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return i
    return None
