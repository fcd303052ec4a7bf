"""Local processes that notebooks and graders start when there is no Docker engine
(uvicorn, the prometheus and alertmanager binaries on Binder).

Each one carries the run id in its environment (``TEMA15_PROCESO_RUN``), so
``cleanup(run)`` finds it through /proc and stops it even after the kernel that started
it crashed: the same promise the Docker label ``tema15.run`` keeps for containers.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from course import docker as cdocker

RUN_ENV = "TEMA15_PROCESO_RUN"


class NotReady(RuntimeError):
    """A process did not answer in time; the message includes the end of its log."""


def free_port() -> int:
    """A TCP port nobody listens on right now on 127.0.0.1 (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
              expect: int = 200) -> str | None:
    """Poll ``url`` until it answers ``expect`` (return None) or ``alive()`` turns false or
    the time runs out (return the last thing seen, for the error message)."""
    deadline = time.monotonic() + timeout
    last = "sin respuesta"
    while time.monotonic() < deadline and alive():
        try:
            response = httpx.get(url, timeout=2, trust_env=False)
            if response.status_code == expect:
                return None
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last = exc.__class__.__name__
        time.sleep(0.2)
    return last


def wait_http(process: Process, url: str, *, timeout: float = 40, expect: int = 200) -> None:
    """Wait until ``url`` answers; fail early (with its log) if the process dies."""
    last = poll_http(url, alive=process.alive, timeout=timeout, expect=expect)
    if last is None:
        return
    state = "en marcha" if process.alive() else f"terminado con código {process.popen.poll()}"
    raise NotReady(f"{process.name} no respondió en {url} ({last}; proceso {state}).\n"
                   f"--- últimas líneas de su registro ---\n{process.tail()}")


def _run_of(pid: int) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:  # gone, or not ours to read
        return None
    for entry in environ.split(b"\0"):
        if entry.startswith(RUN_ENV.encode() + b"="):
            return entry.split(b"=", 1)[1].decode(errors="replace")
    return None


def _ancestors() -> set[int]:
    """This process and its parents: a notebook graded with the run id in its environment
    must never stop its own kernel (or papermill) when it cleans up its run."""
    chain, pid = set(), os.getpid()
    while pid > 1 and pid not in chain:
        chain.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return chain


def leftovers(run: str = "*") -> list[int]:
    """PIDs of live processes started for ``run`` ("*": any run), never this process or
    one of its parents. Linux only (/proc); elsewhere, an empty list."""
    mine = _ancestors()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        owner = _run_of(pid)
        if owner is not None and (run == "*" or owner == run) and pid not in mine:
            found.append(pid)
    return found


def cleanup(run: str | None = None, timeout: float = 10) -> int:
    """Stop every process of ``run`` (None: this process's run; "*": every run)."""
    pids = leftovers(run or cdocker.run_id())
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_exists(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        _signal(pid, signal.SIGKILL)
    return len(pids)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # A zombie still has a /proc entry, but nothing runs any more.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError:
        pass
