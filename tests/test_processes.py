"""Local processes of a run are found and stopped by their run id (course.processes), and a
configuration written for the Docker network resolves to local addresses (course.promstack)."""
import os
import socket
import subprocess
import sys
import time

import pytest

from course import processes, promstack
from course import docker as cdocker


def test_cleanup_stops_what_a_run_started_even_without_its_handle(tmp_path):
    run = cdocker.new_run_id()
    other = cdocker.new_run_id()
    mine = processes.spawn("dormido", [sys.executable, "-c", "import time; time.sleep(600)"],
                           log_dir=tmp_path, run=run)
    theirs = processes.spawn("ajeno", [sys.executable, "-c", "import time; time.sleep(600)"],
                             log_dir=tmp_path, run=other)
    try:
        assert processes.leftovers(run) == [mine.popen.pid]
        assert processes.cleanup(run) == 1   # as after a kernel crash: only the run id is known
        mine.popen.wait(timeout=10)
        assert processes.leftovers(run) == []
        assert theirs.alive()                 # another run's process is left alone
    finally:
        processes.cleanup(other)
        theirs.popen.wait(timeout=10)


def test_wait_http_reports_a_process_that_dies_with_its_log(tmp_path):
    crash = processes.spawn("roto", [sys.executable, "-c", "print('sin configuración'); raise SystemExit(3)"],
                            log_dir=tmp_path, run=cdocker.new_run_id())
    started = time.monotonic()
    with pytest.raises(processes.NotReady) as caught:
        processes.wait_http(crash, f"http://127.0.0.1:{processes.free_port()}/", timeout=30)
    assert time.monotonic() - started < 10  # it did not wait for the whole timeout
    assert "terminado con código 3" in str(caught.value)
    assert "sin configuración" in str(caught.value)


def _http_server(port: int, *, delay: float = 0) -> list[str]:
    code = (f"import time, http.server; time.sleep({delay}); "
            f"http.server.HTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler)"
            ".serve_forever()")
    return [sys.executable, "-c", code]


def test_wait_http_does_not_take_another_process_answer_for_its_own(tmp_path):
    """Two runs got the same free port: the first one's server answers the URL while the
    second one's has not tried to listen yet (and then fails to: address in use)."""
    port, run = processes.free_port(), cdocker.new_run_id()
    first = processes.spawn("primero", _http_server(port), log_dir=tmp_path, run=run)
    try:
        processes.wait_http(first, f"http://127.0.0.1:{port}/", timeout=30)
        assert processes.listens_on(first, port) is True
        second = processes.spawn("segundo", _http_server(port, delay=1.5), log_dir=tmp_path, run=run)
        assert processes.listens_on(second, port) is False
        with pytest.raises(processes.NotReady) as caught:
            processes.wait_http(second, f"http://127.0.0.1:{port}/", timeout=30)
        assert "terminado con código" in str(caught.value)
        assert "Address already in use" in str(caught.value)
    finally:
        processes.cleanup(run)


def test_local_stack_resolves_container_names_like_the_docker_dns(tmp_path):
    stack = promstack.LocalStack(cdocker.new_run_id(), tmp_path, scratch=tmp_path / "s")
    config = ('targets: ["catalogo-1:8000", "catalogo-2:8000"]\n'
              "alertmanagers: [alertmanager:9093]\n"
              "keep: [localhost:8000, 10.0.0.1:8000, http://example.org:8000/x]\n"
              "scrape_interval: 1s\n")
    resolved = stack.resolve(config)
    assert stack.address("catalogo-1") in resolved and stack.address("catalogo-2") in resolved
    assert stack.address("alertmanager") in resolved
    assert stack.address("catalogo-1") != stack.address("catalogo-2")
    assert "localhost:8000" in resolved and "10.0.0.1:8000" in resolved
    assert "example.org:8000" in resolved and "scrape_interval: 1s" in resolved
    stack.close()


def test_without_engine_or_binaries_the_reason_is_given(monkeypatch):
    monkeypatch.delenv(promstack.BACKEND_ENV, raising=False)
    monkeypatch.setattr(promstack.env, "has", lambda key: False)
    monkeypatch.setattr(promstack, "binary", lambda name: None)
    with pytest.raises(promstack.Unavailable) as caught:
        promstack.backend()
    assert "No hay motor Docker ni binario de Prometheus" in str(caught.value)
    assert "apt-get install prometheus prometheus-alertmanager" in str(caught.value)
    monkeypatch.setenv(promstack.BACKEND_ENV, "local")  # forcing a backend wins
    assert promstack.backend() == "local"


def test_cleanup_never_stops_its_own_parents(tmp_path):
    """A graded notebook runs with the run id in its environment; when it cleans up its run
    it stops its servers, not its own kernel or papermill."""
    run = cdocker.new_run_id()
    code = ("import sys, time\n"
            "from course import processes\n"
            "from pathlib import Path\n"
            "child = processes.spawn('hijo', [sys.executable, '-c', 'import time; time.sleep(300)'],"
            f" log_dir=Path({str(tmp_path)!r}), run={run!r})\n"
            f"print(processes.cleanup({run!r}))\n"
            "child.popen.wait(timeout=10)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, processes.RUN_ENV: run})
    assert done.returncode == 0, done.stderr   # it survived its own cleanup
    assert done.stdout.strip() == "1"          # and stopped its child
    assert processes.leftovers(run) == []


def test_free_port_avoids_the_ephemeral_range_and_ports_in_use(monkeypatch):
    """Ports from the ephemeral range can be taken by any outgoing connection before the
    server binds them; a port someone listens on (any address) is never returned."""
    low, high = processes.ephemeral_range()
    for _ in range(20):
        port = processes.free_port()
        assert not low <= port <= high
        assert processes.PORT_RANGE[0] <= port <= processes.PORT_RANGE[1]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", processes.free_port()))
        busy.listen()
        candidates = iter([busy.getsockname()[1], processes.free_port()])
        monkeypatch.setattr(processes.random, "randint", lambda *_: next(candidates))
        assert processes.free_port() != busy.getsockname()[1]

