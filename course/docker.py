"""Docker boilerplate for notebook cells: connect, name and label per run, run until
healthy, and clean up everything a run created (label ``tema15.run=<run_id>``).
Building images lives in ``course.imagebuild``."""
from __future__ import annotations

import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path

import docker
from docker.errors import APIError, DockerException, NotFound

from course import show, waiting
from course.waiting import NotReady

try:
    import fcntl
except ImportError:  # Windows without WSL: no inter-process lock; builds are rarely parallel there
    fcntl = None

RUN_LABEL = "tema15.run"
NAME_PREFIX = "t15-"


BUILD_LOCK = Path(tempfile.gettempdir()) / "tema15-docker-build.lock"


@contextmanager
def file_lock(path: Path, exclusive: bool = True) -> Iterator[None]:
    """An inter-process lock on ``path`` (flock), held for the ``with`` block; nothing
    where fcntl is missing."""
    if fcntl is None:
        yield
        return
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_lock(exclusive: bool):
    """Builds hold it shared; the sweep of untagged images in ``cleanup`` holds it exclusive,
    so a sweep never deletes the still-untagged stage image of a build in progress (in this
    process or another one on the same machine)."""
    return file_lock(BUILD_LOCK, exclusive)


def _builds_hold_the_lock() -> None:
    """Every ``client.images.build(...)`` in a process that imported the course (a
    student's notebook calls it directly, 15.1) holds the build lock shared for its
    whole duration and removes its intermediate containers, as ``build`` below does."""
    collection = docker.models.images.ImageCollection
    if getattr(collection.build, "_tema15_locked", False):
        return
    original = collection.build

    def build(self, **kwargs):
        # A failed build must not leave its intermediate container behind either: it has
        # no run label, so no cleanup would find it.
        kwargs.setdefault("forcerm", True)
        with build_lock(exclusive=False):
            return original(self, **kwargs)

    build._tema15_locked = True
    build.__doc__ = original.__doc__
    collection.build = build


_builds_hold_the_lock()


class EngineUnavailable(RuntimeError):
    """No Docker engine answers; the message says why and what to do (Spanish)."""


class NotHealthy(NotReady):
    """A container did not become healthy in time; the message includes its logs."""


@lru_cache(maxsize=1)
def client() -> docker.DockerClient:
    """A Docker client that negotiates the API version with the engine."""
    try:
        c = docker.from_env(timeout=120)
        c.ping()
    except DockerException as exc:
        raise EngineUnavailable(
            "No hay un motor Docker disponible: "
            f"{str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__}. "
            "Arranca Docker Desktop o el servicio docker (`sudo systemctl start docker`) "
            "y comprueba con `docker info`."
        ) from None
    return c


def new_run_id() -> str:
    return f"{NAME_PREFIX}{secrets.token_hex(4)}"


@lru_cache(maxsize=1)
def run_id() -> str:
    """This process's run id: ``TEMA15_RUN_ID`` if set (the grader sets it), else new."""
    return os.environ.get("TEMA15_RUN_ID") or new_run_id()


def labels(run: str | None = None, **extra: str) -> dict[str, str]:
    return {RUN_LABEL: run or run_id(), **extra}


def name(suffix: str, run: str | None = None) -> str:
    """A resource name unique to the run, e.g. ``t15-1a2b3c4d-api``."""
    return f"{run or run_id()}-{suffix}"


def wait_healthy(container, timeout: float = 60) -> None:
    """Wait for the Docker HEALTHCHECK to report ``healthy``."""
    def health() -> str:
        container.reload()
        status = container.attrs["State"].get("Health", {}).get("Status", "sin healthcheck")
        if status == "sin healthcheck":
            raise NotHealthy(f"El contenedor {container.name} no define HEALTHCHECK.")
        return status

    try:
        waiting.wait_for(health, until=lambda status: status == "healthy", timeout=timeout,
                         interval=0.5, alive=lambda: container.status not in ("exited", "dead"))
        return
    except NotHealthy:
        raise  # no HEALTHCHECK at all: nothing to wait for
    except NotReady as exc:
        status = exc.last or "?"
    logs = container.logs(tail=30).decode(errors="replace")
    raise NotHealthy(f"El contenedor {container.name} no quedó sano en {timeout:.0f} s "
                     f"(estado: {container.status}, salud: {status}).\n--- registro ---\n{logs}")


