"""Bad submissions are reported as errors of that submission, in Spanish, never as
passed, with every check still reported; the grader never crashes and cleans up."""
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course import docker as cdocker
from course import env
from grader import checks
from grader.grade import grade, load_lab

load_lab("lab01")
N_CHECKS = len(checks.REGISTRY.checks["lab01"])


def notebook(tmp_path, *sources, parameters=True, name="lab01_entrega.ipynb"):
    cells = []
    if parameters:
        cell = new_code_cell("workdir = None\nrun_id = None")
        cell.metadata["tags"] = ["parameters"]
        cells.append(cell)
    cells += [new_code_cell(s) for s in sources]
    path = tmp_path / name
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}), path)
    return path


def assert_reported_not_passed(result, status):
    assert result.execution.status == status, result.execution.message
    assert not result.success
    assert len(result.checks) == N_CHECKS  # the remaining checks were still reported
    assert "passed" not in {c.status for c in result.checks}
    assert "error" not in {c.status for c in result.checks}


def test_invalid_json(tmp_path):
    path = tmp_path / "lab01_roto.ipynb"
    path.write_text('{"cells": [ esto no es JSON')
    result = grade(path)
    assert_reported_not_passed(result, "cuaderno_invalido")
    assert "no se puede leer" in result.execution.message


def test_missing_parameters_cell(tmp_path):
    result = grade(notebook(tmp_path, "print('hola')", parameters=False))
    assert_reported_not_passed(result, "sin_parametros")
    assert "parameters" in result.execution.message


def test_cell_that_never_ends_hits_the_cell_timeout(tmp_path):
    result = grade(notebook(tmp_path, "x = 1", "import time\ntime.sleep(10**6)"), cell_timeout=5)
    assert_reported_not_passed(result, "tiempo_agotado")
    assert result.execution.cell == 3  # code cells counted from the top, parameters included
    assert "celda de código 3" in result.execution.message


def test_whole_lab_timeout(tmp_path):
    result = grade(notebook(tmp_path, "import time\ntime.sleep(10**6)"), cell_timeout=600,
                   total_timeout=15)
    assert_reported_not_passed(result, "tiempo_agotado")
    assert "tiempo total de 15 s" in result.execution.message
    assert result.execution.seconds < 60


def test_kernel_that_dies(tmp_path):
    result = grade(notebook(tmp_path, "print('adiós')", "import os\nos._exit(1)"))
    assert_reported_not_passed(result, "kernel_muerto")
    assert "murió" in result.execution.message


def test_cell_error_names_the_cell(tmp_path):
    result = grade(notebook(tmp_path, "1 / 0"))
    assert_reported_not_passed(result, "error_en_celda")
    assert "celda de código 2" in result.execution.message
    assert "ZeroDivisionError" in result.execution.message


def test_a_cell_raising_its_own_timeout_is_a_cell_error_not_the_time_limit(tmp_path):
    """The status comes from the exception type, not from words in the output."""
    result = grade(notebook(tmp_path, "raise TimeoutError('timed out: CellTimeoutError')"))
    assert_reported_not_passed(result, "error_en_celda")
    assert "TimeoutError: timed out" in result.execution.message
    assert "límite" not in result.execution.message


def test_a_cell_printing_kernel_died_is_not_a_dead_kernel(tmp_path):
    result = grade(notebook(tmp_path, "print('Kernel died DeadKernelError')\n1 / 0"))
    assert_reported_not_passed(result, "error_en_celda")
    assert "ZeroDivisionError" in result.execution.message


def test_statuses_are_an_enum_that_reads_as_its_spanish_value():
    from grader import runner

    assert runner.Status("tiempo_agotado") is runner.TIMEOUT == "tiempo_agotado"
    assert {s.value for s in runner.Status} >= {"ok", "error_en_celda", "kernel_muerto"}


def test_huge_output_does_not_break_the_grader(tmp_path):
    result = grade(notebook(tmp_path, "for i in range(200000):\n    print('x' * 80)"))
    assert result.execution.status == "ok"
    assert not result.success  # nothing was built


def test_leaked_container_is_removed(docker_client, tmp_path):
    from course import images

    base = images.ensure("debian")
    source = (f"import docker\nc = docker.from_env().containers.run({base!r}, 'sleep 600', "
              "detach=True, labels={'tema15.run': run_id})")
    result = grade(notebook(tmp_path, source))
    assert result.execution.status == "ok"
    left = docker_client.containers.list(all=True, ignore_removed=True, filters={
        "label": f"{cdocker.RUN_LABEL}={result.run_id}"})
    assert left == []


