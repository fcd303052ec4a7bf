"""Detect what this machine can run, once, and say it in Spanish.

Every notebook starts with ``env.show()``; cells that need something call
``env.require(...)`` or use the ``%%requires`` cell magic (see ``course.magics``).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache

from course import show

DOCKER_TIMEOUT_S = 5
REGISTRY_PROBE_URL = "https://registry-1.docker.io/v2/"


@dataclass(frozen=True)
class Capability:
    key: str
    name: str
    available: bool
    detail: str
    how_to: str = ""


class CapabilityMissing(RuntimeError):
    """Raised by ``require`` with a Spanish explanation of what is missing."""


def _run(*cmd: str, timeout: float = 10) -> str | None:
    """Run a command and return its stdout, or None if it is absent or fails."""
    if not shutil.which(cmd[0]):
        return None
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _docker() -> Capability:
    how = ("Instala Docker Desktop (macOS/Windows) o Docker Engine (Linux) y arráncalo; "
           "comprueba con `docker info`. En Binder no hay motor Docker.")
    try:
        import docker

        client = docker.from_env(timeout=DOCKER_TIMEOUT_S)
        info = client.version()
        client.close()
    except Exception as exc:  # any failure means: no usable engine
        reason = str(exc).splitlines()[0][:160] if str(exc) else exc.__class__.__name__
        return Capability("docker", "Motor Docker", False, f"no responde ({reason})", how)
    client_version = _run("docker", "version", "--format", "{{.Client.Version}}") or "SDK"
    detail = (f"servidor {info.get('Version')} (API {info.get('ApiVersion')}), "
              f"cliente {client_version}")
    return Capability("docker", "Motor Docker", True, detail, how)


def _plugin(key: str, name: str, args: tuple[str, ...], how: str) -> Capability:
    out = _run("docker", *args)
    if out:
        return Capability(key, name, True, out.splitlines()[0], how)
    return Capability(key, name, False, "no instalado", how)


def _binary(key: str, name: str, cmd: tuple[str, ...], how: str) -> Capability:
    out = _run(*cmd)
    if out:
        return Capability(key, name, True, out.splitlines()[0][:120], how)
    where = "no está en el PATH" if not shutil.which(cmd[0]) else "no responde"
    return Capability(key, name, False, f"`{cmd[0]}` {where}", how)


def _cluster(kubectl_ok: bool) -> Capability:
    how = ("Crea un clúster local con `kind create cluster --name tema15` "
           "(necesita Docker y kind) y comprueba con `kubectl cluster-info`.")
    if not kubectl_ok and not os.path.exists(os.path.expanduser("~/.kube/config")) \
            and not os.environ.get("KUBECONFIG"):
        return Capability("cluster", "Clúster Kubernetes", False, "sin kubeconfig", how)
    try:
        from kubernetes import client, config

        config.load_kube_config()
        version = client.VersionApi().get_code(_request_timeout=3)
    except Exception as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else exc.__class__.__name__
        return Capability("cluster", "Clúster Kubernetes", False, f"no alcanzable ({reason})", how)
    return Capability("cluster", "Clúster Kubernetes", True, f"Kubernetes {version.git_version}", how)


def _prometheus(docker_ok: bool) -> Capability:
    how = ("Con Docker el curso arranca Prometheus en un contenedor; sin Docker instala el "
           "binario y el de Alertmanager (`apt-get install prometheus prometheus-alertmanager`, "
           "o las descargas oficiales).")
    out = _run("prometheus", "--version")
    if out:
        return Capability("prometheus", "Prometheus", True, f"binario: {out.splitlines()[0]}", how)
    if docker_ok:
        return Capability("prometheus", "Prometheus", True, "en contenedor (vía Docker)", how)
    return Capability("prometheus", "Prometheus", False, "ni binario ni Docker", how)


def _registry() -> Capability:
    how = ("Sin acceso a Docker Hub el curso construye sustitutos locales de las imágenes "
           "(`curso imagenes --offline`); en una red corporativa revisa el proxy.")
    try:
        urllib.request.urlopen(REGISTRY_PROBE_URL, timeout=4)
        reachable = True
    except urllib.error.HTTPError:
        reachable = True  # 401 Unauthorized is the normal answer of a reachable registry
    except Exception:
        reachable = False
    detail = "Docker Hub alcanzable" if reachable else "Docker Hub no alcanzable"
    return Capability("registro", "Registro de imágenes", reachable, detail, how)


def _binder() -> Capability:
    on_binder = bool(os.environ.get("BINDER_LAUNCH_HOST") or os.environ.get("BINDER_REPO_URL"))
    detail = "sí: sin motor Docker, modo estático" if on_binder else "no"
    return Capability("binder", "Binder", on_binder, detail, "")


@lru_cache(maxsize=1)
def detect() -> dict[str, Capability]:
    """Detect every capability once per process (``refresh()`` forgets the result)."""
    docker_cap = _docker()
    kubectl = _kubectl()
    caps = [
        docker_cap,
        _plugin("compose", "Docker Compose v2", ("compose", "version", "--short"),
                "Viene con Docker Desktop; en Linux instala el plugin `docker-compose-plugin`."),
        _plugin("buildx", "BuildKit (buildx)", ("buildx", "version"),
                "Viene con Docker Desktop; en Linux instala el plugin `docker-buildx`."),
        _binary("kind", "kind", ("kind", "version"),
                "Instala kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)."),
        kubectl,
        _cluster(kubectl.available),
        _binary("helm", "Helm", ("helm", "version", "--short"),
                "Instala Helm (https://helm.sh/docs/intro/install/)."),
        _prometheus(docker_cap.available),
        _registry(),
        _binder(),
    ]
    return {cap.key: cap for cap in caps}


def _kubectl() -> Capability:
    how = "Instala kubectl (https://kubernetes.io/docs/tasks/tools/)."
    out = _run("kubectl", "version", "--client=true", "-o", "json")
    if not out:
        return Capability("kubectl", "kubectl", False, "`kubectl` no está en el PATH", how)
    try:
        version = json.loads(out)["clientVersion"]["gitVersion"]
    except (ValueError, KeyError):
        version = "instalado"
    return Capability("kubectl", "kubectl", True, version, how)


def refresh() -> dict[str, Capability]:
    detect.cache_clear()
    return detect()


def has(key: str) -> bool:
    return get(key).available


def get(key: str) -> Capability:
    caps = detect()
    if key not in caps:
        known = ", ".join(sorted(caps))
        raise KeyError(f"Capacidad desconocida: {key!r}. Las conocidas son: {known}.")
    return caps[key]


def missing(*keys: str) -> list[Capability]:
    return [get(k) for k in keys if not get(k).available]


def explain_missing(caps: list[Capability]) -> str:
    lines = [f"- {c.name}: {c.detail}. Cómo conseguirlo: {c.how_to}" for c in caps]
    return "Falta lo necesario para esta parte:\n" + "\n".join(lines)


def require(*keys: str) -> None:
    """Raise ``CapabilityMissing`` (Spanish) unless every capability is present."""
    absent = missing(*keys)
    if absent:
        raise CapabilityMissing(explain_missing(absent))


def show_status() -> None:
    """Print the capability table (rich renders it as HTML inside Jupyter)."""
    rows = [(c.name, "sí" if c.available else "no", c.detail,
             "" if c.available or c.key == "binder" else c.how_to)
            for c in detect().values()]
    show.table("Qué puede ejecutar esta máquina",
               ["Capacidad", "Disponible", "Detalle", "Cómo conseguirla"], rows)
