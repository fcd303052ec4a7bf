"""`curso corregir --aislado`: each submission graded inside its own container with its own
Docker daemon (grader.sandbox, grader.isolated). Where this machine cannot start such a
container the tests are skipped with the reason, never passed.

Limits are tested with small, bounded values (a few hundred MB, a hundred pids, seconds of
wall clock) so that a runaway submission never disturbs the shared machine."""
from __future__ import annotations

import os
import time

import nbformat
import pytest

from course import REPO_ROOT
from course import docker as cdocker
from grader import isolated, sandbox
from grader.grade import grade

LAB07_SOLUTION = REPO_ROOT / "solutions" / "lab07_logging.ipynb"


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
    with pytest.raises(sandbox.SandboxUnavailable, match="Docker dentro de Docker"):
        isolated.grade(LAB07_SOLUTION, "lab07")


def test_cli_explains_aislado_in_spanish(capsys):
    from curso.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["corregir", "--ayuda"])
    text = capsys.readouterr().out
    assert "--aislado" in text and "máquina virtual desechable" in text
