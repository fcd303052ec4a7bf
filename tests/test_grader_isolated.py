"""`curso corregir --aislado`: each submission graded inside its own container with its own
Docker daemon (grader.sandbox, grader.isolated). Where this machine cannot start such a
container the tests are skipped with the reason, never passed.

Limits are tested with small, bounded values (a few hundred MB, a hundred pids, seconds of
wall clock) so that a runaway submission never disturbs the shared machine."""
from __future__ import annotations

import glob
import os
import subprocess
import tempfile
import time

import nbformat
import pytest

from course import REPO_ROOT, buildkit, images
from course import docker as cdocker
from grader import isolated, offline_index, sandbox, sandbox_seed
from grader.grade import grade
from tests.test_grader_lab01 import DOCKERFILE, submit_dir

LAB07_SOLUTION = REPO_ROOT / "solutions" / "lab07_logging.ipynb"
PYTHON = images.CATALOG["python-slim"].reference
MISSING_PACKAGE = "paquete-que-no-existe-tema15"
# Every pip layout of the official images' documentation, each on the sandbox's index.
LAYOUTS = f"""\
FROM {PYTHON} AS prefijo
RUN pip install --no-cache-dir --prefix=/install annotated-types
FROM {PYTHON}
COPY --from=prefijo /install /usr/local
COPY requirements.txt /tmp/requirements.txt
RUN python -m pip install --no-cache-dir idna \\
 && pip install --user --no-cache-dir h11 \\
 && python -m venv /opt/venv \\
 && /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt
RUN python -c "import annotated_types, idna, h11" && /opt/venv/bin/python -c "import fastapi, uvicorn"
"""


@pytest.fixture(scope="module")
def sandbox_ready(docker_client):
    """The sandbox image exists and one sandbox starts here; else skip with the reason."""
    try:
        sandbox.ensure_image()
        box = sandbox.start(cdocker.new_run_id(), limits=sandbox.Limits(wall_clock_s=30))
    except sandbox.SandboxUnavailable as exc:
        if os.environ.get("TEMA15_REQUIERE_AISLADO"):  # CI: a missing sandbox is a failure
            pytest.fail(f"Sin aislamiento en esta máquina: {exc}")
        pytest.skip(f"Sin aislamiento en esta máquina: {exc}")
    sandbox.stop(box)


@pytest.fixture
def small_box(sandbox_ready):
    """A sandbox with tight limits, always removed."""
    box = sandbox.start(cdocker.new_run_id(), limits=sandbox.Limits(
        cpus=0.5, memory_mb=256, pids=100, tmp_mb=64, wall_clock_s=20))
    try:
        yield box
    finally:
        sandbox.stop(box)
        assert not cdocker.client().containers.list(
            all=True, filters={"label": f"{cdocker.RUN_LABEL}={box.run_id}"})
        assert not box.private_dir.exists()


def with_cell(tmp_path, source: str, name: str = "lab07_entrega.ipynb"):
    """The lab 07 solution with ``source`` as an extra cell right after its parameters."""
    nb = nbformat.read(LAB07_SOLUTION, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(source))
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def test_inner_daemon_has_no_route_out_and_own_engine(small_box):
    info = small_box.client().info()
    assert info["Name"] != cdocker.client().info()["Name"]  # another daemon, not the host's
    done = sandbox.execute(small_box, ["sh", "-c", "cat /proc/net/route | tail -n +2"], env={})
    assert done.returncode == 0
    assert not any(line.split()[1] == "00000000" for line in done.output.splitlines()
                   if len(line.split()) > 1), f"hay una ruta por defecto:\n{done.output}"


def test_memory_hog_is_killed_by_the_memory_limit(small_box):
    # `tail` keeps the current line in memory, and /dev/zero has no newline: it grows
    # until the memory cgroup (256 MB) kills it.
    done = sandbox.execute(small_box, ["tail", "/dev/zero"], env={})
    assert done.returncode == 137, done.output  # SIGKILL from the memory cgroup
    assert sandbox.status(small_box).get("Running"), "el límite mató el contenedor entero"


