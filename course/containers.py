"""Containers for a lesson's small stack (Prometheus, Grafana, the course service…): a
labelled bridge network where they find each other by alias, files copied into them
before they start, ports published on loopback only, and a wait until they answer.

Everything carries the run label and a name starting with the run id, so
``course.cleanup.run(run)`` removes it.
"""
from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Mapping, Sequence

from course import docker as cdocker
from course import processes
from course.waiting import NotReady

SERVICE_PORT = "8000/tcp"
NOBODY = 65534  # Prometheus, Alertmanager and Grafana run as nobody: files must be readable


def network(run: str | None = None, suffix: str = "metricas"):
    """A user-defined bridge network (containers find each other by name or alias)."""
    return cdocker.client().networks.create(cdocker.name(suffix, run), driver="bridge",
                                            labels=cdocker.labels(run))


def put_files(container, directory: str, files: Mapping[str, str | bytes],
              uid: int = NOBODY) -> None:
    """Copy text files into a (created, not necessarily started) container."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        dirs = sorted({"/".join(rel.split("/")[:i]) for rel in files
                       for i in range(1, rel.count("/") + 1)})
        for rel in dirs:
            info = tarfile.TarInfo(rel)
            info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, 0o755, uid, uid
            tar.addfile(info)
        for rel, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.uid, info.gid = len(data), 0o644, uid, uid
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    container.put_archive(directory, buffer.getvalue())


def create(image: str, *, suffix: str, run: str | None, net, alias: str | None,
           ports: Sequence[str], **kwargs):
    """A created (not started) container named and labelled for ``run``, on ``net`` as
    ``alias``, with ``ports`` published on a free loopback port each."""
    client = cdocker.client()
    networking = None
    if net is not None and alias:
        networking = {net.name: client.api.create_endpoint_config(aliases=[alias])}
    return client.containers.create(
        image, name=cdocker.name(suffix, run), labels=cdocker.labels(run),
        network=net.name if net is not None else None, networking_config=networking,
        ports={p: ("127.0.0.1", None) for p in ports}, **kwargs)


def loopback_url(container, port: str) -> str:
    """``http://127.0.0.1:<published port>`` for a container's ``port``."""
    return f"http://127.0.0.1:{cdocker.host_port(container, port)}"


def wait_http(container, url: str, *, timeout: float = 40, expect: int = 200) -> None:
    """Poll ``url`` until it answers ``expect``; fail early (with logs) if the container dies."""
    def alive() -> bool:
        container.reload()
        return container.status not in ("exited", "dead")

    last = processes.poll_http(url, alive=alive, timeout=timeout, expect=expect)
    if last is None:
        return
    logs = container.logs(tail=25).decode(errors="replace")
    raise NotReady(f"{container.name} no respondió en {url} ({last}; estado: "
                   f"{container.status}).\n--- últimas líneas del registro ---\n{logs}")


def run_service(image: str, alias: str, *, net, run: str | None = None,
                environment: Mapping[str, str] | None = None, timeout: float = 40):
    """Start one service container on ``net`` (reachable there as ``alias:8000``),
    published on a free loopback port; wait until /health/live answers.

    Returns ``(container, base_url)``; the container is removed if it does not start."""
    container = create(image, suffix=alias, run=run, net=net, alias=alias,
                       ports=[SERVICE_PORT], environment=dict(environment or {}))
    container.start()
    try:
        base = loopback_url(container, SERVICE_PORT)
        wait_http(container, f"{base}/health/live", timeout=timeout)
    except Exception:
        container.remove(force=True, v=True)
        raise
    return container, base
