"""A local image registry (CNCF Distribution, ``registry:2``) for notebooks, labs and the
grader, and read-only helpers over its HTTP API v2.

``start`` runs the course's ``registry`` image (official, or the local stand-in) on a free
port of 127.0.0.1, labelled with the run id, and waits until ``GET /v2/`` answers. The
Docker engine treats 127.0.0.0/8 as an insecure (plain HTTP) registry, so pushes to
``127.0.0.1:PORT/name:tag`` work without TLS or extra engine configuration.

The query helpers speak the registry API directly with httpx:
``GET /v2/<name>/tags/list`` for tags, and ``HEAD``/``GET /v2/<name>/manifests/<ref>`` with
an ``Accept`` header listing the manifest media types we understand. Without that header a
registry may answer with an old schema 1 manifest (and a digest that matches nothing).
"""
from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass

import bcrypt
import httpx

from course import docker as cdocker
from course import images, processes, waiting

INTERNAL_PORT = "5000/tcp"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
HTTP_TIMEOUT_S = 10
HTPASSWD_PATH = "/etc/docker/registry/htpasswd"


class RegistryError(RuntimeError):
    """The registry could not be started or did not answer (Spanish message)."""


@dataclass
class Registry:
    host: str                 # "127.0.0.1:PORT": the prefix of image references
    container: object = None  # the docker container, when this process started it

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def repository(self, name: str) -> str:
        """The full repository reference for ``docker tag``/``push``, e.g. 127.0.0.1:5123/app."""
        return f"{self.host}/{name}"


def start(run: str | None = None, *, suffix: str = "registro", timeout: float = 30,
          users: dict[str, str] | None = None, read_only: bool = False) -> Registry:
    """Start a labelled registry container on a free local port and wait until it answers.

    ``users`` (name -> password) turns on Distribution's htpasswd authentication: every
    request then needs a ``docker login``. The htpasswd file (bcrypt hashes, the only
    kind Distribution accepts) is copied into the container, so no host path is shared.

    ``read_only`` turns on Distribution's read-only maintenance mode: pulls and the API
    work, every push is refused (HTTP 405), as during a storage migration."""
    reference = images.ensure("registry")
    environment = {}
    if users:
        environment = {"REGISTRY_AUTH": "htpasswd", "REGISTRY_AUTH_HTPASSWD_REALM": "tema15",
                       "REGISTRY_AUTH_HTPASSWD_PATH": HTPASSWD_PATH}
    if read_only:  # config override: storage.maintenance.readonly.enabled = true
        environment["REGISTRY_STORAGE_MAINTENANCE_READONLY"] = '{"enabled": true}'
    container = cdocker.client().containers.create(
        reference, detach=True, name=cdocker.name(suffix, run), labels=cdocker.labels(run),
        environment=environment, ports={INTERNAL_PORT: ("127.0.0.1", None)})  # None: free port
    try:
        if users:
            container.put_archive("/", _htpasswd_archive(users))
        container.start()
        host = f"127.0.0.1:{_published_port(container, timeout)}"
        wait_ready(host, timeout, auth=bool(users))
    except RegistryError:
        logs = container.logs(tail=20).decode(errors="replace")
        container.remove(force=True, v=True)
        raise RegistryError(f"El registro no arrancó en {timeout:.0f} s.\n"
                            f"--- registro ---\n{logs}") from None
    return Registry(host, container)


def htpasswd(users: dict[str, str]) -> str:
    """An htpasswd file with bcrypt hashes, as ``htpasswd -Bbn`` writes it."""
    return "".join(f"{name}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()}\n"
                   for name, password in users.items())


def _htpasswd_archive(users: dict[str, str]) -> bytes:
    data = htpasswd(users).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(HTPASSWD_PATH.lstrip("/"))
        info.size, info.mode = len(data), 0o644
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _published_port(container, timeout: float) -> int:
    def bindings() -> list[dict] | None:
        container.reload()
        return (container.ports or {}).get(INTERNAL_PORT)
    try:
        found = waiting.wait_for(bindings, timeout=timeout,
                                 alive=lambda: container.status != "exited")
    except waiting.NotReady:
        raise RegistryError("El contenedor del registro no publicó su puerto.") from None
    return int(found[0]["HostPort"])


def wait_ready(host: str, timeout: float = 30, *, auth: bool = False) -> None:
    """Poll ``GET /v2/`` until the registry answers 200 (API version check), or 401 with
    a ``WWW-Authenticate`` challenge when it requires authentication."""
    if auth:
        def challenged() -> bool:
            try:
                reply = httpx.get(f"http://{host}/v2/", timeout=HTTP_TIMEOUT_S)
            except httpx.HTTPError:
                return False
            return reply.status_code == 401 and "www-authenticate" in reply.headers
        try:
            waiting.wait_for(challenged, timeout=timeout)
        except waiting.NotReady:
            raise RegistryError(f"El registro {host} no pide credenciales en /v2/.") from None
        return
    last = processes.poll_http(f"http://{host}/v2/", alive=lambda: True, timeout=timeout)
    if last is not None:
        raise RegistryError(f"El registro {host} no responde en /v2/ ({last}).")


def catalog(host: str) -> list[str]:
    """Repositories in the registry (``GET /v2/_catalog``)."""
    response = httpx.get(f"http://{host}/v2/_catalog", timeout=HTTP_TIMEOUT_S)
    response.raise_for_status()
    return sorted(response.json().get("repositories") or [])


def tags(host: str, repository: str) -> list[str]:
    """Tags of a repository (``GET /v2/<name>/tags/list``); [] if it does not exist."""
    response = httpx.get(f"http://{host}/v2/{repository}/tags/list", timeout=HTTP_TIMEOUT_S)
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return sorted(response.json().get("tags") or [])


def digest(host: str, repository: str, reference: str) -> str | None:
    """The manifest digest a tag resolves to (``Docker-Content-Digest``), None if absent."""
    response = httpx.head(f"http://{host}/v2/{repository}/manifests/{reference}",
                          headers={"Accept": MANIFEST_ACCEPT}, timeout=HTTP_TIMEOUT_S)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.headers.get("Docker-Content-Digest")


def manifest(host: str, repository: str, reference: str) -> dict:
    """The manifest of a tag or digest, as JSON (with its media type)."""
    response = httpx.get(f"http://{host}/v2/{repository}/manifests/{reference}",
                         headers={"Accept": MANIFEST_ACCEPT}, timeout=HTTP_TIMEOUT_S)
    response.raise_for_status()
    return response.json()


def image_config(host: str, repository: str, reference: str) -> dict:
    """The image configuration blob (``config`` of the manifest): labels, env, history…"""
    doc = manifest(host, repository, reference)
    if doc.get("mediaType") in (DOCKER_LIST, OCI_INDEX):  # multi-platform: take the first
        doc = manifest(host, repository, doc["manifests"][0]["digest"])
    response = httpx.get(f"http://{host}/v2/{repository}/blobs/{doc['config']['digest']}",
                         timeout=HTTP_TIMEOUT_S, follow_redirects=True)
    response.raise_for_status()
    return json.loads(response.content)


def labels(host: str, repository: str, reference: str) -> dict[str, str]:
    """The image labels (``LABEL`` and ``--label``) as stored in the registry."""
    return image_config(host, repository, reference).get("config", {}).get("Labels") or {}


def tag_digests(host: str, repository: str) -> dict[str, str | None]:
    """Every tag of a repository mapped to the digest it resolves to."""
    return {tag: digest(host, repository, tag) for tag in tags(host, repository)}
