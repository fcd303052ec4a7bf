"""Execute a lab notebook with papermill in a fresh work dir, in a child process, with a
per-cell and a whole-lab timeout. Every way a submission can go wrong (invalid JSON, no
``parameters`` cell, a failing cell, a timeout, a dead kernel) becomes an
``ExecutionReport`` with a Spanish message; nothing here raises for a bad submission."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

OK = "ok"
INVALID = "cuaderno_invalido"
NO_PARAMETERS = "sin_parametros"
CELL_ERROR = "error_en_celda"
TIMEOUT = "tiempo_agotado"
DEAD_KERNEL = "kernel_muerto"
NOT_EXECUTED = "no_ejecutado"  # a directory of artifacts is graded as it is
TAMPERED = "manipulacion"      # it changed the course's own files (grader.integrity)

OUTPUT_TAIL = 4000  # characters of an error kept for the report


@dataclass
class ExecutionReport:
    status: str
    message: str = ""
    cell: int | None = None        # 1-based index of the failing code cell
    seconds: float = 0.0
    output_notebook: Path | None = None

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
    cmd = [sys.executable, "-m", "papermill", str(notebook), str(output), "--cwd", str(workdir),
           "-y", yaml.safe_dump(parameters), "--execution-timeout", str(int(cell_timeout)),
           "--no-progress-bar", "--kernel", "python3"]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=total_timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        report = ExecutionReport(TIMEOUT, f"El laboratorio superó el tiempo total de "
                                 f"{total_timeout:.0f} s y se detuvo.")
        report.cell = _last_started_cell(output)
        if report.cell:
            report.message += f" Estaba ejecutando la celda de código {report.cell}."
        return _finish(report, started, output)
    if proc.returncode == 0:
        return _finish(ExecutionReport(OK, "El cuaderno se ejecutó sin errores."), started, output)
    return _finish(_diagnose(log, output, cell_timeout), started, output)


def _finish(report: ExecutionReport, started: float, output: Path) -> ExecutionReport:
    report.seconds = time.perf_counter() - started
    report.output_notebook = output if output.exists() else None
    return report


def _kill_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=10)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


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


def _diagnose(log: str, output: Path, cell_timeout: float) -> ExecutionReport:
    tail = log[-OUTPUT_TAIL:]
    cell = None
    error_text = ""
    for i, c in enumerate(_code_cells(output), 1):
        errors = [o for o in c.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            cell = i
            error_text = f"{errors[0].get('ename')}: {errors[0].get('evalue')}"
            break
    if cell is None:
        cell = _last_started_cell(output)
    if "DeadKernelError" in log or "Kernel died" in log or "kernel died" in log.lower():
        return ExecutionReport(DEAD_KERNEL, "El kernel de Python murió durante la ejecución "
                               f"(¿os._exit, falta de memoria?) en la celda de código {cell}.", cell)
    if "CellTimeoutError" in log or "timed out" in log.lower():
        return ExecutionReport(TIMEOUT, f"La celda de código {cell} superó el límite de "
                               f"{cell_timeout:.0f} s por celda.", cell)
    if cell is not None and error_text:
        hint = (" (todavía tiene un hueco «# TU CÓDIGO AQUÍ» sin resolver)"
                if error_text.startswith("NotImplementedError") else "")
        return ExecutionReport(CELL_ERROR, f"La celda de código {cell} falló{hint}: "
                               f"{error_text.rstrip(': ')}", cell)
    last_line = next((l for l in reversed(tail.splitlines()) if l.strip()), "sin detalle")
    return ExecutionReport(CELL_ERROR, f"La ejecución falló: {last_line}", cell)
