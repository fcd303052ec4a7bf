"""Where the Prometheus of section 15.8 runs, with the services it scrapes and its
Alertmanager: containers on a labelled Docker network when an engine answers, local
processes otherwise (the ``prometheus`` and ``alertmanager`` binaries and uvicorn, as on
Binder, where `binder/apt.txt` installs them).

Cells and graders write the same code for both. Only the addresses Prometheus scrapes
differ (``catalogo-1:8000`` on the Docker network, ``127.0.0.1:<port>`` locally), and
``address(alias)`` gives them, before anything starts, so a configuration can be written
first. ``TEMA15_PROMETHEUS=docker|local`` forces a backend.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from course import REPO_ROOT, containers, env, processes, prom
from course import docker as cdocker
from course import imagebuild
from course.waiting import NotReady

BACKEND_ENV = "TEMA15_PROMETHEUS"
SERVICE_PORT = 8000
WELL_KNOWN_PORTS = {"prometheus": 9090, "alertmanager": 9093}
# Debian and Ubuntu package Alertmanager as prometheus-alertmanager.
BINARIES = {"prometheus": ("prometheus",), "promtool": ("promtool",),
            "alertmanager": ("alertmanager", "prometheus-alertmanager"), "amtool": ("amtool",)}


# A host name (not an IP, not localhost) followed by a port, in a configuration text.
_HOST_PORT = re.compile(r"(?<![\w.:/-])(?!localhost\b)([A-Za-z][\w-]*):(\d+)\b")


class Unavailable(RuntimeError):
    """Neither a Docker engine nor the binaries: nothing to run Prometheus with."""


def binary(name: str) -> str | None:
    return next((path for candidate in BINARIES[name] if (path := shutil.which(candidate))), None)


def backend() -> str:
    """'docker' or 'local': the forced one, else Docker if it answers, else the binaries."""
    forced = os.environ.get(BACKEND_ENV, "").strip().lower()
    if forced in ("docker", "local"):
        return forced
    if env.has("docker"):
        return "docker"
    if binary("prometheus"):
        return "local"
    raise Unavailable("No hay motor Docker ni binario de Prometheus: "
                      + env.get("prometheus").how_to)


def open_stack(run: str | None = None, *, service_dir: Path | None = None,
               kind: str | None = None, scratch: Path | None = None) -> Stack:
    """A stack on the chosen backend; use it as a context manager, or call ``close()``.

    The Docker backend builds ``service_dir`` on the first ``service()`` (unless given an
    image with ``use_image``). ``scratch``: where the local backend keeps configurations,
    data and logs (else a temporary folder that ``close()`` removes)."""
    run = run or cdocker.run_id()
    service_dir = Path(service_dir or REPO_ROOT / "service")
    if (kind or backend()) == "docker":
        return DockerStack(run, service_dir)
    return LocalStack(run, service_dir, scratch)


class Stack:
    kind = ""
    description = ""

    def __init__(self, run: str, service_dir: Path) -> None:
        self.run = run
        self.service_dir = service_dir

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def address(self, alias: str) -> str:
        """host:port where Prometheus reaches ``alias`` (a service, prometheus, alertmanager)."""
        raise NotImplementedError

    def service(self, alias: str, environment: Mapping[str, str] | None = None,
                timeout: float = 60) -> str:
        """Start one copy of the service as ``alias``; return its base URL from here."""
        raise NotImplementedError

    def prometheus(self, config: str, files: Mapping[str, str] | None = None, *,
                   args: Sequence[str] = (), timeout: float = 30) -> prom.Prometheus:
        """Start Prometheus with ``config`` as prometheus.yml and ``files`` next to it."""
        raise NotImplementedError

    def alertmanager(self, config: str, timeout: float = 30) -> prom.Alertmanager:
        raise NotImplementedError

    def promtool(self, *args: str, files: Mapping[str, str]) -> tuple[int, str]:
        """``promtool <args>`` in a folder holding ``files``: (exit code, output)."""
        raise NotImplementedError

    def amtool(self, *args: str, files: Mapping[str, str]) -> tuple[int, str]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class DockerStack(Stack):
    kind = "docker"
    description = "contenedores en una red Docker propia"

    def __init__(self, run: str, service_dir: Path) -> None:
        super().__init__(run, service_dir)
        self._net = None
        self._image: str | None = None
        self._containers: list = []

    def use_image(self, tag: str) -> None:
        """Run the services from ``tag`` instead of building ``service_dir``."""
        self._image = tag

    @property
    def network(self):
        """The stack's Docker network (other containers, such as Grafana, can join it)."""
        if self._net is None:
            self._net = containers.network(self.run)
        return self._net

    def address(self, alias: str) -> str:
        return f"{alias}:{WELL_KNOWN_PORTS.get(alias, SERVICE_PORT)}"

    def service(self, alias: str, environment: Mapping[str, str] | None = None,
                timeout: float = 60) -> str:
        if self._image is None:
            self._image = imagebuild.build(self.service_dir, f"{self.run}-catalogo:1.0.0",
                                        run=self.run).tag
        container, url = containers.run_service(self._image, alias, net=self.network,
                                                run=self.run, environment=environment,
                                                timeout=timeout)
        self._containers.append(container)
        return url

    def prometheus(self, config: str, files: Mapping[str, str] | None = None, *,
                   args: Sequence[str] = (), timeout: float = 30) -> prom.Prometheus:
        p = prom.start(config, files, net=self.network, run=self.run, args=args,
                       timeout=timeout)
        self._containers.append(p.handle)
        return p

    def alertmanager(self, config: str, timeout: float = 30) -> prom.Alertmanager:
        am = prom.start_alertmanager(config, net=self.network, run=self.run, timeout=timeout)
        self._containers.append(am.handle)
        return am

    def promtool(self, *args: str, files: Mapping[str, str]) -> tuple[int, str]:
        return prom.promtool(*args, files=files, run=self.run)

    def amtool(self, *args: str, files: Mapping[str, str]) -> tuple[int, str]:
        return prom.amtool(*args, files=files, run=self.run)

    def close(self) -> None:
        for container in self._containers:
            cdocker.ignore_missing(container.remove, force=True, v=True)
        self._containers.clear()
        if self._net is not None:
            cdocker.ignore_missing(self._net.remove)
            self._net = None