def run_until_healthy(image: str, *, suffix: str = "app", run: str | None = None,
                      timeout: float = 60, **kwargs):
    """Start a detached, labelled container and wait until its healthcheck passes.

    Extra keyword arguments go to ``containers.run`` (ports, environment, network…).
    On failure the container is removed and ``NotHealthy`` explains why.
    """
    container = client().containers.run(image, detach=True, name=name(suffix, run),
                                        labels=labels(run), **kwargs)
    try:
        wait_healthy(container, timeout)
    except NotHealthy:
        container.remove(force=True)
        raise
    return container


def host_port(container, port: str = "8000/tcp") -> int:
    container.reload()
    return int(container.ports[port][0]["HostPort"])


def cleanup(run: str | None = None, *, quiet: bool = False,
            since: float | None = None) -> dict[str, int]:
    """Remove containers, networks, volumes and images labelled with the run id, and
    those of a Compose project named after it (Compose labels its own resources).

    ``run=None`` means this process's run; ``run="*"`` means every course run.
    ``since`` (a Unix time): also remove untagged images created after it, such as the
    builder stages that a plain ``client.images.build`` of a multi-stage file leaves.
    """
    c = client()
    selector = RUN_LABEL if run == "*" else f"{RUN_LABEL}={run or run_id()}"
    flt = {"label": selector}
    removed = {"contenedores": 0, "redes": 0, "volúmenes": 0, "imágenes": 0}
    mine = _owned_by(run or run_id()) if run != "*" else _owned_by(None)
    for container in _unique(c.containers.list(all=True, ignore_removed=True, filters=flt),
                             [x for x in c.containers.list(all=True, ignore_removed=True, filters=COMPOSE_FILTER)
                              if mine(x.labels)]):
        ignore_missing(container.remove, force=True, v=True)
        removed["contenedores"] += 1
    for network in _unique(c.networks.list(filters=flt),
                           [x for x in c.networks.list(filters=COMPOSE_FILTER)
                            if mine(x.attrs.get("Labels") or {})]):
        ignore_missing(network.remove)
        removed["redes"] += 1
    for volume in _unique(c.volumes.list(filters=flt),
                          [x for x in c.volumes.list(filters=COMPOSE_FILTER)
                           if mine(x.attrs.get("Labels") or {})]):
        ignore_missing(volume.remove, force=True)
        removed["volúmenes"] += 1
    prefix = NAME_PREFIX if run == "*" else f"{run or run_id()}-"
    named = list_images(c, filters={"reference": f"{prefix}*"})
    # Exclusive: removing an image also removes its untagged parents, which a build of another
    # run may be using as cache at this very moment (seen in parallel test runs: "unknown
    # parent image ID"). Builds hold the lock shared, see build_lock. Only the classic
    # builder makes such parents (and the untagged stage images swept below): BuildKit's
    # images have none and its cache is its own, so with nothing of that kind to remove
    # the cleanup does not wait for the builds of other runs to end.
    built = [i for i in list_images(c, filters=COMPOSE_FILTER) if mine(i.labels or {})]
    labelled = list_images(c, all=True, filters=flt)
    classic = _stage_images(c, since) or any(i.attrs.get("Parent") for i in [*named, *labelled, *built])
    with build_lock(exclusive=True) if classic else nullcontext():
        # Only under the lock: an untagged image that appeared after the decision above is a
        # step of a build of another run in progress (seen in CI: "failed to get digest").
        dangling = _stage_images(c, since) if classic else []
        # Named images may be shared with another run (same cached stage): untag only ours;
        # Docker deletes the image when its last tag goes.
        for image in named:
            for ref in image.tags:
                if ref.startswith(prefix):
                    ignore_missing(c.images.remove, ref)
                    removed["imágenes"] += 1
        _remove_images(c, [*(list_images(c, all=True, filters=flt) if classic else labelled), *built],
                       removed)
        # Untagged a moment ago is not untagged now: a build outside this lock (the docker
        # CLI of a pipeline, 15.5) may have just produced and tagged the same image ID.
        _remove_images(c, dangling, removed, only_if_untagged=True)
    if not quiet:
        summary = ", ".join(f"{n} {kind}" for kind, n in removed.items())
        show.ok(f"Limpieza de {'todas las ejecuciones' if run == '*' else selector}: {summary}.")
    return removed


