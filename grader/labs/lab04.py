"""Lab 04 (15.4): a Helm chart for the catalogue and two Kustomize overlays.

The grader renders the student's chart and overlays with the real tools (helm, kubectl
kustomize), validates every object against the Kubernetes 1.35 schemas in strict mode,
runs the rendered pod spec as a Docker container and probes it as the kubelet would, and
then, against a real API server (kind, or the course's local control plane), installs
the chart ITSELF in namespaces of its own: an install and a configuration upgrade that
must roll the pods, a broken upgrade that must stall and a ``helm rollback`` that must
restore the previous revision, and the prod overlay applied server-side. It never relies
on what the notebook left behind; its namespaces carry the run label and are deleted by
the grader's cleanup."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import kubernetes_validate
import yaml

from course import imagebuild
from course import k8s, pod_smoke
from grader.checks import NotVerifiable, check
from grader.labs._cluster import ensure_cluster

CHART = Path("chart") / "catalogo"
OVERLAYS = Path("kustomize") / "overlays"
K8S_SCHEMA_VERSION = "1.35"
RELEASE = "catalogo"
EXPECTED_REPLICAS = 2                 # values.yaml, as the task asks
PROD = {"replicas": 4, "tag": "1.1.0", "memory": "512Mi", "cpu": "1", "log_level": "WARNING",
        "prefix": "prod-"}
DEV = {"replicas": 1, "tag": "1.0.0", "log_level": "DEBUG", "environment": "development"}
HEALTH = {"readinessProbe": "/health/ready", "livenessProbe": "/health/live"}
DEFAULT_CONFIG = {"ENVIRONMENT": "production", "LOG_LEVEL": "INFO"}
OTHER_RELEASE = "corrector"           # a second release name: names must come from the helper
RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"},
             "limits": {"cpu": "500m", "memory": "256Mi"}}
PROD_REQUESTS = {"cpu": "250m", "memory": "256Mi"}
TRUE_VALUES = ("true", "1", "yes", "on")
BAD_UPGRADE_TIMEOUT = "20s"
WAIT_TIMEOUT = "90s"


before_execution = ensure_cluster  # a cluster for the notebook and the checks


# --- facts shared by several checks ----------------------------------------------------

def _chart(ctx) -> Path:
    chart = ctx.workdir / CHART
    assert (chart / "Chart.yaml").exists(), (f"No encuentro el chart en {CHART}/ (falta "
                                             "Chart.yaml): el laboratorio debe escribirlo ahí.")
    return chart


def render(ctx, *sets: str) -> list[dict]:
    """``helm template`` of the student's chart with ``--set`` values (memoized)."""
    def compute():
        args = ["template", RELEASE, str(_chart(ctx))]
        for item in sets:
            args += ["--set", item]
        result = k8s.helm(*args, echo=False, check=False, timeout=60)
        assert result.returncode == 0, ("`helm template` no genera los manifiestos"
                                        + (f" con --set {' '.join(sets)}" if sets else "")
                                        + f":\n{result.stderr.strip()[-1500:]}")
        return k8s.objects(result.stdout)
    return ctx.memo(f"render:{'|'.join(sets)}", compute)


def _one(objects: list[dict], kind: str, source: str = "El chart") -> dict:
    found = [o for o in objects if o.get("kind") == kind]
    assert found, f"{source} no genera ningún {kind}."
    assert len(found) == 1, f"{source} genera {len(found)} objetos {kind}; se espera uno."
    return found[0]


def _container(objects: list[dict]) -> dict:
    containers = _one(objects, "Deployment")["spec"]["template"]["spec"].get("containers") or []
    assert containers, "El Deployment no tiene contenedores."
    return containers[0]


def _env(container: dict, objects: list[dict]) -> dict[str, str]:
    """The container's environment, ConfigMap and Secret references resolved."""
    try:
        return pod_smoke.resolve_env(container, objects)
    except pod_smoke.PodSpecError as exc:
        raise AssertionError(str(exc)) from None


