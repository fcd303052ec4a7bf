"""The one cleanup entry point (course.cleanup): what a run leaves is listed, removed,
and a test session that leaves something fails with the list."""
import os
import re
import subprocess
import sys
import textwrap

from course import REPO_ROOT, cleanup, processes
from course import docker as cdocker
from tests.conftest import SESSION_ENV


def test_run_removes_every_kind_of_resource_of_its_run_only(tmp_path, docker_client, k8s_cluster):
    run, other = cdocker.new_run_id(), cdocker.new_run_id()
    sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
    mine = processes.spawn("dormido", sleeper, log_dir=tmp_path, run=run)
    theirs = processes.spawn("ajeno", sleeper, log_dir=tmp_path, run=other)
    namespace = k8s_cluster.namespace(run)
    network = docker_client.networks.create(f"{run}-red", labels={cdocker.RUN_LABEL: run})
    repo = tmp_path.parent / f"{run}-pipeline-x"  # what 15.5 leaves in the temp directory
    try:
        left = cleanup.leftovers()
        assert str(mine.popen.pid) in left["procesos"]
        assert namespace in left["espacios de nombres"]
        assert network.name in left["redes"]
        cleanup.run(run)
        left = cleanup.leftovers(wait=0)
        assert str(mine.popen.pid) not in left.get("procesos", [])
        assert network.name not in left.get("redes", [])
        assert theirs.alive()  # another run is left alone
        phase = k8s_cluster.kubectl("get", "namespace", namespace, "-o",
                                    "jsonpath={.status.phase}", check=False, echo=False).stdout
        assert phase in ("", "Terminating")  # deleted, or on its way
        assert not repo.exists()
    finally:
        cleanup.run(other)
        cleanup.run(run)


def test_describe_lists_kinds_in_order_and_shortens_long_lists():
    text = cleanup.describe({"imágenes": [f"t15-x{i}" for i in range(12)], "procesos": ["42"]})
    lines = text.splitlines()
    assert lines[0].strip() == "procesos: 42"
    assert lines[1].strip().startswith("imágenes: t15-x0") and lines[1].endswith("y 2 más")


def test_a_session_that_leaves_a_process_fails_and_names_it(tmp_path):
    """The end-of-session check of tests/conftest.py, on a session written to forget."""
    run = cdocker.new_run_id()
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_sessionstart, pytest_sessionfinish  # noqa: F401\n")
    (tmp_path / "test_olvida.py").write_text(textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from course import processes

        def test_forgets_its_process(tmp_path):
            processes.spawn("olvidado", [sys.executable, "-c", "import time; time.sleep(600)"],
                            log_dir=tmp_path, run={run!r})
        """))
    # As a session of its own, not one nested in this one (which skips the check).
    outermost = {k: v for k, v in os.environ.items() if k not in (SESSION_ENV, "ACT")}
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "-o", "addopts=", str(tmp_path)], check=False, cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=300, env=outermost)
        assert done.returncode == 1, done.stdout[-3000:]
        assert "1 passed" in done.stdout  # the test itself passed: the session did not
        assert "Las pruebas dejaron recursos del curso sin limpiar" in done.stdout
        listing = done.stdout.split("sin limpiar", 1)[1]
        pid = str(processes.leftovers(run)[0])
        assert re.search(rf"procesos:[\d, ]*\b{pid}\b", listing), (pid, listing)
    finally:
        processes.cleanup(run)
