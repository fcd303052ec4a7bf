"""Every teaching notebook runs top to bottom with papermill, with the Docker engine and
without it (cells that need it must skip themselves with a reason)."""
import os
import subprocess
import sys
import time

import nbformat
import pytest

from course import REPO_ROOT, cleanup, env, k8s, logstore, promstack
from course import docker as cdocker
from tests.conftest import engine_or_skip

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NO_ENGINE = "unix:///nonexistent/tema15/docker.sock"
CLUSTER_NOTEBOOKS = ("04_", "06_")   # their `%%requires cluster` cells must all run here
# Notebooks whose Docker cells all need pods as well: on a cluster without pods, a run with
# the engine repeats the run without it.
ENGINE_ONLY_WITH_PODS = ("06_",)
# The cluster cells run with the engine; the run without an engine is also the run without
# a cluster (static mode, as on Binder: neither Docker nor Kubernetes), so that mode is
# tested at no extra CI time and the cluster cells do not run twice (04 spent 142 s on
# them without an engine in CI, session 13). Except where the run with the engine is
# skipped (ENGINE_ONLY_WITH_PODS): there the run without it is the one on the cluster.
ROLLOUT_NOTEBOOK = "10_"
PIPELINE_NOTEBOOK = "05_"  # 15.5: its deploy jobs apply to the cluster
METRICS_NOTEBOOK = "08_"   # 15.8: its ServiceMonitor cell applies to the cluster


def execute(notebook, out, *, engine: bool, run_id: str, cluster: bool = True):
    env = {**os.environ, "TEMA15_RUN_ID": run_id, "COLUMNS": "120"}
    if not engine:
        env["DOCKER_HOST"] = NO_ENGINE
    if not cluster:
        env["TEMA15_CLUSTER"] = "ninguno"
    return subprocess.run(
        [sys.executable, "-m", "papermill", str(notebook), str(out), "--cwd",
         str(notebook.parent), "--execution-timeout", "900", "--no-progress-bar"],
        capture_output=True, text=True, env=env, timeout=1800, check=False)


def requires_docker(notebook) -> bool:
    """Whether some cell of the notebook is marked ``%%requires … docker``."""
    for cell in nbformat.read(notebook, as_version=4).cells:
        first = cell.source.split("\n", 1)[0].split() if cell.cell_type == "code" else []
        if first[:1] == ["%%requires"] and "docker" in first:
            return True
    return False


def cluster_cells_not_skipped(executed, reason: str) -> list[str]:
    """The first lines of the executed notebook's ``%%requires … cluster`` cells whose
    output does not say they were skipped for ``reason`` (empty: all of them were)."""
    left = []
    for cell in nbformat.read(executed, as_version=4).cells:
        first = cell.source.split("\n", 1)[0].split() if cell.cell_type == "code" else []
        if first[:1] == ["%%requires"] and "cluster" in first:
            said = "\n".join(o.get("text", "") + "".join(map(str, o.get("data", {}).values()))
                             for o in cell.get("outputs", []))
            if "Celda omitida" not in said or reason not in said:
                left.append(" ".join(first) + " · " + cell.source.split("\n")[1][:60])
    return left


def outputs_text(path) -> str:
    """Every text and rich output of an executed notebook, as one string."""
    parts = []
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.extend(str(value) for value in output.get("data", {}).values())
    return "\n".join(parts)