def kustomize(ctx, overlay: str) -> list[dict]:
    def compute():
        path = ctx.workdir / OVERLAYS / overlay
        assert (path / "kustomization.yaml").exists(), (
            f"Falta {OVERLAYS / overlay / 'kustomization.yaml'}.")
        result = k8s.kubectl("kustomize", str(path), echo=False, check=False, timeout=60)
        assert result.returncode == 0, (f"`kubectl kustomize` no genera el overlay {overlay}:\n"
                                        f"{result.stderr.strip()[-1500:]}")
        return k8s.objects(result.stdout)
    return ctx.memo(f"kustomize:{overlay}", compute)


def _cluster() -> k8s.Cluster:
    cluster = k8s.find()
    if cluster is None:
        raise NotVerifiable(f"el clúster dejó de responder ({k8s.why_none()})")
    return cluster


def _namespace(cluster: k8s.Cluster, run: str, suffix: str) -> str:
    """The check's own namespace; a cluster that stopped answering makes the check
    unverifiable (never passed, never the student's fault)."""
    try:
        return cluster.namespace(run, suffix)
    except k8s.CommandFailed as exc:
        if k8s.find() is None:
            raise NotVerifiable(f"el clúster dejó de responder ({k8s.why_none()})") from None
        raise NotVerifiable(f"el clúster no deja crear un espacio de nombres: {exc}") from None


def _cluster_image(ctx, cluster: k8s.Cluster) -> str | None:
    """On a cluster with real nodes the grader builds the service and loads the image;
    on the local control plane no container runs, so the manifests' own image is kept."""
    if not cluster.pods:
        return None
    def build():
        tag = f"{ctx.run_id}-catalogo:1.0.0"
        imagebuild.build(ctx.service_dir, tag, run=ctx.run_id, quiet=True)
        cluster.load_image(tag)
        return tag
    return ctx.memo("cluster_image", build)


def _image_sets(ctx, cluster: k8s.Cluster) -> list[str]:
    """--set arguments that point the chart at the grader's image (the chart must honour
    image.repository and image.tag), or none."""
    image = _cluster_image(ctx, cluster)
    if image is None:
        return []
    repo, tag = image.rsplit(":", 1)
    return ["--set", f"image.repository={repo}", "--set", f"image.tag={tag}"]


def _helm(cluster, ns: str, *args: str):
    """helm in the check's namespace; the caller judges the exit code."""
    return cluster.helm(*args, namespace=ns, echo=False, check=False, timeout=180)


def _install(ctx, cluster, ns: str, *extra: str) -> None:
    result = _helm(cluster, ns, "install", RELEASE, str(_chart(ctx)), "--wait", "--timeout",
                   WAIT_TIMEOUT, *_image_sets(ctx, cluster), *extra)
    assert result.returncode == 0, ("`helm install` en el clúster no termina bien:\n"
                                    f"{result.stderr.strip()[-1500:]}")


def _deployment_status(cluster, ns: str) -> dict:
    """The namespace's Deployment as the API server sees it, and how many ReplicaSets
    (revisions of its pod template) it owns."""
    from kubernetes import client

    with cluster.api() as api:
        apps = client.AppsV1Api(api)
        items = apps.list_namespaced_deployment(ns).items
        assert items, "No hay ningún Deployment en el clúster."
        dep = items[0]
        replica_sets = [rs for rs in apps.list_namespaced_replica_set(ns).items
                        if any(o.uid == dep.metadata.uid for o in rs.metadata.owner_references or [])]
        return {"want": dep.spec.replicas or 0,
                "available": dep.status.available_replicas or 0,
                "template": api.sanitize_for_serialization(dep.spec.template),
                "replica_sets": len(replica_sets)}


# --- the chart -------------------------------------------------------------------------

@check("chart.lint", points=1, needs=("helm",))
def chart_lints(ctx):
    """`helm lint --strict` acepta el chart."""
    result = k8s.helm("lint", "--strict", str(_chart(ctx)), echo=False, check=False, timeout=60)
    assert result.returncode == 0, ("`helm lint --strict` encuentra problemas:\n"
                                    f"{(result.stdout + result.stderr).strip()[-1500:]}")


@check("chart.valido", points=2, needs=("helm",))
def chart_renders_valid_objects(ctx):
    """El chart genera un Deployment, un Service y un ConfigMap válidos para Kubernetes 1.35 (modo estricto)."""
    objects = render(ctx)
    for kind in ("Deployment", "Service", "ConfigMap"):
        _one(objects, kind)
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, K8S_SCHEMA_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path) or "(raíz)"
            raise AssertionError(f"{obj['kind']} {obj.get('metadata', {}).get('name')}: "
                                 f"{exc.message} (en {where})") from None


