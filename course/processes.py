"""Local processes that notebooks and graders start when there is no Docker engine
(uvicorn, the prometheus and alertmanager binaries on Binder).

Each one carries the run id in its environment (``TEMA15_PROCESO_RUN``), so
``cleanup(run)`` finds it through /proc and stops it even after the kernel that started
it crashed: the same promise the Docker label ``tema15.run`` keeps for containers.
"""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

from course import docker as cdocker
from course.waiting import NotReady, wait_for

RUN_ENV = "TEMA15_PROCESO_RUN"


# Ports are chosen below the ranges kernels hand out to outgoing connections (Linux
# 32768-60999, macOS and Windows 49152-65535). A port the OS picks for us comes from
# there, and any client's connect() can take it between our check and the server's bind
# (seen in CI: a Compose stack lost its API port to a connection of a parallel test).
PORT_RANGE = (20000, 32767)
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port() -> int:
    """A TCP port nobody uses right now, on any address, outside the ephemeral range."""
    low, high = ephemeral_range()
    for _ in range(200):
        port = random.randint(*PORT_RANGE)
        if not low <= port <= high and _bindable(port):
            return port
    with socket.socket() as sock:  # a machine whose ephemeral range covers ours
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ephemeral_range() -> tuple[int, int]:
    """The ports this machine gives to outgoing connections (Linux tells; others: IANA's)."""
    try:
        low, high = EPHEMERAL_RANGE_FILE.read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 49152, 65535


def _bindable(port: int) -> bool:
    # The wildcard address clashes with a listener on any address, 127.0.0.1 included.
    with socket.socket() as sock:
        try:
            sock.bind(("", port))
        except OSError:
            return False
        return True


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10) -> None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=timeout)


def spawn(name: str, command: Sequence[str], *, log_dir: Path, run: str | None = None,
          cwd: Path | None = None, environment: Mapping[str, str] | None = None) -> Process:
    """Start ``command`` in the background, its output in ``log_dir/<name>.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    env = {**os.environ, **(environment or {}), RUN_ENV: run or cdocker.run_id()}
    log.write_bytes(b"")
    # Append mode (O_APPEND): another writer of the same file (a test adding a line, 15.9)
    # is never overwritten by the child's own file offset.
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        popen = subprocess.Popen(list(command), cwd=cwd, env=env, stdout=out,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)  # Ctrl+C in Jupyter does not hit it
    return Process(name, popen, log)


def poll_http(url: str, *, alive: Callable[[], bool], timeout: float = 40,
              expect: int = 200, also: Callable[[], bool] | None = None) -> str | None:
    """Poll ``url`` until it answers ``expect`` and ``also()`` holds (return None) or
    ``alive()`` turns false or the time runs out (return the last thing seen, for the
    error message)."""
    def status() -> int | str:
        code = httpx.get(url, timeout=2, trust_env=False).status_code
        if code == expect and also is not None and not also():
            return "responde otro proceso en ese puerto"
        return code
    try:
        wait_for(status, until=lambda code: code == expect, errors=(httpx.HTTPError,),
                 alive=alive, timeout=timeout)
        return None
    except NotReady as exc:
        if exc.last is None:
            return "sin respuesta"
        if isinstance(exc.last, str):
            return exc.last
        return type(exc.last).__name__ if isinstance(exc.last, BaseException) else f"HTTP {exc.last}"


def listens_on(process: Process, port: int) -> bool | None:
    """Whether ``process`` (or a child of it) listens on ``port``; None when the system does
    not let us look (psutil.AccessDenied)."""
    try:
        root = psutil.Process(process.popen.pid)
        for proc in (root, *root.children(recursive=True)):
            if any(conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
                   for conn in proc.net_connections(kind="inet")):
                return True
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return None
    return False


def wait_http(process: Process, url: str, *, timeout: float = 40, expect: int = 200) -> None:
    """Wait until ``url`` answers from ``process``; fail early (with its log) if it dies.

    free_port() releases the port it found: two runs starting servers at the same moment
    can get the same one. Then the second server cannot listen, but the first one answers
    its URL; so the answer counts only once ``process`` itself listens on the port."""
    port = urlsplit(url).port

    def ours() -> bool:
        return port is None or listens_on(process, port) is not False

    last = poll_http(url, alive=process.alive, timeout=timeout, expect=expect, also=ours)
    if last is None:
        return
    state = "en marcha" if process.alive() else f"terminado con código {process.popen.poll()}"
    raise NotReady(f"{process.name} no respondió en {url} ({last}; proceso {state}).\n"
                   f"--- últimas líneas de su registro ---\n{process.tail()}")


def _run_of(proc: psutil.Process) -> str | None:
    try:
        return proc.environ().get(RUN_ENV)
    except (psutil.Error, OSError):  # gone, a zombie, or not ours to read
        return None


def _ancestors() -> set[int]:
    """This process and its parents: a notebook graded with the run id in its environment
    must never stop its own kernel (or papermill) when it cleans up its run."""
    me = psutil.Process()
    return {me.pid, *(parent.pid for parent in me.parents())}


def _running(run: str) -> list[psutil.Process]:
    mine = _ancestors()
    found = []
    for proc in psutil.process_iter():
        if proc.pid in mine:
            continue
        owner = _run_of(proc)
        if owner is not None and (run == "*" or owner == run) and _exists(proc):
            found.append(proc)
    return found


def leftovers(run: str = "*") -> list[int]:
    """PIDs of live processes started for ``run`` ("*": any run), never this process or
    one of its parents (psutil: Linux, and students' Macs)."""
    return [proc.pid for proc in _running(run)]


def cleanup(run: str | None = None, timeout: float = 10) -> int:
    """Stop every process of ``run`` (None: this process's run; "*": every run)."""
    procs = _running(run or cdocker.run_id())
    for proc in procs:
        _quietly(proc.terminate)
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        _quietly(proc.kill)
    psutil.wait_procs(alive, timeout=timeout)
    return len(procs)


def stop_group(popen: subprocess.Popen, grace: float = 5) -> None:
    """Stop a child started with ``start_new_session=True`` and everything it started
    (a pipeline's docker build, papermill's kernel): SIGTERM to its process group, then
    SIGKILL to whatever is left after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            popen.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _exists(proc: psutil.Process) -> bool:
    """Running: a zombie still has a process entry, but nothing runs any more."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _quietly(action: Callable[[], None]) -> None:
    try:
        action()
    except psutil.Error:
        pass