def remove_images(refs) -> int:
    """Remove images (ids or tags) outside ``cleanup``. Under the exclusive build lock when
    one of them comes from the classic builder: deleting its last tag also deletes the
    untagged parent layers, which a build of another run (same service, same cache) may be
    stepping through right now."""
    refs = list(refs)
    removed = 0
    with build_lock(exclusive=True) if _have_parents(refs) else nullcontext():
        for ref in refs:
            try:
                client().images.remove(ref, force=True)
                removed += 1
            except NotFound:
                pass  # already gone with an earlier tag
            except APIError as exc:
                if exc.status_code != 409:  # 409: still used by a container that is not ours
                    raise
    return removed


def _have_parents(refs: list) -> bool:
    for ref in refs:
        try:
            if client().images.get(ref).attrs.get("Parent"):
                return True
        except NotFound:
            pass
    return False


def _stage_images(c, since: float | None) -> list[str]:
    """Ids of the untagged images created since ``since``: the stages a classic multi-stage
    build leaves (BuildKit leaves none). From the listing alone (``images.list`` inspects
    each one, and another run's cleanup may delete one meanwhile)."""
    if since is None:
        return []
    return [i["Id"] for i in c.api.images(filters={"dangling": True})
            if i["Created"] >= since - 2]  # 2 s: clock granularity


def _remove_images(c, images, removed: dict[str, int], only_if_untagged: bool = False) -> None:
    """Remove images (objects or ids)."""
    for image_id in dict.fromkeys(getattr(i, "id", i) for i in images):
        try:
            if only_if_untagged and c.images.get(image_id).tags:
                continue
            c.images.remove(image_id, force=True)
            removed["imágenes"] += 1
        except NotFound:
            pass
        except APIError as exc:
            if exc.status_code != 409:  # 409: still used by a container that is not ours
                raise


def list_images(c, **kwargs) -> list:
    """``images.list`` inspects each image after listing them: one removed meanwhile by
    another cleanup (another run, a concurrent grading) raises NotFound. List again."""
    for _ in range(5):
        try:
            return c.images.list(**kwargs)
        except NotFound:
            time.sleep(0.2)
    return c.images.list(**kwargs)


COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_FILTER = {"label": COMPOSE_PROJECT}


def _owned_by(run: str | None):
    """Predicate on labels: a Compose project named after the run (or any ``t15-`` run)."""
    def owned(labels: dict) -> bool:
        project = labels.get(COMPOSE_PROJECT, "")
        return project == run if run else project.startswith(NAME_PREFIX)
    return owned


def _unique(*groups):
    seen = {}
    for group in groups:
        for item in group:
            seen.setdefault(item.id, item)
    return list(seen.values())


def ignore_missing(fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except NotFound:
        pass  # already gone: a concurrent cleanup or auto-remove got there first


@contextmanager
def run_scope(run: str | None = None, *, quiet: bool = True) -> Iterator[str]:
    """Yield a fresh run id and remove everything labelled with it on exit, even on error
    (plus the untagged builder stages created meanwhile)."""
    rid = run or new_run_id()
    started = time.time()
    try:
        yield rid
    finally:
        cleanup(rid, quiet=quiet, since=started)