@check("chart.selector", points=1, needs=("helm",))
def selector_matches_pods(ctx):
    """El selector del Deployment y el del Service coinciden con las etiquetas de los pods."""
    objects = render(ctx)
    dep, svc = _one(objects, "Deployment"), _one(objects, "Service")
    pod_labels = dep["spec"]["template"]["metadata"].get("labels") or {}
    match = dep["spec"]["selector"].get("matchLabels") or {}
    assert match and match.items() <= pod_labels.items(), (
        f"selector.matchLabels {match} no está contenido en las etiquetas del pod {pod_labels}.")
    selector = svc["spec"].get("selector") or {}
    assert selector and selector.items() <= pod_labels.items(), (
        f"El Service selecciona {selector}, pero los pods llevan {pod_labels}: no tendría "
        "endpoints.")
    target = next(iter(svc["spec"].get("ports") or [{}])).get("targetPort")
    assert pod_smoke.port_number(target, _container(objects)) == 8000, (
        f"El Service envía al puerto «{target}», que no es el 8000 del contenedor.")


@check("chart.estrategia", points=1, needs=("helm",))
def rolling_update_keeps_capacity(ctx):
    """Actualización RollingUpdate con maxSurge 1 y maxUnavailable 0: nunca menos pods listos que los pedidos."""
    strategy = _one(render(ctx), "Deployment")["spec"].get("strategy") or {}
    rolling = strategy.get("rollingUpdate") or {}
    assert strategy.get("type", "RollingUpdate") == "RollingUpdate", (
        f"La estrategia es {strategy.get('type')}: Recreate para todos los pods a la vez.")
    assert str(rolling.get("maxUnavailable")) == "0", (
        f"maxUnavailable es {rolling.get('maxUnavailable')!r} (por defecto 25 %): con 0 ningún pod "
        "sano se retira hasta que el nuevo esté listo.")
    assert str(rolling.get("maxSurge")) == "1", (
        f"maxSurge es {rolling.get('maxSurge')!r}; la tarea pide 1 (un pod extra cada vez).")


@check("chart.parametros", points=2, needs=("helm",))
def values_drive_image_and_replicas(ctx):
    """La imagen, su política y las réplicas salen de values.yaml (appVersion, IfNotPresent, 2) y se cambian con --set."""
    chart = yaml.safe_load((_chart(ctx) / "Chart.yaml").read_text())
    default = _one(render(ctx), "Deployment")
    image = _container(render(ctx))["image"]
    assert image.endswith(f":{chart.get('appVersion')}"), (
        f"Sin --set, la imagen es «{image}»: con image.tag vacío debe usar el appVersion "
        f"del chart ({chart.get('appVersion')}).")
    assert default["spec"].get("replicas") == EXPECTED_REPLICAS, (
        f"values.yaml debe pedir {EXPECTED_REPLICAS} réplicas; el Deployment tiene "
        f"{default['spec'].get('replicas')}.")
    policy = _container(render(ctx)).get("imagePullPolicy")
    assert policy == "IfNotPresent", (f"imagePullPolicy es {policy!r}; values.yaml pide "
                                      "IfNotPresent (usa la imagen del nodo si ya está).")
    sets = ("image.repository=registro.local/catalogo", "image.tag=9.8.7", "replicaCount=4")
    changed = render(ctx, *sets)
    image = _container(changed)["image"]
    assert image == "registro.local/catalogo:9.8.7", (
        f"Con --set image.repository/image.tag la imagen es «{image}»: ¿está fija en la plantilla?")
    assert _one(changed, "Deployment")["spec"].get("replicas") == 4, (
        "--set replicaCount=4 no cambia las réplicas del Deployment.")


@check("chart.sondas", points=2, needs=("helm",))
def probes_hit_health_routes(ctx):
    """Sondas HTTP de disponibilidad en /health/ready y de vida en /health/live, al puerto 8000."""
    container = _container(render(ctx))
    for kind, path in HEALTH.items():
        http = (container.get(kind) or {}).get("httpGet")
        assert http, f"Falta {kind} con httpGet."
        assert http.get("path") == path, f"{kind} pide {http.get('path')}; debe pedir {path}."
        assert pod_smoke.port_number(http.get("port"), container) == 8000, (
            f"{kind} usa el puerto «{http.get('port')}», que no es el 8000 del contenedor.")