class LocalStack(Stack):
    kind = "local"
    description = "procesos locales (binarios de Prometheus y Alertmanager, uvicorn)"

    def __init__(self, run: str, service_dir: Path, scratch: Path | None = None) -> None:
        super().__init__(run, service_dir)
        self._ports: dict[str, int] = {}
        self._processes: list[processes.Process] = []
        self._own_scratch = scratch is None
        self._scratch = scratch or Path(tempfile.mkdtemp(prefix=f"{run}-prometheus-"))
        self._scratch.mkdir(parents=True, exist_ok=True)

    def address(self, alias: str) -> str:
        if alias not in self._ports:
            self._ports[alias] = processes.free_port()
        return f"127.0.0.1:{self._ports[alias]}"

    def resolve(self, config: str) -> str:
        """Replace ``name:8000`` (and ``alertmanager:9093``…) by local addresses, as the
        Docker network's DNS would resolve them: a configuration written for containers
        (a student's, say) works unchanged."""
        ports = {str(SERVICE_PORT), *map(str, WELL_KNOWN_PORTS.values())}
        return _HOST_PORT.sub(lambda m: self.address(m[1]) if m[2] in ports else m[0], config)

    def _start(self, name: str, command: Sequence[str], ready_url: str, timeout: float, *,
               cwd: Path | None = None,
               environment: Mapping[str, str] | None = None) -> processes.Process:
        process = processes.spawn(name, command, log_dir=self._scratch / "logs", run=self.run,
                                  cwd=cwd, environment=environment)
        self._processes.append(process)
        try:
            processes.wait_http(process, ready_url, timeout=timeout)
        except NotReady:
            process.stop()
            raise
        return process

    def _need(self, name: str) -> str:
        path = binary(name)
        if path is None:
            alerting = name in ("alertmanager", "amtool")
            package = "prometheus-alertmanager" if alerting else "prometheus"
            raise Unavailable(f"No encuentro el binario «{BINARIES[name][0]}» en el PATH "
                              f"(apt-get install {package}).")
        return path

    def service(self, alias: str, environment: Mapping[str, str] | None = None,
                timeout: float = 60) -> str:
        port = self.address(alias).rsplit(":", 1)[1]
        url = f"http://127.0.0.1:{port}"
        self._start(alias, [sys.executable, "-m", "uvicorn", "app.main:app",
                            "--host", "127.0.0.1", "--port", port],
                    f"{url}/health/live", timeout, cwd=self.service_dir,
                    environment=dict(environment or {}))
        return url

    def _folder(self, name: str, files: Mapping[str, str]) -> Path:
        folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self._scratch))
        for rel, content in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(content)
        return folder

    def prometheus(self, config: str, files: Mapping[str, str] | None = None, *,
                   args: Sequence[str] = (), timeout: float = 30) -> prom.Prometheus:
        folder = self._folder("prometheus", {"prometheus.yml": self.resolve(config),
                                             **(files or {})})
        listen = self.address("prometheus")
        url = f"http://{listen}"
        # Rule files are read relative to the configuration file, as in the container.
        process = self._start("prometheus", [
            self._need("prometheus"), f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address={listen}", *args],
            f"{url}/-/ready", timeout)
        return prom.Prometheus(process, url)

    def alertmanager(self, config: str, timeout: float = 30) -> prom.Alertmanager:
        folder = self._folder("alertmanager", {"alertmanager.yml": config})
        listen = self.address("alertmanager")
        url = f"http://{listen}"
        process = self._start("alertmanager", [
            self._need("alertmanager"), f"--config.file={folder / 'alertmanager.yml'}",
            f"--storage.path={folder / 'data'}", f"--web.listen-address={listen}",
            "--cluster.listen-address="], f"{url}/-/ready", timeout)
        return prom.Alertmanager(process, url)

    def _tool(self, name: str, args: Sequence[str], files: Mapping[str, str]) -> tuple[int, str]:
        folder = self._folder(name, files)
        done = subprocess.run([self._need(name), *args], cwd=folder, capture_output=True,
                              text=True, timeout=60, check=False)
        return done.returncode, (done.stdout + done.stderr).strip()

    def promtool(self, *args: str, files: Mapping[str, str]) -> tuple[int, str]:
        return self._tool("promtool", args, files)

    def amtool(self, *args: str, files: Mapping[str, str]) -> tuple[int, str]:
        return self._tool("amtool", args, files)

    def close(self) -> None:
        for process in self._processes:
            process.stop()
        self._processes.clear()
        if self._own_scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)