def test_fork_bomb_is_stopped_by_the_pids_limit(small_box):
    # dash: tiny processes; the pids limit (100) refuses forks long before memory runs out.
    bomb = "f() { f | f & }; f; sleep 3"
    started = time.perf_counter()
    done = sandbox.execute(small_box, ["sh", "-c", bomb], env={})
    assert time.perf_counter() - started < 100  # not a timing target: it did end
    assert "Cannot fork" in done.output, done.output[-500:]
    limit = sandbox.execute(small_box, ["cat", "/sys/fs/cgroup/pids/pids.max"], env={})
    assert limit.output.strip() == "100" or limit.returncode is None, limit.output


def test_wall_clock_limit_kills_the_whole_sandbox(small_box):
    started = time.perf_counter()
    done = sandbox.execute(small_box, ["sleep", "120"], env={})
    assert done.returncode is None
    assert time.perf_counter() - started < 100  # the sleep 120 was not waited for


def test_lab07_solution_scores_the_same_isolated(sandbox_ready, graded_as_on_binder):
    plain = grade(LAB07_SOLUTION, "lab07")
    contained = isolated.grade(LAB07_SOLUTION, "lab07")
    assert contained.execution.status == "ok", contained.execution.message
    assert contained.statuses() == plain.statuses()
    assert contained.score == plain.score == 1.0


def test_submission_deleting_every_container_does_not_touch_the_host(
        sandbox_ready, run_id, tmp_path):
    victim = cdocker.client().containers.run(
        "debian:12.12-slim", ["sleep", "600"], detach=True,
        name=cdocker.name("victima", run_id), labels=cdocker.labels(run_id))
    wrecker = with_cell(tmp_path, (
        "import docker, os, signal\n"
        "c = docker.from_env()\n"
        "for x in c.containers.list(all=True):\n"
        "    x.remove(force=True)\n"
        "# también intenta matar procesos ajenos\n"
        "for pid in os.listdir('/proc'):\n"
        "    if pid.isdigit() and int(pid) not in (1, os.getpid(), os.getppid()):\n"
        "        try:\n"
        "            os.kill(int(pid), signal.SIGSTOP)\n"
        "            os.kill(int(pid), signal.SIGCONT)\n"
        "        except OSError:\n"
        "            pass\n"
        "print('contenedores visibles:', len(c.containers.list(all=True)))\n"))
    result = isolated.grade(wrecker, "lab07")
    victim.reload()
    assert victim.status == "running"
    assert result.execution.status == "ok", result.execution.message


def test_untouched_host_socket_is_not_reachable(sandbox_ready, tmp_path):
    prober = with_cell(tmp_path, (
        "import os\n"
        "assert not os.path.exists('/var/run/docker.sock'), 'el socket del anfitrión se ve'\n"))
    result = isolated.grade(prober, "lab07")
    assert result.execution.status == "ok", result.execution.message


def test_unavailable_sandbox_is_reported_not_passed(monkeypatch, tmp_path):
    def refuse(*_args, **_kwargs):
        raise sandbox.SandboxUnavailable("prueba: sin permisos para Docker dentro de Docker")

    monkeypatch.setattr(sandbox, "start", refuse)
    monkeypatch.setattr(sandbox_seed, "seed", lambda *_a: None)  # the refusal is what is tested
    with pytest.raises(sandbox.SandboxUnavailable, match="Docker dentro de Docker"):
        isolated.grade(LAB07_SOLUTION, "lab07")


def test_no_engine_means_no_sandbox_in_spanish(monkeypatch):
    """Without an engine the disk seed cannot be made: the sandbox is unavailable, saying
    why, instead of a raw Docker error (the fast subset runs with no engine)."""
    def no_engine(*_args, **_kwargs):
        raise cdocker.EngineUnavailable("No hay un motor Docker disponible: prueba.")

    monkeypatch.setattr(sandbox_seed, "seed", no_engine)
    with pytest.raises(sandbox.SandboxUnavailable, match="No hay un motor Docker"):
        isolated.grade(LAB07_SOLUTION, "lab07")


def test_cli_explains_aislado_in_spanish(capsys):
    from curso.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["corregir", "--ayuda"])
    text = capsys.readouterr().out
    assert "--aislado" in text and "máquina virtual desechable" in text