@check("chart.seguridad", points=2, needs=("helm",))
def runs_unprivileged(ctx):
    """El pod corre sin root (UID 1001), sin escalar privilegios, con la raíz de solo lectura y /tmp en un emptyDir."""
    objects = render(ctx)
    pod = _one(objects, "Deployment")["spec"]["template"]["spec"]
    sec = pod_smoke.effective_security(pod, _container(objects))
    assert sec.get("runAsNonRoot") is True, "Falta runAsNonRoot: true."
    assert sec.get("runAsUser") == 1001, (f"runAsUser es {sec.get('runAsUser')}: la imagen usa "
                                          "el UID 1001 (USER del Dockerfile).")
    assert sec.get("allowPrivilegeEscalation") is False, "Falta allowPrivilegeEscalation: false."
    assert sec.get("readOnlyRootFilesystem") is True, "Falta readOnlyRootFilesystem: true."
    empty = {v["name"] for v in pod.get("volumes") or [] if "emptyDir" in v}
    mounts = {m["mountPath"] for m in _container(objects).get("volumeMounts") or []
              if m["name"] in empty}
    assert "/tmp" in mounts, "Con la raíz de solo lectura, monta un emptyDir en /tmp."


@check("chart.recursos", points=1, needs=("helm",))
def resources_from_values(ctx):
    """Peticiones (100m, 128Mi) y límites (500m, 256Mi) de CPU y memoria, tomados de values.yaml."""
    resources = _container(render(ctx)).get("resources") or {}
    for part in ("requests", "limits"):
        for res in ("cpu", "memory"):
            got = str((resources.get(part) or {}).get(res) or "")
            assert got, f"Falta resources.{part}.{res}."
            assert got == RESOURCES[part][res], (f"resources.{part}.{res} es {got}; la tarea "
                                                 f"pide {RESOURCES[part][res]}.")
    changed = _container(render(ctx, "resources.limits.memory=300Mi")).get("resources") or {}
    assert changed.get("limits", {}).get("memory") == "300Mi", (
        "--set resources.limits.memory=300Mi no cambia el límite: los recursos deben salir "
        "de .Values.resources.")


@check("chart.configuracion", points=2, needs=("helm",))
def config_map_rolls_pods(ctx):
    """LOG_LEVEL y ENVIRONMENT llegan del ConfigMap y cambiar config.logLevel cambia la plantilla del pod."""
    base, debug = render(ctx), render(ctx, "config.logLevel=DEBUG")
    data = _one(base, "ConfigMap").get("data") or {}
    assert "LOG_LEVEL" in data and "ENVIRONMENT" in data, (
        f"El ConfigMap debe tener LOG_LEVEL y ENVIRONMENT; tiene {sorted(data)}.")
    assert (_one(debug, "ConfigMap").get("data") or {}).get("LOG_LEVEL") == "DEBUG", (
        "--set config.logLevel=DEBUG no llega al ConfigMap.")
    env = _env(_container(debug), debug)
    assert env.get("LOG_LEVEL") == "DEBUG", ("El contenedor no toma LOG_LEVEL del ConfigMap "
                                             "(envFrom o valueFrom.configMapKeyRef).")
    before = _one(base, "Deployment")["spec"]["template"]
    after = _one(debug, "Deployment")["spec"]["template"]
    assert before != after, (
        "Cambiar la configuración no cambia la plantilla del pod, así que los pods no se "
        "renuevan y siguen con el valor viejo: añade una anotación checksum/config.")


@check("chart.config_defecto", points=1, needs=("helm",))
def default_config(ctx):
    """Sin --set, el ConfigMap lleva ENVIRONMENT=production y LOG_LEVEL=INFO (los de values.yaml)."""
    data = _one(render(ctx), "ConfigMap").get("data") or {}
    wrong = {key: data.get(key) for key, value in DEFAULT_CONFIG.items() if data.get(key) != value}
    assert not wrong, (f"Con los valores por defecto el ConfigMap tiene {wrong}; values.yaml debe "
                       "pedir config.environment: production y config.logLevel: INFO.")


