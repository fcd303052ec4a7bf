"""Grading a whole class with `curso corregir --clase`: every submission gets its row and
its reports, whatever it does; broken ones are reported and the batch goes on.

Lab 07 needs no Docker (the grader runs the student's service with uvicorn), so the class
is graded as on Binder, like in test_grader_lab07."""
import csv
import os
import shutil
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course import REPO_ROOT
from grader import batch

SOLUTION = REPO_ROOT / "solutions" / "lab07_logging.ipynb"
LAB = REPO_ROOT / "labs" / "lab07_logging.ipynb"


pytestmark = pytest.mark.usefixtures("graded_as_on_binder")  # see tests/conftest.py


def write_class(folder):
    folder.mkdir()
    shutil.copy(SOLUTION, folder / "ana.ipynb")
    shutil.copy(LAB, folder / "bruno.ipynb")                       # untouched
    (folder / "carla.ipynb").write_text('{"cells": [ esto no es JSON')
    crash = new_notebook(cells=[new_code_cell("workdir = None\nrun_id = None"),
                                new_code_cell("print('adiós')"), new_code_cell("import os\nos._exit(1)")],
                         metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                  "language": "python"}})
    crash.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(crash, folder / "dario.ipynb")                 # the kernel dies
    (folder / "notas_del_profesor.txt").write_text("no es una entrega")
    (folder / ".ipynb_checkpoints").mkdir()
    return folder


def test_class_is_graded_and_broken_submissions_do_not_stop_it(tmp_path):
    folder = write_class(tmp_path / "clase")
    out = tmp_path / "informes"
    seen = []
    entries = batch.grade_class(folder, "lab07", out, cell_timeout=120, total_timeout=300,
                                notify=lambda i, n, message: seen.append((i, n)))
    assert [e.student for e in entries] == ["ana", "bruno", "carla", "dario"]
    assert seen[-1] == (4, 4)
    by_student = {e.student: e for e in entries}
    assert by_student["ana"].result.score == 1.0 and by_student["ana"].state == "completa"
    assert by_student["bruno"].result.execution.status == "error_en_celda"
    assert by_student["carla"].result.execution.status == "cuaderno_invalido"
    assert by_student["dario"].result.execution.status == "kernel_muerto"
    for name in ("bruno", "carla", "dario"):
        assert by_student[name].state == "con_fallos"
        assert "error" not in by_student[name].result.statuses().values()

    with (out / batch.GRADEBOOK).open(encoding="utf-8") as f:
        rows = {row["estudiante"]: row for row in csv.DictReader(f)}
    assert set(rows) == {"ana", "bruno", "carla", "dario"}
    assert rows["ana"]["puntuacion"] == "1.0000" and rows["ana"]["motivo"] == ""
    assert "TU CÓDIGO AQUÍ" in rows["bruno"]["motivo"]
    assert float(rows["carla"]["puntuacion"]) == 0.0 and rows["carla"]["motivo"]
    summary = (out / batch.SUMMARY).read_text(encoding="utf-8")
    assert "Entregas: 4; corregidas: 4; sin corregir: 0." in summary
    assert "## Comprobaciones que más fallan" in summary
    assert (out / batch.HISTOGRAM).read_bytes().startswith(b"\x89PNG")
    for name in ("ana", "bruno", "carla", "dario"):
        assert (out / batch.REPORTS / f"{name}.md").read_text(encoding="utf-8").startswith(
            "# Corrección de lab07")


def test_a_grader_crash_is_one_row_and_the_batch_goes_on(tmp_path, monkeypatch):
    """If the grader itself fails on one submission (a bug of ours, or an unreadable
    folder), that row says so and the others are still graded."""
    folder = tmp_path / "clase"
    folder.mkdir()
    for name in ("eva", "fede", "Fede"):
        (folder / name).mkdir()
    real_grade = batch.grade

    def grade(submission, lab, **kwargs):
        if submission.name == "fede":
            raise RuntimeError("fallo simulado del corrector")
        return real_grade(submission, lab, **kwargs)

    monkeypatch.setattr(batch, "grade", grade)
    entries = batch.grade_class(folder, "lab07", tmp_path / "out", cell_timeout=60,
                                total_timeout=120)
    crashed = next(e for e in entries if e.student == "fede")
    assert crashed.result is None and crashed.state == "sin_corregir"
    assert "El corrector falló con esta entrega (RuntimeError: fallo simulado" in crashed.problem
    others = [e for e in entries if e.student != "fede"]
    assert all(e.result is not None for e in others)  # empty folders: graded, and failed
    assert all(not e.result.success for e in others)
    # "Fede" and "fede" do not overwrite each other's reports.
    names = sorted(p.name for p in (tmp_path / "out" / batch.REPORTS).glob("*.md"))
    assert len(names) == 3, names
    assert "Entregas: 3; corregidas: 2; sin corregir: 1." in (
        tmp_path / "out" / batch.SUMMARY).read_text(encoding="utf-8")


