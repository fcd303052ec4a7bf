"""Start the service the way the container does, in a real uvicorn process."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import SETTINGS_VARIABLES, free_port

SERVICE_DIR = Path(__file__).resolve().parent.parent


def clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SETTINGS_VARIABLES}
    return {**env, **extra}


def wait_until_live(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError("uvicorn no llegó a arrancar")


def run_real_uvicorn(**env: str) -> list[dict]:
    """Serve GET /items/1 once (X-Request-ID abc123) and return every log record."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-W",
            "error::DeprecationWarning",
            "-m",
            "uvicorn",
            "app.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=SERVICE_DIR,
        env=clean_env(JSON_LOGS="true", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_live(port, process)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/items/1", headers={"X-Request-ID": "abc123"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.headers["X-Request-ID"] == "abc123"
    finally:
        process.terminate()
        try:
            stdout, stderr = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()  # never leave a server behind
            stdout, stderr = process.communicate()
        print(stdout, stderr)  # shown by pytest only if the test fails

    # Recent uvicorn re-raises SIGTERM after a graceful shutdown.
    assert process.returncode in (0, -signal.SIGTERM), stderr
    assert stderr == ""  # no DeprecationWarning, no stray plain-text logging
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_real_uvicorn_logs_json_with_request_id() -> None:
    records = run_real_uvicorn(ACCESS_LOG="true")
    access = [r for r in records if r["logger"] == "uvicorn.access" and "/items/1" in r["event"]]
    assert len(access) == 1
    assert access[0]["request_id"] == "abc123"
    assert access[0]["level"] == "info" and access[0]["timestamp"].endswith("Z")
    # The same field names as the service's own lines: a shipper filters both on http_path.
    # The status stays in the text: only peticion_terminada counts a request's status.
    assert (access[0]["http_method"], access[0]["http_path"]) == ("GET", "/items/1")
    assert "status_code" not in access[0]
    events = [r["event"] for r in records]
    assert "Application startup complete." in events
    assert "servicio_detenido" in events


def test_one_line_per_request_by_default() -> None:
    # ACCESS_LOG is false unless set: peticion_terminada is the request's only line.
    records = run_real_uvicorn()
    mine = [r for r in records if r.get("request_id") == "abc123"]
    assert [r["event"] for r in mine] == ["peticion_terminada"]
    assert mine[0]["status_code"] == 200 and mine[0]["http_path"] == "/items/1"
    assert mine[0]["client_ip"] == "127.0.0.1"
    assert "Application startup complete." in [r["event"] for r in records]  # uvicorn.error stays


def test_bad_setting_stops_startup_with_a_clear_message() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import app.main"],
        cwd=SERVICE_DIR,
        env=clean_env(FAULT_ERROR_RATE="2"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Configuración no válida" in result.stderr
    assert "FAULT_ERROR_RATE='2': debe estar entre 0 y 1" in result.stderr