@check("chart.nombres", points=1, needs=("helm",))
def names_and_labels_from_helpers(ctx):
    """El Deployment y el ConfigMap se llaman con `catalogo.fullname` y llevan `catalogo.labels`, como el Service dado."""
    for release in (RELEASE, OTHER_RELEASE):  # another release: a hard-coded name shows up
        objects = _render_as(ctx, release)
        service = _one(objects, "Service")
        name, labels = service["metadata"]["name"], service["metadata"].get("labels") or {}
        for kind in ("Deployment", "ConfigMap"):
            meta = _one(objects, kind)["metadata"]
            assert meta.get("name") == name, (
                f"Con la release «{release}» el {kind} se llama «{meta.get('name')}» y el Service "
                f"«{name}»: usa name: {{{{ include \"catalogo.fullname\" . }}}}.")
            missing = sorted(set(labels.items()) - set((meta.get("labels") or {}).items()))
            assert not missing, (f"Al {kind} le faltan las etiquetas {dict(missing)}: añade "
                                 "{{- include \"catalogo.labels\" . | nindent 4 }} en metadata.labels.")


def _render_as(ctx, release: str) -> list[dict]:
    """``helm template`` under another release name (memoized)."""
    if release == RELEASE:
        return render(ctx)

    def compute():
        result = k8s.helm("template", release, str(_chart(ctx)), echo=False, check=False, timeout=60)
        assert result.returncode == 0, (f"`helm template {release}` no genera los manifiestos:\n"
                                        f"{result.stderr.strip()[-1500:]}")
        return k8s.objects(result.stdout)
    return ctx.memo(f"release:{release}", compute)


@check("chart.fallo", points=1, needs=("helm",))
def fault_value_reaches_container(ctx):
    """FAULT_READINESS_FAIL es una variable literal del contenedor: false por defecto, true con fault.readinessFail=true."""
    def literal(objects):
        for item in _container(objects).get("env") or []:
            if item.get("name") == "FAULT_READINESS_FAIL":
                return str(item.get("value", "")).lower()
        return None
    broken = literal(render(ctx, "fault.readinessFail=true"))
    assert broken in TRUE_VALUES, (
        "Con --set fault.readinessFail=true el contenedor no lleva la variable literal "
        f"FAULT_READINESS_FAIL=true en env (tiene {broken!r}).")
    healthy = literal(render(ctx))
    assert healthy not in TRUE_VALUES, "Por defecto FAULT_READINESS_FAIL debe ser false."


@check("contenedor.sondas", points=2, needs=("helm", "docker"))
def pod_spec_runs_in_docker(ctx):
    """El pod generado, ejecutado en Docker con su usuario, su entorno y su raíz de solo lectura, supera sus sondas."""
    objects = render(ctx)
    tag = ctx.memo("smoke_image", lambda: imagebuild.build(
        ctx.service_dir, f"{ctx.run_id}-catalogo:lab04", run=ctx.run_id, quiet=True).tag)
    try:
        report = pod_smoke.run(objects, image=tag, run=ctx.run_id, timeout=45, quiet=True)
    except pod_smoke.PodSpecError as exc:
        raise AssertionError(str(exc)) from None
    failed = [f"{p.kind} {p.path}:{p.port} → {p.detail or p.status}" for p in report.probes
              if not p.ok]
    assert report.probes, "El contenedor no tiene sondas httpGet que probar."
    assert not failed and report.running, (
        "El pod, ejecutado como lo haría el kubelet, no supera sus sondas: " + "; ".join(failed)
        + (f"\n--- últimas líneas del contenedor ---\n{report.logs.strip()[-800:]}"
           if report.logs.strip() else ""))


# --- the chart in a real cluster -------------------------------------------------------