def test_cli_grades_a_class_in_spanish(tmp_path):
    folder = tmp_path / "clase"
    folder.mkdir()
    shutil.copy(LAB, folder / "bruno.ipynb")
    done = subprocess.run([sys.executable, "-m", "curso", "corregir", str(folder), "--clase",
                           "--lab", "lab07"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/t15.sock",
                               "COLUMNS": "160"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Corrección de la clase (1 entregas)" in done.stdout
    assert (tmp_path / "clase-informes" / batch.GRADEBOOK).exists()
    assert "Traceback" not in done.stdout + done.stderr


def test_cli_rejects_an_empty_class_folder(tmp_path):
    (tmp_path / "vacia").mkdir()
    done = subprocess.run([sys.executable, "-m", "curso", "corregir", str(tmp_path / "vacia"),
                           "--clase", "--lab", "lab07"], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "No hay entregas" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_a_class_graded_in_parallel_is_resumed_without_grading_again(tmp_path):
    folder = tmp_path / "clase"
    folder.mkdir()
    shutil.copy(SOLUTION, folder / "ana.ipynb")
    shutil.copy(LAB, folder / "bruno.ipynb")
    (folder / "carla.ipynb").write_text('{"cells": [ esto no es JSON')
    out = tmp_path / "informes"
    first = batch.grade_class(folder, "lab07", out, cell_timeout=120, total_timeout=300, jobs=2)
    scores = {e.student: e.result.score for e in first}
    assert scores["ana"] == 1.0 and scores["bruno"] < 0.5 and scores["carla"] == 0.0
    assert not any(e.reused for e in first)
    page = (out / batch.REPORTS / "ana.html").read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and '<html lang="es">' in page and "<table>" in page

    (folder / "carla.ipynb").write_bytes(SOLUTION.read_bytes())  # carla hands in again
    seen = []
    again = batch.grade_class(folder, "lab07", out, cell_timeout=120, total_timeout=300, jobs=2,
                              resume=True, notify=lambda i, n, message: seen.append(message))
    by_student = {e.student: e for e in again}
    assert by_student["ana"].reused and by_student["bruno"].reused
    assert not by_student["carla"].reused and by_student["carla"].result.score == 1.0
    assert by_student["bruno"].result.score == scores["bruno"]  # the same grade, from its report
    assert "ana: ya corregida (100%)" in seen
    rows = list(csv.DictReader((out / batch.GRADEBOOK).open(encoding="utf-8")))
    assert {r["estudiante"]: r["puntuacion"] for r in rows}["carla"] == "1.0000"


def test_cli_refuses_class_options_without_a_class(tmp_path):
    done = subprocess.run([sys.executable, "-m", "curso", "corregir", str(SOLUTION), "--paralelo", "2"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "solo tienen sentido con --clase" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_tampering_seen_in_parallel_regrades_every_overlapping_submission(tmp_path):
    """A plants a .pth while B runs: B sees it and restores it, A sees nothing. Both
    overlapped the one that saw tampering, so both are graded again alone; C, graded
    afterwards, is not."""
    from grader import runner
    from grader.report import LabResult

    def entry(name, status, span):
        result = LabResult("lab01", name, runner.ExecutionReport(status, ""))
        return batch.Entry(name, tmp_path / f"{name}.ipynb", name, result=result, span=span)

    planted = entry("ana", runner.OK, (10.0, 20.0))        # the culprit: its evidence was restored
    saw_it = entry("bruno", runner.TAMPERED, (12.0, 18.0))  # innocent, saw ana's .pth
    after = entry("carla", runner.OK, (20.0, 30.0))         # started when ana had finished
    unknown = batch.Entry("dario", tmp_path / "dario.ipynb", "dario")  # no result, no span
    pending = list(enumerate([planted, saw_it, after, unknown], start=1))
    assert [e.student for _, e in batch.to_regrade_alone(pending)] == ["ana", "bruno"]
    assert batch.to_regrade_alone([(1, planted), (3, after)]) == []
