"""Run a rendered pod spec as a Docker container and probe it as the kubelet would.

On the local control plane (kwok) pods run no containers, so a Deployment that becomes
"available" there proves little. This takes the first container of a Deployment's pod
template — image, command and args, env (ConfigMap and Secret references resolved from
the same rendered objects), ports, user, read-only root filesystem, emptyDir volumes —
runs it in Docker and sends it the HTTP requests of its startup, readiness and liveness
probes. A wrong probe path or port, a user the image cannot run as, or an app that needs
to write to a read-only root filesystem shows up here, on any machine with Docker.
"""
from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field

import httpx

from course import docker as cdocker
from course import show, waiting


PROBE_AFTER_UP_S = 8


class PodSpecError(ValueError):
    """The rendered objects do not hold what this check needs (Spanish message)."""


@dataclass
class ProbeResult:
    kind: str            # startupProbe, readinessProbe, livenessProbe
    path: str
    port: int | None
    status: int | None   # last HTTP status seen (None: no answer)
    ok: bool
    detail: str = ""


@dataclass
class SmokeReport:
    deployment: str
    image: str
    user: str | None
    read_only: bool
    probes: list[ProbeResult] = field(default_factory=list)
    running: bool = False
    logs: str = ""

    @property
    def ok(self) -> bool:
        return self.running and bool(self.probes) and all(p.ok for p in self.probes)

    def rows(self) -> list[tuple]:
        return [(p.kind, p.path, p.port, p.status if p.status is not None else "—",
                 "sí" if p.ok else "no", p.detail) for p in self.probes]


def deployment(objects: list[dict], name: str | None = None) -> dict:
    found = [o for o in objects if o.get("kind") == "Deployment"
             and (name is None or o.get("metadata", {}).get("name") == name)]
    if not found:
        raise PodSpecError("No hay ningún Deployment" + (f" llamado {name}" if name else "")
                           + " entre los objetos generados.")
    return found[0]


def _lookup(objects: list[dict], kind: str, name: str) -> dict:
    for obj in objects:
        if obj.get("kind") == kind and obj.get("metadata", {}).get("name") == name:
            if kind == "Secret":
                data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
                return {**data, **(obj.get("stringData") or {})}
            return dict(obj.get("data") or {})
    raise PodSpecError(f"El contenedor usa el {kind} «{name}», que no está entre los objetos "
                       "generados.")


def resolve_env(container: dict, objects: list[dict]) -> dict[str, str]:
    """The container's environment as the kubelet would set it (envFrom, then env)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            ref = source["configMapRef"]
            data = _optional(objects, "ConfigMap", ref)
        else:
            ref = source["secretRef"]
            data = _optional(objects, "Secret", ref)
        env.update({prefix + k: str(v) for k, v in data.items()})
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        value_from = item.get("valueFrom") or {}
        for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
            if key in value_from:
                ref = value_from[key]
                data = _optional(objects, kind, ref)
                if ref["key"] in data:
                    env[item["name"]] = str(data[ref["key"]])
                elif not ref.get("optional"):
                    raise PodSpecError(f"La variable {item['name']} lee la clave «{ref['key']}» "
                                       f"del {kind} «{ref['name']}», que no la tiene.")
    return env


def _optional(objects, kind, ref) -> dict:
    try:
        return _lookup(objects, kind, ref["name"])
    except PodSpecError:
        if ref.get("optional"):
            return {}
        raise


def port_number(port, container: dict) -> int | None:
    """A probe's or Service's port (a number or a port name) as the container's number."""
    if isinstance(port, int):
        return port
    for item in container.get("ports") or []:
        if item.get("name") == port:
            return int(item["containerPort"])
    return None


def effective_security(pod_spec: dict, container: dict) -> dict:
    """The container's security settings as the kubelet applies them: the pod's
    securityContext, overridden field by field by the container's."""
    return {**(pod_spec.get("securityContext") or {}), **(container.get("securityContext") or {})}


def _user(security: dict) -> str | None:
    uid, gid = security.get("runAsUser"), security.get("runAsGroup")
    if uid is None:
        return None
    return f"{uid}:{gid}" if gid is not None else str(uid)