@check("cluster.instalar", points=2, needs=("cluster", "helm"))
def install_and_upgrade(ctx):
    """`helm install` deja el Deployment disponible y cambiar la configuración con `helm upgrade` renueva los pods."""
    cluster = _cluster()
    ns = _namespace(cluster, ctx.run_id, "instalar")
    _install(ctx, cluster, ns)
    first = _deployment_status(cluster, ns)
    assert first["available"] == first["want"] == EXPECTED_REPLICAS, (
        f"Tras instalar, {first['available']} de {first['want']} réplicas disponibles.")
    result = _helm(cluster, ns, "upgrade", RELEASE, str(_chart(ctx)), "--wait", "--timeout",
                   WAIT_TIMEOUT, *_image_sets(ctx, cluster), "--set", "config.logLevel=DEBUG")
    assert result.returncode == 0, f"`helm upgrade` falla:\n{result.stderr.strip()[-1500:]}"
    second = _deployment_status(cluster, ns)
    assert second["replica_sets"] > first["replica_sets"], (
        "Tras cambiar config.logLevel con `helm upgrade` los pods no se renuevan (no hay un "
        "ReplicaSet nuevo): siguen con la configuración vieja.")


@check("cluster.rollback", points=3, needs=("cluster", "helm"))
def broken_upgrade_stalls_and_rolls_back(ctx):
    """Una versión rota (fault.readinessFail=true) no se da por buena y `helm rollback` vuelve a la revisión anterior."""
    cluster = _cluster()
    ns = _namespace(cluster, ctx.run_id, "rollback")
    _install(ctx, cluster, ns)
    broken = _helm(cluster, ns, "upgrade", RELEASE, str(_chart(ctx)), "--wait", "--timeout",
                   BAD_UPGRADE_TIMEOUT, *_image_sets(ctx, cluster), "--set",
                   "fault.readinessFail=true")
    assert broken.returncode != 0, (
        "La actualización con fault.readinessFail=true se dio por buena: los pods nuevos "
        "deberían quedarse sin estar listos (¿llega FAULT_READINESS_FAIL al contenedor? ¿la "
        "sonda de disponibilidad mira /health/ready? ¿maxUnavailable deja caer pods sanos?).")
    status = _deployment_status(cluster, ns)
    assert status["available"] >= 1, ("Durante la actualización rota no quedó ninguna réplica "
                                      "disponible: la estrategia debe mantener pods sanos.")
    result = _helm(cluster, ns, "rollback", RELEASE, "1", "--wait", "--timeout", WAIT_TIMEOUT)
    assert result.returncode == 0, f"`helm rollback` falla:\n{result.stderr.strip()[-1500:]}"
    restored = _deployment_status(cluster, ns)
    env = {e.get("name"): str(e.get("value", "")).lower()
           for c in restored["template"]["spec"]["containers"] for e in c.get("env") or []}
    assert env.get("FAULT_READINESS_FAIL") not in TRUE_VALUES, (
        "Tras el rollback la plantilla sigue siendo la de la versión rota.")
    assert restored["available"] == restored["want"], (
        f"Tras el rollback, {restored['available']} de {restored['want']} réplicas disponibles.")


# --- Kustomize -------------------------------------------------------------------------

def _kdeployment(objects: list[dict]) -> dict:
    return _one(objects, "Deployment", "El overlay")


def _kconfig(objects: list[dict], dep: dict) -> tuple[str, dict]:
    maps = [o for o in objects if o.get("kind") == "ConfigMap"]
    assert maps, "El overlay no genera ningún ConfigMap."
    env = _env(dep["spec"]["template"]["spec"]["containers"][0], objects)
    used = [m for m in maps if m["metadata"]["name"] in yaml.safe_dump(dep["spec"]["template"])]
    assert used, "El Deployment no usa el ConfigMap generado (¿nombre sin el sufijo hash?)."
    return used[0]["metadata"]["name"], env


