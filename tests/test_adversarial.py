"""The adversarial suite: hostile and careless submissions (tests/adversarial/) graded as
an instructor grades a class, with ``curso corregir --clase --paralelo 2``, and a few
alone with ``grade()``. Each gets a clear Spanish status and no wrong pass; the batch is
not aborted; nothing is left behind (process, temp dir, container, grader file, startup
hook). What the grader cannot contain without ``--aislado`` (a submission runs with the
grader's own permissions and Docker socket) is asserted as ``xfail(strict=True)``: the day
it is contained, the test says so."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psutil
import pytest

from course import docker as cdocker
from course import env, processes
from grader import integrity
from grader.grade import grade
from tests.adversarial import submissions as adv

# Runs notebooks: not in the fast subset. One xdist worker for the whole module, so that
# the class is graded once (the fixtures are per module, and so per worker).
# Two of them tamper with the grader and site-packages on purpose: "alone" (after the
# parallel suite, see conftest) so that no other grading is running meanwhile.
pytestmark = [pytest.mark.slow, pytest.mark.alone, pytest.mark.xdist_group("adversaria")]
CELL_TIMEOUT, TOTAL_TIMEOUT = 10, 60
ISOLATION = ("sin --aislado la entrega corre con los permisos del corrector y su socket de "
             "Docker: no hay carpeta ni motor propios que la contengan")

# What each status message must say (besides being one of the expected statuses).
SAYS = {
    "lab01_bucle_infinito.ipynb": "límite de 10 s por celda",
    "lab01_memoria.ipynb": "MemoryError",
    "lab01_oom.ipynb": "El kernel de Python murió",
    "lab01_os_exit.ipynb": "El kernel de Python murió",
    "lab01_mata_al_padre.ipynb": "terminó por SIGKILL",
    "lab01_falsifica_y_mata.ipynb": "terminó por SIGKILL",
    "lab01_mata_el_grupo.ipynb": "murió",
    "lab01_edita_corrector.ipynb": "grader/labs/lab01.py",
    "lab01_pth.ipynb": "zz_tema15_entrega.pth",
    "lab01_falsifica.ipynb": "ZeroDivisionError",
    "lab01_borra_su_carpeta.ipynb": "borró su propia carpeta de trabajo",
    "lab01_red.ipynb": "ConnectionError",
    "lab01_roto.ipynb": "no se puede leer",
}


def _marked(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if marker in (proc.info["cmdline"] or []) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _kill(procs: list[psutil.Process]) -> None:
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """The class folder with every submission; a container of another run if the engine
    is here; afterwards, a safety net that removes what a failing grader would leak."""
    root = tmp_path_factory.mktemp("adversaria")
    marker = f"tema15-adversaria-{uuid.uuid4().hex[:10]}"
    foreign, container = "", None
    if env.has("docker"):
        from course import images

        other_run = cdocker.new_run_id()
        foreign = cdocker.name("ajeno", run=other_run)
        container = cdocker.client().containers.run(
            images.ensure("debian"), "sleep 600", name=foreign, detach=True,
            labels=cdocker.labels(other_run))
    s = adv.Setting(marker, root / "fuera", foreign)
    s.outside.mkdir()
    folder = root / "clase"
    folder.mkdir()
    for submission in adv.SUBMISSIONS + ([adv.DOCKER_ONLY] if foreign else []):
        adv.write(submission, folder, s)
    before = integrity.snapshot()
    yield s, folder, root
    _kill(_marked(marker))
    integrity.restore(before)
    if container is not None:
        try:
            container.remove(force=True)
        except Exception:  # already removed by the submission: that is what it does
            pass


@pytest.fixture(scope="module")
def graded(setting):
    """The whole class through the CLI, two at a time: {file name: (csv row, json report)}."""
    s, folder, root = setting
    out = root / "salida"
    done = subprocess.run(
        [sys.executable, "-m", "curso", "corregir", str(folder), "--clase", "--lab", "lab01",
         "--paralelo", "2", "--timeout-celda", str(CELL_TIMEOUT), "--timeout-total",
         str(TOTAL_TIMEOUT), "--salida", str(out)],
        capture_output=True, text=True, timeout=600, check=False)
    with (out / "notas.csv").open(encoding="utf-8") as f:
        rows = {row["entrega"]: row for row in csv.DictReader(f)}
    reports = {}
    for path in (out / "entregas").glob("*.json"):
        data = json.loads(path.read_text("utf-8"))
        reports[Path(data["entrega"]).name] = data
    return done, rows, reports, out


def _names(setting) -> list[str]:
    return [p.name for p in setting[1].iterdir()]


def test_the_batch_is_not_aborted(setting, graded):
    done, rows, reports, out = graded
    assert done.returncode in (0, 1), done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr
    names = _names(setting)
    assert len(names) >= 15
    assert sorted(rows) == sorted(names) == sorted(reports)
    summary = (out / "resumen.md").read_text("utf-8")
    table = [line for line in summary.splitlines() if line.startswith("| ") and "%" in line]
    assert len(table) == len(names), "una fila de la tabla del resumen por entrega"


@pytest.mark.parametrize("submission", adv.SUBMISSIONS + [adv.DOCKER_ONLY],
                         ids=lambda s: s.what)
def test_each_submission_gets_a_clear_status_and_no_pass(setting, graded, submission):
    if submission is adv.DOCKER_ONLY and not setting[0].foreign_container:
        pytest.skip("Sin motor Docker no hay contenedor ajeno que borrar.")
    _, rows, reports, _ = graded
    report, row = reports[submission.name], rows[submission.name]
    run = report["ejecucion"]
    assert run["estado"] in submission.statuses, f"{submission.what}: {run}"
    assert row["ejecucion"] == run["estado"] and row["estado"] == "con_fallos"
    assert report["puntuacion"] == 0, f"{submission.what}: {report['puntuacion']}"
    assert "passed" not in {c["estado"] for c in report["comprobaciones"]}
    assert "error" not in {c["estado"] for c in report["comprobaciones"]}, (
        "el corrector no debe romperse en ninguna comprobación")
    assert run["mensaje"] and "Traceback" not in run["mensaje"]
    if submission.name in SAYS:
        assert SAYS[submission.name] in run["mensaje"], run["mensaje"]
    if run["estado"] != "ok":
        assert run["mensaje"] in row["motivo"]


def test_nothing_is_left_behind(setting, graded):
    s, _, _ = setting
    _, _, reports, _ = graded
    run_ids = [r["ejecucion_id"] for r in reports.values()]
    assert len(set(run_ids)) == len(run_ids)
    assert _marked(s.marker) == [], "procesos de las entregas siguen vivos"
    assert [r for r in run_ids if processes.leftovers(r)] == []
    temp = Path(tempfile.gettempdir())
    assert [p.name for r in run_ids for p in temp.glob(f"{r}-*")] == []
    assert not list(Path(integrity.site.getsitepackages()[0]).glob("zz_tema15_*.pth"))
    if env.has("docker"):
        client = cdocker.client()
        for r in run_ids:
            selector = {"label": f"{cdocker.RUN_LABEL}={r}"}
            assert client.containers.list(all=True, filters=selector) == []
            assert client.networks.list(filters=selector) == []
            assert client.volumes.list(filters=selector) == []


@pytest.mark.xfail(strict=True, reason="Escribir fuera de la carpeta de trabajo: " + ISOLATION)
def test_writing_outside_the_workdir_is_contained(setting, graded):
    assert not (setting[0].outside / "escrito-por-la-entrega.txt").exists()


@pytest.mark.xfail(strict=True, reason="Borrar contenedores de otra ejecución: " + ISOLATION)
def test_containers_of_other_runs_survive(setting, graded):
    if not setting[0].foreign_container:
        pytest.skip("Sin motor Docker no hay contenedor ajeno.")
    left = cdocker.client().containers.list(all=True, filters={"name": setting[0].foreign_container})
    assert left, "la entrega borró el contenedor de otra ejecución"


@pytest.mark.parametrize("name", ["lab01_proceso_fugado.ipynb"])
def test_alone_a_detached_process_without_the_run_id_is_stopped(setting, name, tmp_path):
    """The same submissions graded alone (``curso corregir`` of one notebook)."""
    s, folder, _ = setting
    result = grade(folder / name, cell_timeout=CELL_TIMEOUT, total_timeout=TOTAL_TIMEOUT)
    assert result.score == 0 and not result.success
    assert _marked(s.marker) == []
    assert processes.leftovers(result.run_id) == []
