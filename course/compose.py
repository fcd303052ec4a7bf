"""Boilerplate around the ``docker compose`` CLI (the v2 plugin) for notebook cells and
the grader: one project per run (named after the run id, so ``cdocker.cleanup(run)``
finds everything), captured output with Spanish errors, ``up --wait`` with a time limit,
``ps`` as JSON, an event recorder, and teardown with ``down -v`` in a ``finally``.

The Compose commands themselves stay visible in the cells: ``project.run("logs", "api")``
runs ``docker compose -p <run> -f <file> logs api`` and prints that command line.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rich.markup import escape

from course import docker as cdocker
from course import processes, show

UP_TIMEOUT_S = 180
COMMAND_TIMEOUT_S = 120
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


free_port = processes.free_port  # for ${API_PORT:-8000} and friends in notebooks and tests


class ComposeError(RuntimeError):
    """A ``docker compose`` command failed; the message says what and why (Spanish)."""


def find_file(folder: Path) -> Path | None:
    """The Compose file Compose itself would pick in ``folder`` (same lookup order)."""
    for name in COMPOSE_FILES:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    return None


@dataclass
class Project:
    """A Compose project: its files, its name (the run id by default) and the variables
    used for interpolation (they take precedence over the shell and over ``.env``)."""

    files: Sequence[Path] | Path
    name: str = ""
    env: dict[str, str] = field(default_factory=dict)
    echo: bool = True  # print each command line before running it

    def __post_init__(self) -> None:
        self.files = [Path(f) for f in ([self.files] if isinstance(self.files, (str, Path))
                                        else self.files)]
        self.name = self.name or cdocker.run_id()

    @property
    def directory(self) -> Path:
        """Project directory: relative paths and ``.env`` are resolved from here."""
        return self.files[0].parent

    def command(self, *args: str) -> list[str]:
        files = [arg for f in self.files for arg in ("-f", str(f))]
        return ["docker", "compose", "-p", self.name, *files, *args]

    def run(self, *args: str, timeout: float = COMMAND_TIMEOUT_S, check: bool = True,
            env: dict[str, str] | None = None, echo: bool | None = None
            ) -> subprocess.CompletedProcess:
        """Run ``docker compose <args>`` for this project with captured output."""
        cmd = self.command(*args)
        if self.echo if echo is None else echo:
            shown = [a if not a.startswith(str(self.directory)) else
                     os.path.relpath(a, self.directory) for a in cmd]
            show.console.print(f"[dim]$ {escape(shlex.join(shown))}[/dim]", soft_wrap=True)
        full_env = {**os.environ, **self.env, **(env or {})}
        for var in ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES"):
            if var not in self.env and var not in (env or {}):
                full_env.pop(var, None)  # never let the caller's shell redirect the project
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  env=full_env, cwd=self.directory, check=False)
        except FileNotFoundError:
            raise ComposeError("No encuentro la orden `docker`: instala Docker (Docker Desktop "
                               "o Docker Engine con el plugin `docker-compose-plugin`).") from None
        except subprocess.TimeoutExpired:
            raise ComposeError(f"`docker compose {shlex.join(args)}` no terminó en "
                               f"{timeout:.0f} s.") from None
        if check and done.returncode != 0:
            raise ComposeError(_explain(args, done))
        return done

    # --- the usual commands -------------------------------------------------------

    def config(self, env: dict[str, str] | None = None) -> dict:
        """The resolved file (``config --format json``): variables substituted, paths
        absolute, defaults filled in. Needs no engine."""
        done = self.run("config", "--format", "json", env=env, echo=False)
        return json.loads(done.stdout)

    def up(self, *services: str, timeout: float = UP_TIMEOUT_S, build: bool = False) -> float:
        """``up -d --wait``: start (and build if needed) and wait until every service is
        running and healthy. Returns the seconds it took; on failure the error includes
        the state and last log lines of the services that did not make it."""
        args = ["up", "-d", "--wait", "--wait-timeout", str(int(timeout))]
        if build:
            args.append("--build")
        started = time.perf_counter()
        try:
            self.run(*args, *services, timeout=timeout + 60)
        except ComposeError as exc:
            raise ComposeError(f"{exc}\n{self.diagnose()}") from None
        return time.perf_counter() - started

    def down(self, volumes: bool = False, stop_timeout: int | None = None,
             timeout: float = COMMAND_TIMEOUT_S) -> float:
        """``down`` (``down -v`` also removes the project's named volumes). ``stop_timeout``
        (``-t``) shortens the grace period between SIGTERM and SIGKILL. Returns seconds."""
        args = ["down", *(["-v"] if volumes else []), "--remove-orphans"]
        if stop_timeout is not None:
            args += ["-t", str(stop_timeout)]
        started = time.perf_counter()
        self.run(*args, timeout=timeout)
        return time.perf_counter() - started

    def ps(self, *services: str) -> list[dict]:
        """``ps --all --format json``, one dict per container (Compose has printed
        both a JSON array and one object per line, depending on its version)."""
        out = self.run("ps", "--all", "--format", "json", *services, echo=False).stdout.strip()
        if not out:
            return []
        if out.startswith("["):
            return json.loads(out)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def show_ps(self) -> list[dict]:
        rows = self.ps()
        show.table(f"docker compose ps (proyecto {self.name})",
                   ["Servicio", "Estado", "Salud", "Puertos"],
                   [(r.get("Service"), r.get("State"), r.get("Health") or "-",
                     _ports(r) or "-") for r in rows])
        return rows

    def logs(self, *services: str, tail: int = 20) -> str:
        done = self.run("logs", "--no-color", "--no-log-prefix", "--tail", str(tail),
                        *services, echo=False)
        return done.stdout + done.stderr

    def exec(self, service: str, *cmd: str, check: bool = True) -> str:
        """``exec -T <service> <cmd>``; returns its standard output."""
        done = self.run("exec", "-T", service, *cmd, check=check)
        return done.stdout.strip()

    def port(self, service: str, container_port: int = 8000) -> int | None:
        """Host port published for ``service``'s ``container_port`` (None if none)."""
        done = self.run("port", service, str(container_port), check=False, echo=False)
        text = done.stdout.strip()
        if done.returncode != 0 or not text or ":" not in text:
            return None
        return int(text.rsplit(":", 1)[1])

    def containers(self) -> dict[str, object]:
        """service → docker SDK container (the first replica), all states."""
        found = cdocker.client().containers.list(
            all=True, ignore_removed=True, filters={"label": f"{PROJECT_LABEL}={self.name}"})
        result: dict[str, object] = {}
        for container in sorted(found, key=lambda c: c.name):
            result.setdefault(container.labels.get(SERVICE_LABEL, "?"), container)
        return result

    def volumes(self) -> list[str]:
        """Names of the project's volumes that exist right now (named ones only)."""
        return sorted(v.name for v in cdocker.client().volumes.list(
            filters={"label": f"{PROJECT_LABEL}={self.name}"}))

    def diagnose(self, tail: int = 15) -> str:
        """State and last log lines of every container that is not running and healthy."""
        try:
            rows = self.ps()
        except ComposeError:
            return ""
        lines = []
        for row in rows:
            state, health = row.get("State"), row.get("Health") or ""
            if state == "running" and health in ("", "healthy"):
                continue
            lines.append(f"--- {row.get('Service')}: {state} {health} "
                         f"(código {row.get('ExitCode')}) ---")
            try:
                lines.append(self.logs(row.get("Service", ""), tail=tail).rstrip())
            except ComposeError:
                pass
        return "\n".join(lines)

    @contextmanager
    def stack(self, *services: str, timeout: float = UP_TIMEOUT_S) -> Iterator[Project]:
        """``up --wait`` on entry and ``down -v`` on exit, also after an error."""
        try:
            self.up(*services, timeout=timeout)
            yield self
        finally:
            self.down(volumes=True)


def _ports(row: dict) -> str:
    published = [f"{p.get('URL') or '0.0.0.0'}:{p['PublishedPort']}->{p['TargetPort']}"
                 for p in row.get("Publishers") or [] if p.get("PublishedPort")]
    return ", ".join(dict.fromkeys(published))


def port_taken(error: ComposeError, port: int) -> bool:
    """Whether ``error`` says the engine could not publish ``port`` because something else
    took it (between choosing the free port and ``up``): worth a retry with another one."""
    text = str(error)
    return (f":{port}" in text
            and ("address already in use" in text or "port is already allocated" in text))


def _explain(args: Sequence[str], done: subprocess.CompletedProcess) -> str:
    # Compose prints the build's progress on stdout and its own steps and the error on
    # stderr: stderr goes last, so the tail we keep ends with the error.
    err = (done.stdout or "") + (done.stderr or "")
    what = f"`docker compose {shlex.join(args)}` falló (código {done.returncode})"
    if "is not a docker command" in err or "unknown command" in err:
        return (f"{what}: esta instalación de Docker no tiene el plugin Compose v2. "
                "Instala `docker-compose-plugin` (Linux) o Docker Desktop; el antiguo "
                "`docker-compose` (v1) ya no tiene soporte.")
    if "Cannot connect to the Docker daemon" in err or "error during connect" in err:
        return f"{what}: no hay un motor Docker que responda. Arráncalo y comprueba con `docker info`."
    lines = [line for line in err.strip().splitlines() if line.strip()]
    return f"{what}:\n" + "\n".join(lines[-25:])


# --- engine events -------------------------------------------------------------------

@dataclass
class Event:
    time: float        # seconds since the epoch, as the engine stamped it
    service: str
    action: str        # create, start, health_status: healthy, die, …


class EventRecorder:
    """Collect the engine's container events for one Compose project while a block runs
    (``client.events`` streamed in a thread: nothing is lost to the engine's buffer)."""

    def __init__(self, project: str):
        self.project = project
        self.events: list[Event] = []
        self._stream = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> EventRecorder:
        # No ``since``: only live events, none from earlier containers of the project.
        self._stream = cdocker.client().events(
            decode=True, filters={"type": "container", "label": f"{PROJECT_LABEL}={self.project}"})
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()
        return self

    def _collect(self) -> None:
        try:
            for raw in self._stream:
                attrs = raw.get("Actor", {}).get("Attributes", {})
                self.events.append(Event(raw.get("timeNano", 0) / 1e9,
                                         attrs.get(SERVICE_LABEL, "?"),
                                         raw.get("Action") or raw.get("status", "")))
        except Exception:  # the stream is closed from the other thread: stop quietly
            pass

    def __exit__(self, *exc) -> None:
        time.sleep(0.3)  # let the last events of the block arrive
        self._stream.close()
        self._thread.join(timeout=5)

    def first(self, service: str, action: str) -> float | None:
        """Time of the first ``action`` (prefix match) of ``service``, or None."""
        times = [e.time for e in self.events
                 if e.service == service and e.action.startswith(action)]
        return min(times) if times else None