# --- no network: the local package index ------------------------------------------------

def inner_docker(box: sandbox.Sandbox, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The docker CLI of the host against the sandbox's own daemon."""
    return subprocess.run(["docker", *argv], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "DOCKER_HOST": box.docker_host}, check=False)


@pytest.fixture(scope="module")
def index_box(sandbox_ready):
    """A sandbox with the python-slim image and the local index, as lab 01 gets it."""
    images.ensure("python-slim")
    box = isolated.start(cdocker.new_run_id(), ("python-slim",),
                         limits=sandbox.Limits(wall_clock_s=600, disk_gb=4))
    try:
        yield box
    finally:
        sandbox.stop(box)


def test_inner_container_reaches_the_local_index_and_nothing_else(index_box):
    probe = inner_docker(index_box, "run", "--rm", PYTHON, "python", "-c", (
        "import socket\n"
        "for address in [('1.1.1.1', 443), ('8.8.8.8', 53)]:\n"
        "    try:\n"
        "        socket.create_connection(address, timeout=5)\n"
        "        print('ALCANZADO', address)\n"
        "    except OSError as exc:\n"
        "        print('sin red:', exc)\n"))
    assert probe.returncode == 0, probe.stderr
    assert "ALCANZADO" not in probe.stdout and probe.stdout.count("sin red") == 2, probe.stdout
    config = inner_docker(index_box, "run", "--rm", PYTHON, "pip", "config", "list")
    assert f"http://{sandbox.INNER_GATEWAY}:{offline_index.PORT}/simple/" in config.stdout, config
    download = inner_docker(index_box, "run", "--rm", PYTHON, "pip", "download", "--no-deps",
                            "--dest", "/tmp/w", "fastapi==0.165.0")
    assert download.returncode == 0 and "fastapi-0.165.0" in download.stdout, download.stderr


def test_package_missing_from_the_index_fails_at_once_in_spanish(index_box):
    done = inner_docker(index_box, "run", "--rm", PYTHON, "pip", "install", MISSING_PACKAGE)
    assert done.returncode != 0
    assert offline_index.message(done.stdout + done.stderr) == (
        f"la corrección aislada no tiene red: el paquete {MISSING_PACKAGE} no está en el índice "
        "local del curso")
    # an explicit public index is unreachable, and said so
    public = inner_docker(index_box, "run", "--rm", PYTHON, "pip", "install", "--index-url",
                          "https://pypi.org/simple", "idna")
    assert public.returncode != 0
    assert "índice externo" in (offline_index.message(public.stdout + public.stderr) or ""), public


@pytest.mark.parametrize("builder", ["buildkit", "clasico"])
def test_official_pip_layouts_build_with_no_network(index_box, builder, tmp_path):
    (tmp_path / "Dockerfile").write_text(LAYOUTS)
    (tmp_path / "requirements.txt").write_text(
        (REPO_ROOT / "service" / "requirements.txt").read_text())
    tag = f"{index_box.run_id}-capas:{builder}"
    if builder == "buildkit":
        if not buildkit.available():
            pytest.skip("sin BuildKit (plugin docker buildx) en esta máquina")
        done = inner_docker(index_box, "buildx", "build", "--load", "--progress=plain",
                            "--tag", tag, str(tmp_path))
    else:
        done = subprocess.run(["docker", "build", "--tag", tag, str(tmp_path)], capture_output=True,
                              text=True, timeout=300, check=False,
                              env={**os.environ, "DOCKER_HOST": index_box.docker_host,
                                   "DOCKER_BUILDKIT": "0"})
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


def test_lab01_solution_scores_the_same_isolated_with_no_network(sandbox_ready):
    images.ensure("python-slim")
    solution = REPO_ROOT / "solutions" / "lab01_dockerfile.ipynb"
    plain = grade(solution, "lab01")
    contained = isolated.grade(solution, "lab01")
    assert contained.execution.status == "ok", contained.execution.message
    assert contained.statuses() == plain.statuses(), contained.to_markdown()
    assert contained.score == plain.score == 1.0