def test_detached_process_is_stopped(tmp_path):
    """A process that leaves the kernel's process group (a server started with setsid and
    never stopped) still carries the run id in its environment, and the cleanup stops it."""
    from course import processes

    source = ("import subprocess, sys\n"
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], "
              "start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)")
    result = grade(notebook(tmp_path, source))
    assert result.execution.status == "ok"
    assert processes.leftovers(result.run_id) == []


@pytest.mark.alone
def test_tampering_with_the_grader_is_caught_and_undone(tmp_path):
    """A notebook that rewrites a check (so it always passes) and drops a module into the
    course package: the files come back as they were and the submission scores nothing."""
    from course import REPO_ROOT
    from grader import integrity

    target = REPO_ROOT / "grader" / "labs" / "lab01.py"
    planted = REPO_ROOT / "course" / "manipulado.py"
    before = integrity.snapshot()
    source = (f"from pathlib import Path\n"
              f"p = Path({str(target)!r})\n"
              "p.write_text(p.read_text().replace('assert ', 'assert True or '))\n"
              f"Path({str(planted)!r}).write_text('PWNED = True')\n")
    try:
        result = grade(notebook(tmp_path, source))
        assert result.execution.status == "manipulacion"
        assert "grader/labs/lab01.py" in result.execution.message
        assert "course/manipulado.py" in result.execution.message
        assert result.score == 0 and not result.success
        assert len(result.checks) == N_CHECKS
        assert {c.status for c in result.checks} == {"failed"}
        assert integrity.changes(before) == []  # restored by the grader itself
        assert not planted.exists()
    finally:
        integrity.restore(before)  # never leave the repository altered, whatever happened


def test_cli_reports_bad_input_in_spanish(tmp_path):
    def curso(*args):
        return subprocess.run([sys.executable, "-m", "curso", "corregir", *args],
                              capture_output=True, text=True, timeout=120, check=False)
    missing = curso(str(tmp_path / "no-existe.ipynb"))
    assert missing.returncode == 2 and "No existe la entrega" in missing.stdout
    nameless = tmp_path / "entrega.ipynb"
    nameless.write_text("{}")
    unknown = curso(str(nameless))
    assert unknown.returncode == 2 and "--lab labNN" in unknown.stdout
    bad_lab = curso(str(nameless), "--lab", "lab99")
    assert bad_lab.returncode == 2 and "todavía no tiene corrector" in bad_lab.stdout
    for done in (missing, unknown, bad_lab):
        assert "Traceback" not in done.stdout + done.stderr


def test_cli_writes_json_and_junit(tmp_path):
    path = notebook(tmp_path, "1 / 0")
    done = subprocess.run([sys.executable, "-m", "curso", "corregir", str(path), "--json",
                           str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1
    assert '"estado": "error_en_celda"' in (tmp_path / "r.json").read_text()
    assert 'name="ejecucion"' in (tmp_path / "r.xml").read_text()


def test_without_engine_docker_checks_are_skipped(tmp_path, monkeypatch):
    monkeypatch.setitem(env.overrides, "docker",
                        env.Capability("docker", "Motor Docker", False, "no responde (prueba)"))
    folder = tmp_path / "entrega-lab01"
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM python:3.11.13-slim-bookworm\nUSER 1001\n")
    result = grade(folder, "lab01")
    skipped = [c for c in result.checks if c.status == "skipped"]
    assert {c.id for c in skipped} >= {"imagen.construye", "servicio.sano", "secretos.ninguno"}
    assert all("No verificable en esta máquina: Motor Docker" in c.message for c in skipped)
    assert result.verifiable_points < result.total_points
    assert "No verificables aquí" in result.to_markdown()
    assert not result.success  # the static checks that ran still fail (one stage)


def test_not_verifiable_is_skipped_never_passed():
    from grader.checks import Check, NotVerifiable, run_check

    def needs_execution(ctx):
        raise NotVerifiable("hace falta ejecutar el cuaderno")

    result = run_check(Check("x.y", 2, (), needs_execution, "d"), ctx=None)
    assert result.status == "skipped" and result.earned == 0
    assert "hace falta ejecutar el cuaderno" in result.message