@pytest.mark.parametrize("engine", [True, False], ids=["con-motor", "sin-motor"])
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(notebook, engine, tmp_path, request):
    if engine:
        engine_or_skip()
    static = not engine and not notebook.stem.startswith(ENGINE_ONLY_WITH_PODS)
    needs_cluster = notebook.stem.startswith(
        (*CLUSTER_NOTEBOOKS, ROLLOUT_NOTEBOOK, PIPELINE_NOTEBOOK, METRICS_NOTEBOOK)) and not static
    if needs_cluster:
        request.getfixturevalue("k8s_cluster")
        if engine and notebook.stem.startswith(ENGINE_ONLY_WITH_PODS) and not k8s.find().pods:
            pytest.skip("con este clúster (sin pods) la ejecución con motor es la misma que sin él: "
                        "sus celdas de Docker también necesitan pods")
    run_id = cdocker.new_run_id()
    out = tmp_path / notebook.name
    started = time.time()
    try:
        done = execute(notebook, out, engine=engine, run_id=run_id, cluster=not static)
    finally:
        cleanup.run(run_id, since=started if engine else None)
    assert done.returncode == 0, f"{notebook.name} falló:\n{done.stderr[-4000:]}"
    text = outputs_text(out)
    if needs_cluster:
        # Every cluster cell ran; only those that need containers in pods may be skipped.
        assert "Clúster Kubernetes:" not in text and "Sin clúster" not in text
        if not k8s.find().pods:
            assert "Pods con contenedores" in text
    if engine and notebook.stem.startswith("05_") and env.has("act") and env.has("gitlabci"):
        # 15.5: both pipelines really ran, and the failing test stopped one.
        assert "act terminó bien" in text and "gitlab-ci-local terminó bien" in text
        assert "act falló" in text and "Etiquetas nuevas en el registro: ninguna" in text
        # The deploy job applied the release to the cluster and its rollout finished.
        assert "Rollout terminado:" in text and "contenedor del servicio redis: ''" in text
        # Services of a job in a container: PostgreSQL and Redis reached by their names.
        assert "postgres: PostgreSQL 15" in text and "redis: +PONG" in text
    if not engine and notebook.stem.startswith("05_") and env.has("act") and env.has("gitlabci"):
        # 15.5 without Docker: the pull/merge request pipelines (lint, tests) still run.
        assert "act terminó bien" in text and "gitlab-ci-local terminó bien" in text
    if engine:
        # With the engine, no cell may have been skipped for the lack of one: the Docker
        # cells really ran (an exit code 0 alone would also hold if they all skipped).
        assert docker_skips(text) == [], docker_skips(text)
    if not engine and requires_docker(notebook):
        assert "Celda omitida" in text and "Motor Docker" in text
        if notebook.stem.startswith("08_") and promstack.binary("prometheus"):
            # Without an engine, 15.8 still runs a real Prometheus: the local binaries.
            assert "procesos locales" in text and "Objetivos de Prometheus" in text
    if notebook.stem.startswith("09_") and not logstore.missing():
        # 15.9's store and shipper are local processes: they run with and without an engine.
        assert "líneas buscables" in text and "con un secreto: 0" in text
    if notebook.stem.startswith(ROLLOUT_NOTEBOOK) and not env.missing("prometheus", "haproxy"):
        # 15.10's canary runs with and without an engine (local processes without one).
        assert "promovido: Todas las métricas" in text and "abortado: «ratio-errores»" in text
    if notebook.stem.startswith(ROLLOUT_NOTEBOOK) and not env.missing("alertmanager", "haproxy"):
        # ...and so does the alert-driven rollback (pending → firing → webhook → rollback).
        assert "el webhook recibe la alerta" in text and "retirada; pesos" in text
        if needs_cluster:
            # On a cluster the webhook really ran `helm rollback` (the cell asserts the image).
            assert "ejecutó helm rollback" in text
    if static:
        # Static mode: every cluster cell said why it was skipped.
        assert cluster_cells_not_skipped(out, "Clúster Kubernetes: modo estático forzado") == []


def docker_skips(text: str) -> list[str]:
    """The skip messages (``show.skipped``) that name the Docker engine as the reason."""
    messages = ["\n".join(part.split("\n")[:2]) for part in text.split("Celda omitida")[1:]]
    return [m for m in messages if "Motor Docker" in m]  # a message wraps to 2 lines at most


def test_docker_skips_are_recognised():
    text = ("⏭ Celda omitida: falta Motor Docker (no responde)\nx\n"
            "⏭ Celda omitida: falta Pods con contenedores\n")
    assert len(docker_skips(text)) == 1 and docker_skips("todo bien") == []


def test_start_notebook_reports_engine_honestly(tmp_path):
    """Without an engine, notebook 00 says so and skips its Docker cells."""
    notebook = REPO_ROOT / "notebooks" / "00_inicio.ipynb"
    out = tmp_path / "00.ipynb"
    done = execute(notebook, out, engine=False, run_id=cdocker.new_run_id())
    assert done.returncode == 0, done.stderr[-3000:]
    text = outputs_text(out)
    assert "no responde" in text
    assert text.count("Celda omitida") >= 3  # the docker, images and cleanup cells
    assert "GET /health/ready -> 200" in text  # the service part needs no engine


@pytest.mark.parametrize("notebook", [n for n in NOTEBOOKS if n.stem.startswith(ENGINE_ONLY_WITH_PODS)],
                         ids=lambda p: p.stem)
def test_cluster_notebook_in_static_mode(notebook, tmp_path):
    """Neither kind nor the local control plane nor Docker: the notebook still runs
    (render, lint, validate) and each skipped cell says why. (The other notebooks' run
    without an engine is already in static mode.)"""
    run_id = cdocker.new_run_id()
    out = tmp_path / notebook.name
    try:
        done = execute(notebook, out, engine=False, run_id=run_id, cluster=False)
    finally:
        cleanup.run(run_id)
    assert done.returncode == 0, f"{notebook.name} falló:\n{done.stderr[-4000:]}"
    text = outputs_text(out)
    assert "Celda omitida" in text and "Clúster Kubernetes" in text
    assert "modo estático forzado" in text
