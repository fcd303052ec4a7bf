"""Boilerplate for 15.7 (notebook, lab and grader): run a uvicorn app in a child process
on a free port with its stdout and stderr captured, wait until it answers, stop it, and
turn its JSON lines into records and tables. The logging being taught stays in the cells.

    with logs.serve("app.main:app", cwd=service_dir, env={"JSON_LOGS": "true"}) as server:
        httpx.get(server.url + "/items/1", headers={"X-Request-ID": "abc"})
    records, others = logs.parse(server.stdout)
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rich.markup import escape

from course import show, waiting
from course.processes import free_port

# The service reads these; the caller's shell must not leak them into a demo or a grading.
SETTINGS_VARIABLES = ("SERVICE_NAME", "ENVIRONMENT", "LOG_LEVEL", "JSON_LOGS", "ACCESS_LOG",
                      "DATABASE_URL", "REDIS_URL", "APP_VERSION", "FAULT_READINESS_FAIL",
                      "FAULT_ERROR_RATE", "FAULT_EXTRA_LATENCY_MS")
STANDARD_COLUMNS = ("timestamp", "level", "logger", "event", "request_id")


class ServerFailed(waiting.NotReady):
    """The app did not start (or did not answer) in time; the message has its output."""


@dataclass
class Server:
    """A running uvicorn child process; ``stdout``/``stderr`` are complete after ``stop``."""
    process: subprocess.Popen
    port: int
    folder: Path
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = None
    stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """What the process has written to stdout so far (it keeps running)."""
        return _read(self.folder / "stdout.log") if not self.stopped else self.stdout

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM (graceful: uvicorn runs the lifespan shutdown), SIGKILL if it hangs."""
        if self.stopped:
            return self.returncode
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.returncode = self.process.returncode
        self.stdout = _read(self.folder / "stdout.log")
        self.stderr = _read(self.folder / "stderr.log")
        self.stopped = True
        shutil.rmtree(self.folder, ignore_errors=True)
        return self.returncode


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def clean_env(extra: Mapping[str, str] | None = None,
              pythonpath: Sequence[str | Path] = ()) -> dict[str, str]:
    """The current environment without the service's settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env["PYTHONUNBUFFERED"] = "1"  # like the image: every line leaves at once
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(p) for p in pythonpath] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update(extra or {})
    return env


@contextmanager
def serve(app: str = "app.main:app", *, cwd: str | Path, env: Mapping[str, str] | None = None,
          pythonpath: Sequence[str | Path] = (), python: str | None = None,
          ready_path: str = "/health/live", timeout: float = 30,
          args: Sequence[str] = (), prefix: str = "t15-logs-") -> Iterator[Server]:
    """Start ``python -m uvicorn app`` in ``cwd`` on a free port, wait until ``ready_path``
    answers, yield the ``Server`` and always stop it on exit (also on errors).

    The port is bound here and handed to uvicorn as an open socket (``--fd``): a port only
    chosen here could be taken by a server started at the same moment (another grading),
    whose answer would then pass for this one's."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    listener = _listening_socket() if os.name == "posix" else None
    port = listener.getsockname()[1] if listener else free_port()
    where = ["--fd", str(listener.fileno())] if listener else ["--host", "127.0.0.1", "--port", str(port)]
    try:
        with open(folder / "stdout.log", "wb") as out, open(folder / "stderr.log", "wb") as err:
            process = subprocess.Popen(
                [python or sys.executable, "-m", "uvicorn", app, *where, *args],
                cwd=cwd, env=clean_env(env, pythonpath), stdout=out, stderr=err,
                stdin=subprocess.DEVNULL, pass_fds=[listener.fileno()] if listener else ())
    finally:
        if listener:
            listener.close()  # the child holds its own copy
    server = Server(process, port, folder)
    try:
        _wait_ready(server, ready_path, timeout)
        yield server
    finally:
        server.stop()


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)  # uvicorn's default backlog
    return sock


def _wait_ready(server: Server, path: str, timeout: float) -> None:
    def answers() -> bool:
        try:
            with urllib.request.urlopen(server.url + path, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answers: an error status is still an answer

    try:
        waiting.wait_for(answers, errors=(OSError, ValueError), timeout=timeout, interval=0.1,
                         alive=lambda: server.process.poll() is None)
        return
    except waiting.NotReady as exc:
        if exc.gave_up == "terminado":
            server.stop()
            raise ServerFailed(
                f"uvicorn terminó al arrancar (código {server.returncode}). Últimas líneas:\n"
                + tail(server.stderr or server.stdout)) from None
    server.stop()
    raise ServerFailed(f"uvicorn no respondió en {server.url}{path} en {timeout:.0f} s. "
                       "Últimas líneas:\n" + tail(server.stderr or server.stdout))


def tail(text: str, lines: int = 12, width: int = 300) -> str:
    last = [line[:width] for line in text.strip().splitlines()[-lines:]]
    return "\n".join(last) or "(sin salida)"


def parse(text: str) -> tuple[list[dict], list[str]]:
    """Split a log output into JSON objects and the non-blank lines that are not JSON."""
    records, others = [], []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            others.append(line)
            continue
        if isinstance(value, dict):
            records.append(value)
        else:
            others.append(line)
    return records, others


def pipelined(port: int, requests: Iterable[tuple[str, Mapping[str, str]]],
              timeout: float = 10) -> str:
    """Send several GET requests in one write on one connection (HTTP/1.1 pipelining) and
    return the raw answer; the last request asks the server to close the connection."""
    requests = list(requests)
    payload = ""
    for number, (path, headers) in enumerate(requests, 1):
        lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if number == len(requests):
            lines.append("Connection: close")
        payload += "\r\n".join(lines) + "\r\n\r\n"
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload.encode())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def short(value: object, width: int = 70) -> str:
    """One line, without terminal colour codes, cut to ``width`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = ANSI.sub("", text).replace("\n", "⏎ ")
    return text if len(text) <= width else text[: width - 1] + "…"


def table(records: Iterable[Mapping], columns: Sequence[str] = STANDARD_COLUMNS, *,
          title: str = "", width: int = 70) -> None:
    """Show some fields of each record as a table (missing fields as «—»)."""
    rows = [[escape(short(r[c], width)) if c in r else "—" for c in columns] for r in records]
    show.table(title, list(columns), rows)