def run(objects: list[dict], *, image: str | None = None, name: str | None = None,
        run: str | None = None, timeout: float = 60, quiet: bool = False) -> SmokeReport:
    """Run the Deployment's first container in Docker (``image`` replaces the manifest's,
    e.g. a locally built one) and probe it; the container is always removed."""
    dep = deployment(objects, name)
    pod_spec = dep["spec"]["template"]["spec"]
    container = pod_spec["containers"][0]
    ctx = effective_security(pod_spec, container)
    env = resolve_env(container, objects)
    probes = [(kind, container[kind]) for kind in ("startupProbe", "readinessProbe", "livenessProbe")
              if container.get(kind)]
    report = SmokeReport(dep["metadata"]["name"], image or container["image"],
                         _user(ctx), bool(ctx.get("readOnlyRootFilesystem")))
    mounts = {m["mountPath"]: "" for m in container.get("volumeMounts") or []
              if any(v.get("name") == m["name"] and "emptyDir" in v
                     for v in pod_spec.get("volumes") or [])}
    ports = sorted({p for _, spec in probes if "httpGet" in spec
                    for p in [port_number(spec["httpGet"].get("port"), container)] if p})
    c = cdocker.client().containers.run(
        report.image, command=container.get("args"), entrypoint=container.get("command"),
        environment=env, user=report.user, read_only=report.read_only, tmpfs=mounts or None,
        ports={f"{p}/tcp": ("127.0.0.1", None) for p in ports}, detach=True,
        name=cdocker.name(f"pod-{report.deployment}-{int(time.time() * 1000) % 100000}", run),
        labels=cdocker.labels(run), cap_drop=["ALL"] if "ALL" in
        ((ctx.get("capabilities") or {}).get("drop") or []) else None,
        security_opt=["no-new-privileges"] if ctx.get("allowPrivilegeEscalation") is False else None)
    try:
        c.reload()
        published = {int(k.split("/")[0]): int(v[0]["HostPort"])
                     for k, v in (c.attrs["NetworkSettings"]["Ports"] or {}).items() if v}
        deadline = time.monotonic() + timeout
        for kind, spec in probes:
            # Until one probe succeeds, the start-up of the app counts against the whole
            # budget; once it answered, a probe that still fails gets a few seconds only.
            up = any(p.ok for p in report.probes)
            probe_deadline = time.monotonic() + PROBE_AFTER_UP_S if up else \
                max(deadline, time.monotonic() + PROBE_AFTER_UP_S)
            report.probes.append(_probe(kind, spec, container, published, c, probe_deadline))
        c.reload()
        report.running = c.status == "running"
        report.logs = c.logs(tail=30).decode(errors="replace")
    finally:
        cdocker.ignore_missing(c.remove, force=True)
    if not quiet:
        show.table(f"Sondas del pod de {report.deployment}, ejecutado en Docker como lo haría el "
                   "kubelet", ["Sonda", "Ruta", "Puerto", "HTTP", "Superada", "Detalle"],
                   report.rows())
    return report


def _probe(kind: str, spec: dict, container: dict, published: dict, c, deadline: float) -> ProbeResult:
    if "httpGet" not in spec:
        return ProbeResult(kind, "—", None, None, False, "solo se comprueban sondas httpGet")
    http = spec["httpGet"]
    path, port = http.get("path", "/"), port_number(http.get("port"), container)
    if port is None:
        return ProbeResult(kind, path, None, None, False,
                           f"el puerto «{http.get('port')}» no es ningún puerto del contenedor")
    if port not in published:
        return ProbeResult(kind, path, port, None, False, "puerto no publicado")
    url = f"http://127.0.0.1:{published[port]}{path}"
    seen: list[int] = []

    def get() -> int:
        seen.append(httpx.get(url, timeout=spec.get("timeoutSeconds", 1) + 1,
                              trust_env=False).status_code)
        return seen[-1]

    def running() -> bool:
        c.reload()
        return c.status == "running"

    # Like the kubelet: retry until the probe succeeds or the deadline passes (the startup
    # of the container counts against the same deadline).
    try:
        status = waiting.wait_for(get, until=lambda code: 200 <= code < 400, interval=0.5,
                                  errors=(httpx.HTTPError,), alive=running,
                                  timeout=max(0.0, deadline - time.monotonic()))
        return ProbeResult(kind, path, port, status, True, "")
    except waiting.NotReady as exc:
        status = seen[-1] if seen else None
        if exc.gave_up == "terminado":
            return ProbeResult(kind, path, port, status, False,
                               f"el contenedor terminó ({c.attrs['State'].get('ExitCode')})")
        detail = "sin respuesta" if exc.last is None else (
            type(exc.last).__name__ if isinstance(exc.last, BaseException) else f"HTTP {exc.last}")
        return ProbeResult(kind, path, port, status, False, detail)