@check("kustomize.prod", points=2, needs=("kubectl",))
def prod_overlay(ctx):
    """El overlay prod: prefijo prod-, 4 réplicas, imagen catalogo:1.1.0, límites 1 CPU/512Mi y peticiones 250m/256Mi, LOG_LEVEL=WARNING, sin namespace fijo."""
    objects = kustomize(ctx, "prod")
    dep = _kdeployment(objects)
    names = [o["metadata"]["name"] for o in objects]
    assert all(n.startswith(PROD["prefix"]) for n in names), (
        f"Todos los nombres deben empezar por {PROD['prefix']}: {names}.")
    assert not any(o["metadata"].get("namespace") for o in objects), (
        "El overlay fija un namespace: déjalo sin él (el corrector aplica en el suyo con -n).")
    assert dep["spec"].get("replicas") == PROD["replicas"], (
        f"prod debe tener {PROD['replicas']} réplicas; tiene {dep['spec'].get('replicas')}.")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"catalogo:{PROD['tag']}", (
        f"La imagen de prod es {container['image']}; debe ser catalogo:{PROD['tag']}.")
    limits = (container.get("resources") or {}).get("limits") or {}
    assert str(limits.get("memory")) == PROD["memory"] and str(limits.get("cpu")) == PROD["cpu"], (
        f"Límites de prod: {limits}; se esperan cpu {PROD['cpu']} y memoria {PROD['memory']}.")
    requests = (container.get("resources") or {}).get("requests") or {}
    assert {k: str(v) for k, v in requests.items()} == PROD_REQUESTS, (
        f"Peticiones de prod: {requests}; se esperan cpu {PROD_REQUESTS['cpu']} y memoria "
        f"{PROD_REQUESTS['memory']}.")
    name, env = _kconfig(objects, dep)
    assert re.search(r"-[a-z0-9]{10}$", name), (
        f"El ConfigMap {name} no lleva el sufijo hash de configMapGenerator.")
    assert env.get("LOG_LEVEL") == PROD["log_level"], (
        f"En prod LOG_LEVEL debe ser {PROD['log_level']}; es {env.get('LOG_LEVEL')}.")


@check("kustomize.dev", points=1, needs=("kubectl",))
def dev_overlay(ctx):
    """El overlay dev: 1 réplica, imagen catalogo:1.0.0, ENVIRONMENT=development y LOG_LEVEL=DEBUG."""
    objects = kustomize(ctx, "dev")
    dep = _kdeployment(objects)
    assert dep["spec"].get("replicas") == DEV["replicas"], (
        f"dev debe tener {DEV['replicas']} réplica; tiene {dep['spec'].get('replicas')}.")
    image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"catalogo:{DEV['tag']}", f"La imagen de dev es {image}."
    _, env = _kconfig(objects, dep)
    assert env.get("LOG_LEVEL") == DEV["log_level"] and env.get("ENVIRONMENT") == DEV["environment"], (
        f"En dev: LOG_LEVEL={env.get('LOG_LEVEL')}, ENVIRONMENT={env.get('ENVIRONMENT')}; se "
        f"esperan {DEV['log_level']} y {DEV['environment']}.")


@check("kustomize.diferencias", points=1, needs=("kubectl",))
def overlays_differ_only_where_asked(ctx):
    """dev y prod solo difieren en nombre, réplicas, imagen, recursos y ConfigMap: el resto es la base."""
    def normalized(overlay: str) -> dict:
        dep = copy.deepcopy(_kdeployment(kustomize(ctx, overlay)))
        dep["metadata"].pop("name", None)
        dep["metadata"].pop("namespace", None)
        dep["spec"].pop("replicas", None)
        for container in dep["spec"]["template"]["spec"]["containers"]:
            container.pop("image", None)
            container.pop("resources", None)
            for source in container.get("envFrom") or []:
                source.get("configMapRef", {}).pop("name", None)
            for item in container.get("env") or []:
                item.get("valueFrom", {}).get("configMapKeyRef", {}).pop("name", None)
        return dep
    dev, prod = normalized("dev"), normalized("prod")
    if dev != prod:
        changed = sorted(_differences(dev, prod))[:6]
        raise AssertionError("Los overlays cambian más de lo pedido (deben heredar el resto de "
                             "la base): " + ", ".join(changed))


