"""A real git server on loopback (``git daemon``): the repository a GitOps reconciler pulls
from, and the one people push to. One per run, started as a course process (stopped by
``processes.cleanup(run)``), serving the bare repositories under its root directory.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from course import docker as cdocker
from course import processes, waiting


class GitError(RuntimeError):
    """A git command failed; the message carries git's own output."""


@dataclass
class GitServer:
    root: Path
    port: int
    process: processes.Process

    def url(self, repo: str) -> str:
        return f"git://127.0.0.1:{self.port}/{repo}"

    def create(self, repo: str, branch: str = "main") -> str:
        """A new empty bare repository on the server; returns its URL."""
        git("init", "--quiet", "--bare", f"--initial-branch={branch}", str(self.root / repo))
        return self.url(repo)

    def stop(self) -> None:
        self.process.stop()


def git(*args: str, cwd: Path | None = None, check: bool = True) -> str:
    """Run git with a fixed identity and no user configuration; return its stdout."""
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "Curso Tema 15", "GIT_AUTHOR_EMAIL": "curso@tema15.local",
           "GIT_COMMITTER_NAME": "Curso Tema 15", "GIT_COMMITTER_EMAIL": "curso@tema15.local",
           "GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin:/usr/local/bin",
           "HOME": str(Path.home())}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    if check and done.returncode != 0:
        raise GitError(f"git {' '.join(args[:2])} falló: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def available() -> str | None:
    """None if git and its daemon are installed; otherwise why not, in Spanish."""
    if not shutil.which("git"):
        return "git no está instalado"
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True).stdout.strip()
    if not (Path(exec_path) / "git-daemon").exists():
        return "esta instalación de git no trae `git daemon`"
    return None


def start(root: Path, run: str | None = None, timeout: float = 15) -> GitServer:
    """Serve every bare repository under ``root`` on a free loopback port (read and push)."""
    reason = available()
    if reason:
        raise GitError(f"No puedo arrancar el servidor git: {reason}.")
    root.mkdir(parents=True, exist_ok=True)
    port = processes.free_port()
    process = processes.spawn(
        "git-daemon", ["git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack",
                       "--informative-errors", f"--base-path={root}", "--listen=127.0.0.1",
                       f"--port={port}", str(root)],
        log_dir=root.parent / "logs", run=run or cdocker.run_id())
    def listening() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0
    try:
        waiting.wait_for(listening, alive=process.alive, timeout=timeout, interval=0.05)
    except waiting.NotReady:
        process.stop()
        raise waiting.NotReady(f"git daemon no escucha en el puerto {port}.\n"
                               f"{process.tail()}") from None
    return GitServer(root, port, process)
