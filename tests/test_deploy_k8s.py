"""deploy/helm/catalogo, deploy/k8s and deploy/kind (section 15.4): the real helm and
kubectl (kustomize) render the manifests, every object passes kubernetes-validate in
strict mode against Kubernetes 1.35, and the rendered objects have the properties that
the course later checks on a cluster. No cluster and no Docker needed."""
from __future__ import annotations

import base64
import functools
import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from course import REPO_ROOT

BIN = Path(sys.executable).parent
CHART = REPO_ROOT / "deploy" / "helm" / "catalogo"
KUSTOMIZE = REPO_ROOT / "deploy" / "k8s"
KIND_CONFIG = REPO_ROOT / "deploy" / "kind" / "cluster.yaml"
K8S_VERSION = "1.35"
APP_VERSION = (REPO_ROOT / "service" / "VERSION").read_text().strip()
VERSION_LABEL = "app.kubernetes.io/version"
CONTAINER = ("spec", "template", "spec", "containers", "catalogo")


# --- helpers ---------------------------------------------------------------------------

def tool(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        pytest.skip(f"sin {name} en {BIN} (lo instala `make setup`; en otras plataformas, "
                    f"instálalo a mano)")
    return path


def run(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)


@functools.cache
def _helm_template(sets: tuple[str, ...]) -> str:
    args = [tool("helm"), "template", "rel", CHART]
    for value in sets:
        args += ["--set", value]
    proc = run(*args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def helm_objects(*sets: str) -> list[dict]:
    """`helm template rel deploy/helm/catalogo --set …`, parsed (a fresh copy each call)."""
    return [doc for doc in yaml.safe_load_all(_helm_template(sets)) if doc]


@functools.cache
def _kustomize(directory: str) -> str:
    proc = run(tool("kubectl"), "kustomize", KUSTOMIZE / directory)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def kustomize_objects(directory: str) -> list[dict]:
    """`kubectl kustomize deploy/k8s/<directory>`, parsed (a fresh copy each call)."""
    return [doc for doc in yaml.safe_load_all(_kustomize(directory)) if doc]


def by_kind(objects: list[dict]) -> dict[str, dict]:
    kinds = [obj["kind"] for obj in objects]
    assert len(kinds) == len(set(kinds)), f"un objeto por tipo: {kinds}"
    return {obj["kind"]: obj for obj in objects}


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    assert only["name"] == "catalogo"
    return only


def env_value(deployment: dict, name: str) -> str | None:
    return next((e["value"] for e in container(deployment).get("env", []) if e["name"] == name),
                None)


def validate_strict(objects: list[dict]) -> None:
    assert objects, "no se ha renderizado nada"
    for obj in objects:
        where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        try:
            used = kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(map(str, exc.path))
            pytest.fail(f"{where} no es válido para Kubernetes {K8S_VERSION}: {exc.message} "
                        f"(en /{path})")
        assert used == K8S_VERSION, f"{where}: validado contra {used}"


def pop_path(obj: dict, path: tuple) -> object:
    """Remove and return the value at ``path``; a string step into a list picks the item
    with that ``name``, an integer step picks by position."""
    *parents, last = path
    node = obj
    for step in parents:
        if isinstance(node, list) and isinstance(step, str):
            node = next(item for item in node if item.get("name") == step)
        else:
            node = node[step]
    return node.pop(last)


def assert_pods_selected(deployment: dict, service: dict) -> None:
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector and selector.items() <= pod_labels.items(), (
        f"selector.matchLabels {selector} no está contenido en las etiquetas del pod {pod_labels}")
    assert VERSION_LABEL not in selector, "la versión no puede ir en el selector (es inmutable)"
    assert service["spec"]["selector"].items() <= pod_labels.items(), (
        "el selector del Service no encuentra los pods")
    (port,) = service["spec"]["ports"]
    (container_port,) = container(deployment)["ports"]
    assert (port["port"], port["targetPort"]) == (80, "http")
    assert (container_port["name"], container_port["containerPort"]) == ("http", 8000)


# --- Helm ------------------------------------------------------------------------------

def test_chart_metadata_matches_service():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "catalogo"
    assert chart["version"] == "0.1.0"
    assert chart["appVersion"] == APP_VERSION, "appVersion debe ser la de service/VERSION"


def test_helm_lint_strict():
    proc = run(tool("helm"), "lint", "--strict", CHART)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("sets", [
    (),
    ("autoscaling.enabled=true",),
    ("secret.databaseUrl=postgresql://u:p@db:5432/catalogo",
     "secret.redisUrl=redis://cache:6379/0"),
    ("secret.existingSecret=catalogo-urls", "service.type=NodePort", "service.nodePort=30080"),
    ("image.tag=1.2.3-rc.1", "fault.readinessFail=true", "fault.errorRate=0.2",
     "extraLabels.team=plataforma", "podAnnotations.owner=curso"),
], ids=["defecto", "hpa", "secret", "existingSecret-nodeport", "varios"])
def test_helm_render_is_valid_kubernetes(sets):
    """Every rendered object passes the strict 1.35 schema (no unknown fields)."""
    objects = helm_objects(*sets)
    validate_strict(objects)
    kinds = by_kind(objects)
    assert {"Deployment", "Service", "ConfigMap"} <= kinds.keys()
    tag = container(kinds["Deployment"])["image"].rsplit(":", 1)[1]
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "catalogo"
        assert labels["app.kubernetes.io/instance"] == "rel"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == "catalogo-0.1.0"
        assert labels[VERSION_LABEL] == tag


def test_helm_defaults_deployment_and_service():
    objects = by_kind(helm_objects())
    deployment, service = objects["Deployment"], objects["Service"]
    assert deployment["spec"]["replicas"] == 3
    assert service["spec"]["type"] == "ClusterIP"
    assert_pods_selected(deployment, service)
    assert container(deployment)["image"] == f"catalogo:{APP_VERSION}"
    assert env_value(deployment, "APP_VERSION") == APP_VERSION
    strategy = deployment["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate",
                        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert "Secret" not in objects and "HorizontalPodAutoscaler" not in objects


def test_helm_image_tag_override():
    deployment = by_kind(helm_objects("image.tag=1.2.3"))["Deployment"]
    assert container(deployment)["image"] == "catalogo:1.2.3"
    assert env_value(deployment, "APP_VERSION") == "1.2.3"
    assert deployment["spec"]["template"]["metadata"]["labels"][VERSION_LABEL] == "1.2.3"
    assert re.search(r"(?m)^\s*image: .*:1\.2\.3\"?$", _helm_template(("image.tag=1.2.3",)))


@pytest.mark.parametrize("value, field", [
    ("image.tag=latest", "/image/tag"),
    ("image.tag=1.2", "/image/tag"),
    ("replicaCount=0", "/replicaCount"),
    ("config.logLevel=debug", "/config/logLevel"),
    ("fault.errorRate=1.5", "/fault/errorRate"),
])
def test_helm_schema_rejects_invalid_values(value, field):
    proc = run(tool("helm"), "template", "rel", CHART, "--set", value)
    assert proc.returncode != 0, f"--set {value} debería fallar"
    # "/image/tag" in Helm 4's message, "image.tag" in Helm 3's: match the last step
    assert "schema" in proc.stderr and field.rsplit("/", 1)[1] in proc.stderr, proc.stderr


def test_helm_probes_use_named_port():
    pod = container(by_kind(helm_objects())["Deployment"])
    expected = {"startupProbe": "/health/live", "livenessProbe": "/health/live",
                "readinessProbe": "/health/ready"}
    for probe, path in expected.items():
        assert pod[probe]["httpGet"] == {"path": path, "port": "http"}, probe


def test_helm_security_context_and_resources():
    deployment = by_kind(helm_objects())["Deployment"]
    pod_spec = deployment["spec"]["template"]["spec"]
    pod_ctx, pod = pod_spec["securityContext"], container(deployment)
    assert pod_ctx["runAsNonRoot"] is True
    assert (pod_ctx["runAsUser"], pod_ctx["runAsGroup"], pod_ctx["fsGroup"]) == (1001, 1001, 1001)
    assert pod_ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = pod["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    # a read-only root needs a writable /tmp
    (mount,) = pod["volumeMounts"]
    (volume,) = pod_spec["volumes"]
    assert mount["mountPath"] == "/tmp" and mount["name"] == volume["name"] and "emptyDir" in volume
    assert pod["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"cpu": "500m", "memory": "256Mi"}}


def test_helm_config_reaches_the_pod_and_rolls_it():
    def render(*sets):
        objects = by_kind(helm_objects(*sets))
        annotations = objects["Deployment"]["spec"]["template"]["metadata"]["annotations"]
        return objects, annotations["checksum/config"]

    objects, checksum = render()
    config_map, deployment = objects["ConfigMap"], objects["Deployment"]
    assert config_map["data"] == {"ENVIRONMENT": "production", "LOG_LEVEL": "INFO",
                                  "JSON_LOGS": "true", "ACCESS_LOG": "true"}
    refs = [source["configMapRef"]["name"] for source in container(deployment)["envFrom"]
            if "configMapRef" in source]
    assert refs == [config_map["metadata"]["name"]]
    assert re.fullmatch(r"[0-9a-f]{64}", checksum)

    debug, debug_checksum = render("config.logLevel=DEBUG")
    assert debug["ConfigMap"]["data"]["LOG_LEVEL"] == "DEBUG"
    assert debug_checksum != checksum, "cambiar la configuración debe cambiar checksum/config"
    assert render("replicaCount=4")[1] == checksum, "el checksum depende solo de la configuración"


def test_helm_secret_only_when_set():
    def secret_refs(objects):
        return [source["secretRef"]["name"] for source in
                container(objects["Deployment"])["envFrom"] if "secretRef" in source]

    default = by_kind(helm_objects())
    assert "Secret" not in default and secret_refs(default) == []

    url = "postgresql://u:p@db:5432/catalogo"
    owned = by_kind(helm_objects(f"secret.databaseUrl={url}"))
    secret = owned["Secret"]
    assert base64.b64decode(secret["data"]["DATABASE_URL"]).decode() == url
    assert "REDIS_URL" not in secret["data"]
    assert secret_refs(owned) == [secret["metadata"]["name"]]
    assert "checksum/secret" in owned["Deployment"]["spec"]["template"]["metadata"]["annotations"]

    external = by_kind(helm_objects("secret.existingSecret=catalogo-urls",
                                    f"secret.databaseUrl={url}"))
    assert "Secret" not in external and secret_refs(external) == ["catalogo-urls"]


def test_helm_fault_readiness_switch():
    assert env_value(by_kind(helm_objects())["Deployment"], "FAULT_READINESS_FAIL") == "false"
    broken = by_kind(helm_objects("fault.readinessFail=true"))["Deployment"]
    assert env_value(broken, "FAULT_READINESS_FAIL") == "true"


def test_helm_hpa_only_when_enabled():
    default = by_kind(helm_objects())
    assert "HorizontalPodAutoscaler" not in default
    assert default["Deployment"]["spec"]["replicas"] == 3

    scaled = by_kind(helm_objects("autoscaling.enabled=true", "replicaCount=7"))
    hpa, deployment = scaled["HorizontalPodAutoscaler"], scaled["Deployment"]
    assert "replicas" not in deployment["spec"], "con HPA, las réplicas las decide el HPA"
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deployment["metadata"]["name"]}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 10)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}

    proc = run(tool("helm"), "template", "rel", CHART, "--set", "autoscaling.enabled=true",
               "--set", "autoscaling.minReplicas=11")
    assert proc.returncode != 0 and "minReplicas" in proc.stderr


# --- Kustomize -------------------------------------------------------------------------

@pytest.mark.parametrize("directory", ["base", "overlays/dev", "overlays/prod"])
def test_kustomize_renders_valid_kubernetes(directory):
    objects = kustomize_objects(directory)
    validate_strict(objects)
    kinds = by_kind(objects)
    assert {"Deployment", "Service", "ConfigMap"} <= kinds.keys()
    assert_pods_selected(kinds["Deployment"], kinds["Service"])
    for obj in objects:
        assert obj["metadata"]["labels"]["app.kubernetes.io/name"] == "catalogo", obj["kind"]


def test_kustomize_base_matches_the_chart():
    """Same probes, securityContext, resources, volumes and strategy as the Helm chart."""
    chart = by_kind(helm_objects())["Deployment"]["spec"]
    base = by_kind(kustomize_objects("base"))["Deployment"]["spec"]
    for key in ("replicas", "strategy", "revisionHistoryLimit"):
        assert base[key] == chart[key], key
    for key in ("securityContext", "volumes", "automountServiceAccountToken"):
        assert base["template"]["spec"][key] == chart["template"]["spec"][key], key
    (chart_pod,) = chart["template"]["spec"]["containers"]
    (base_pod,) = base["template"]["spec"]["containers"]
    for key in ("startupProbe", "livenessProbe", "readinessProbe", "securityContext", "resources",
                "ports", "volumeMounts", "image", "imagePullPolicy"):
        assert base_pod[key] == chart_pod[key], key


def test_kustomize_prod_overlay():
    objects = kustomize_objects("overlays/prod")
    kinds = by_kind(objects)
    deployment, config_map = kinds["Deployment"], kinds["ConfigMap"]
    hpa = kinds["HorizontalPodAutoscaler"]
    for obj in objects:
        assert obj["metadata"]["name"].startswith("prod-"), obj["metadata"]["name"]
        assert obj["metadata"]["namespace"] == "catalogo-prod"
    assert deployment["spec"]["replicas"] == 5
    assert container(deployment)["image"] == "catalogo:1.2.3"
    assert env_value(deployment, "APP_VERSION") == "1.2.3", "APP_VERSION sigue a la etiqueta"
    assert deployment["spec"]["template"]["metadata"]["labels"][VERSION_LABEL] == "1.2.3"
    # configMapGenerator: name-<hash>, and the Deployment points at that exact name
    assert re.fullmatch(r"prod-catalogo-config-[a-z0-9]{10}", config_map["metadata"]["name"])
    assert container(deployment)["envFrom"] == [
        {"configMapRef": {"name": config_map["metadata"]["name"]}}]
    assert container(deployment)["resources"] == {"requests": {"cpu": "250m", "memory": "256Mi"},
                                                  "limits": {"cpu": "1", "memory": "512Mi"}}
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (5, 10)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"] == {"name": "cpu",
                                  "target": {"type": "Utilization", "averageUtilization": 70}}


def test_kustomize_dev_overlay():
    objects = kustomize_objects("overlays/dev")
    kinds = by_kind(objects)
    deployment, config_map = kinds["Deployment"], kinds["ConfigMap"]
    assert {obj["metadata"]["namespace"] for obj in objects} == {"catalogo-dev"}
    assert "HorizontalPodAutoscaler" not in kinds
    assert deployment["spec"]["replicas"] == 1
    assert container(deployment)["image"] == "catalogo:1.0.0"
    assert env_value(deployment, "APP_VERSION") == "1.0.0"
    # behavior: merge keeps the base keys and overrides two of them
    assert config_map["data"] == {"ENVIRONMENT": "development", "LOG_LEVEL": "DEBUG",
                                  "JSON_LOGS": "true", "ACCESS_LOG": "true"}
    assert re.fullmatch(r"catalogo-config-[a-z0-9]{10}", config_map["metadata"]["name"])
    assert container(deployment)["envFrom"] == [
        {"configMapRef": {"name": config_map["metadata"]["name"]}}]


def test_kustomize_dev_prod_diff_is_only_the_patched_fields():
    """Removing the fields the overlays change leaves identical Deployments."""
    differing = [
        ("metadata", "name"),                                   # namePrefix
        ("metadata", "namespace"),                              # namespace
        ("metadata", "labels", VERSION_LABEL),                  # replacements
        ("spec", "replicas"),                                   # replicas
        ("spec", "template", "metadata", "labels", VERSION_LABEL),
        (*CONTAINER, "image"),                                  # images
        (*CONTAINER, "resources"),                              # patches (prod)
        (*CONTAINER, "env", "APP_VERSION", "value"),            # replacements
        (*CONTAINER, "envFrom", 0, "configMapRef", "name"),     # configMapGenerator hash
    ]
    dev = by_kind(kustomize_objects("overlays/dev"))["Deployment"]
    prod = by_kind(kustomize_objects("overlays/prod"))["Deployment"]
    for path in differing:
        assert pop_path(dev, path) != pop_path(prod, path), f"{path} debería diferir"
    assert dev == prod, "dev y prod difieren en campos que ningún parche debería tocar"


# --- kind --------------------------------------------------------------------------------

def test_kind_cluster_config():
    config = yaml.safe_load(KIND_CONFIG.read_text())
    assert (config["kind"], config["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
    assert config["name"] == "tema15"
    nodes = config["nodes"]
    assert [node["role"] for node in nodes] == ["control-plane", "worker"]
    for node in nodes:
        assert node["image"].startswith("kindest/node:v1.35.0"), node["image"]
    (mapping,) = nodes[0]["extraPortMappings"]
    assert (mapping["containerPort"], mapping["hostPort"]) == (30080, 30080)
    assert mapping["listenAddress"] == "127.0.0.1"