def _differences(a, b, path="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in set(a) | set(b):
            out += _differences(a.get(key), b.get(key), f"{path}.{key}" if path else key)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            key = x.get("name", i) if isinstance(x, dict) else i
            out += _differences(x, y, f"{path}[{key}]")
        return out
    return [] if a == b else [path or "(raíz)"]


@check("kustomize.fusion", points=1, needs=("kubectl",))
def overlays_merge_the_base_config(ctx):
    """dev y prod fusionan su ConfigMap con el de la base (`behavior: merge`): el resto de claves de la base sigue igual."""
    base = ctx.workdir / "kustomize" / "base"
    done = k8s.kubectl("kustomize", str(base), echo=False, check=False, timeout=60)
    assert done.returncode == 0, (f"`kubectl kustomize` no genera la base:\n"
                                  f"{done.stderr.strip()[-1500:]}")
    base_data = _one(k8s.objects(done.stdout), "ConfigMap", "La base").get("data") or {}
    for overlay, changed in (("dev", {"ENVIRONMENT": DEV["environment"], "LOG_LEVEL": DEV["log_level"]}),
                             ("prod", {"LOG_LEVEL": PROD["log_level"]})):
        objects = kustomize(ctx, overlay)
        name, _ = _kconfig(objects, _kdeployment(objects))
        data = next(o for o in objects if o["metadata"]["name"] == name).get("data") or {}
        lost = sorted(k for k, v in base_data.items() if k not in changed and data.get(k) != v)
        assert not lost, (f"El ConfigMap de {overlay} pierde o cambia {', '.join(lost)} de la base: "
                          "genera el ConfigMap con behavior: merge (replace lo sustituye entero) y "
                          "cambia solo lo que pide la tarea.")


@check("kustomize.servidor", points=2, needs=("cluster", "kubectl"))
def prod_overlay_applies_server_side(ctx):
    """El API server acepta el overlay prod con server-side apply y su Deployment queda disponible."""
    cluster = _cluster()
    ns = _namespace(cluster, ctx.run_id, "kustomize")
    objects = copy.deepcopy(kustomize(ctx, "prod"))
    dep = _kdeployment(objects)
    image = _cluster_image(ctx, cluster)
    if image:  # real nodes: run the grader's loaded build instead of catalogo:1.1.0
        dep["spec"]["template"]["spec"]["containers"][0]["image"] = image
    result = cluster.kubectl("apply", "--server-side", "--field-manager=corrector-tema15", "-f",
                             "-", namespace=ns, input=yaml.safe_dump_all(objects), echo=False,
                             check=False, timeout=120)
    assert result.returncode == 0, ("El API server rechaza el overlay prod:\n"
                                    f"{result.stderr.strip()[-1500:]}")
    name = dep["metadata"]["name"]
    done = cluster.kubectl("rollout", "status", f"deployment/{name}", "--timeout=90s",
                           namespace=ns, echo=False, check=False, timeout=120)
    assert done.returncode == 0, (f"El Deployment {name} no llega a estar disponible:\n"
                                  f"{(done.stdout + done.stderr).strip()[-800:]}")


# --- task items → checks (format in CONTRIBUTING.md; tests/test_task_items.py keeps it in sync)
TASK_ITEMS: dict[str, tuple[str, ...]] = {
    "1.1": ("chart.parametros",),                              # replicaCount: 2
    "1.2": ("chart.parametros",),                              # image.*
    "1.3": ("chart.config_defecto", "chart.configuracion"),
    "1.4": ("chart.fallo",),
    "1.5": ("chart.recursos",),
    "2.1": ("chart.nombres", "chart.parametros"),
    "2.2": ("chart.selector",),
    "2.3": ("chart.estrategia", "cluster.rollback"),
    "2.4": ("chart.parametros", "chart.selector", "chart.sondas"),  # port "http" = 8000
    "2.5": ("chart.sondas", "contenedor.sondas"),
    "2.6": ("chart.recursos",),
    "2.7": ("chart.seguridad", "contenedor.sondas"),
    "2.8": ("chart.configuracion", "chart.fallo"),
    "2.9": ("chart.configuracion", "cluster.instalar"),
    "3": ("chart.nombres", "chart.configuracion", "chart.valido"),
    "4": ("chart.lint", "chart.valido"),
    # Tarea 5: the grader installs, upgrades, breaks and rolls back the chart itself.
    "5.1": ("cluster.instalar",),
    "5.2": ("cluster.instalar",),
    "5.3": ("cluster.rollback",),
    "5.4": ("cluster.rollback",),
    "5.5": ("cluster.rollback",),
    "6.1": ("kustomize.dev", "kustomize.fusion"),
    "6.2": ("kustomize.prod", "kustomize.fusion", "kustomize.diferencias"),
    "7": ("kustomize.diferencias", "kustomize.servidor"),
}
UNTASKED: dict[str, str] = {}
KNOWN_GAPS: dict[str, str] = {}