def test_lab01_package_outside_the_index_is_explained_in_the_report(sandbox_ready, tmp_path):
    images.ensure("python-slim")
    dockerfile = DOCKERFILE.replace(
        "COPY requirements.txt /tmp/requirements.txt\n",
        f"COPY requirements.txt /tmp/requirements.txt\nRUN pip install --no-cache-dir {MISSING_PACKAGE}\n")
    assert MISSING_PACKAGE in dockerfile
    result = isolated.grade(submit_dir(tmp_path, dockerfile), "lab01", only=["imagen.construye"])
    build = next(c for c in result.checks if c.id == "imagen.construye")
    assert build.status == "failed", result.to_markdown()
    assert build.message.startswith(
        f"La corrección aislada no tiene red: el paquete {MISSING_PACKAGE} no está en el índice "
        "local del curso"), build.message


COMPLETE = pytest.mark.skipif(not os.environ.get("TEMA15_AISLADO_COMPLETO"),
                              reason="largo: con TEMA15_AISLADO_COMPLETO=1")


@COMPLETE
@pytest.mark.parametrize("lab, solution", [("lab02", "lab02_semver.ipynb"),
                                           ("lab03", "lab03_compose.ipynb"),
                                           ("lab05", "lab05_ci_cd.ipynb"),
                                           ("lab08", "lab08_metricas.ipynb"),
                                           ("lab09", "lab09_logs.ipynb")])
def test_lab_solution_scores_the_same_isolated(sandbox_ready, lab, solution):
    path = REPO_ROOT / "solutions" / solution
    plain = grade(path, lab)
    contained = isolated.grade(path, lab)
    print(f"{lab}: normal {plain.score:.3f} en {plain.seconds:.0f} s; aislado "
          f"{contained.score:.3f} en {contained.seconds:.0f} s")
    assert contained.execution.status == "ok", contained.execution.message
    assert contained.statuses() == plain.statuses(), contained.to_markdown()
    assert contained.score == plain.score


# --- the disk limit ---------------------------------------------------------------------

def test_disk_fills_up_to_its_limit_only_and_leaves_nothing(sandbox_ready):
    box = sandbox.start(cdocker.new_run_id(), limits=sandbox.Limits(
        memory_mb=512, tmp_mb=64, disk_gb=0.25, wall_clock_s=120))
    try:
        disk = sandbox.file_id(box.disk_file)
        assert sandbox.loop_devices(disk), "el disco no está en un dispositivo loop"
        root = sandbox.execute(box, ["sh", "-c", "echo x > /relleno"], env={})
        assert root.returncode != 0 and "Read-only file system" in root.output, root.output
        fill = sandbox.execute(box, ["sh", "-c", "cat /dev/zero > /var/lib/docker/relleno"], env={})
        assert fill.returncode != 0 and "No space left on device" in fill.output, fill.output
        used = box.disk_file.stat().st_blocks * 512
        assert used <= 0.25 * 2**30, f"el fichero del disco ocupa {used} bytes en el anfitrión"
        assert sandbox.disk_full(box) == ["el disco de Docker (0.25 GB)"]
        assert box.client().ping(), "el Docker interior no sobrevivió al disco lleno"
    finally:
        sandbox.stop(box)
    assert not box.private_dir.exists()
    assert not sandbox.loop_devices(disk)
    assert not cdocker.client().containers.list(
        all=True, filters={"label": f"{cdocker.RUN_LABEL}={box.run_id}"})


def test_submission_filling_the_disk_gets_a_spanish_status(sandbox_ready, tmp_path):
    filler = with_cell(tmp_path, (
        "with open('/var/lib/docker/relleno', 'wb') as f:\n"
        "    while True:\n"
        "        f.write(b'x' * (1 << 20))\n"))
    result = isolated.grade(filler, "lab07", limits=sandbox.Limits(disk_gb=0.25, wall_clock_s=900))
    assert result.execution.status == "error_en_celda", result.execution.message
    assert result.execution.message.startswith(
        "La entrega llenó el disco de Docker (0.25 GB) del contenedor aislado."), (
        result.execution.message)
    assert not glob.glob(os.path.join(tempfile.gettempdir(), f"{result.run_id}-aislado-*"))
