"""Lab 04 end to end: the solution scores 100 % against a real API server, the untouched
lab fails cleanly, each typical mistake is caught by its own check with a Spanish
message (the rest still pass), a different valid solution scores 100 %, and without a
cluster the cluster checks are skipped, never passed."""
import re
import shutil
from pathlib import Path

import nbformat
import pytest

import grader.labs.lab04  # noqa: F401  (registers the checks that same_files_checks lists)
from course import REPO_ROOT
from grader import checks
from grader.grade import grade
from tests.conftest import assert_full_marks, engine_or_skip

SOLUTION = REPO_ROOT / "solutions" / "lab04_kubernetes.ipynb"
LAB = REPO_ROOT / "labs" / "lab04_kubernetes.ipynb"
CLUSTER_CHECKS = ("cluster.instalar", "cluster.rollback", "kustomize.servidor")


def solution_texts() -> dict[str, str]:
    """Every NAME = \"\"\"...\"\"\" file the solution notebook writes."""
    texts = {}
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        for name, body in re.findall(r'^([A-Z_]+) = """\\\n(.*?)"""', cell.source, re.DOTALL | re.MULTILINE):
            texts[name] = body
    return texts


TEXTS = solution_texts()
FILES = {"CHART_YAML": "chart/catalogo/Chart.yaml", "VALUES": "chart/catalogo/values.yaml",
         "HELPERS": "chart/catalogo/templates/_helpers.tpl",
         "SERVICE": "chart/catalogo/templates/service.yaml",
         "DEPLOYMENT": "chart/catalogo/templates/deployment.yaml",
         "CONFIGMAP": "chart/catalogo/templates/configmap.yaml",
         "DEV": "kustomize/overlays/dev/kustomization.yaml",
         "PROD": "kustomize/overlays/prod/kustomization.yaml",
         "PROD_PATCH": "kustomize/overlays/prod/resources-patch.yaml"}


def edit(text: str, old: str, new: str) -> str:
    assert old in text, f"la solución ya no contiene {old!r}"
    return text.replace(old, new, 1)


def submission(tmp_path: Path, **changes: str) -> Path:
    """A directory submission with the solution's files, some of them replaced."""
    folder = tmp_path / "entrega-lab04"
    for key, relative in FILES.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(changes.get(key, TEXTS[key]))
    shutil.copytree(REPO_ROOT / "deploy" / "k8s" / "base", folder / "kustomize" / "base")
    return folder


def statuses(result) -> dict[str, str]:
    return {c.id: c.status for c in result.checks}


def test_solution_texts_are_found():
    assert set(FILES) <= set(TEXTS), sorted(TEXTS)


def test_solution_scores_full_marks(k8s_cluster, docker_client):
    result = grade(SOLUTION, "lab04")
    assert_full_marks(result, "lab04", min_checks=17)


@pytest.mark.slow
def test_untouched_lab_fails_cleanly():
    result = grade(LAB, "lab04")
    assert result.execution.status == "error_en_celda"
    assert "hueco" in result.execution.message
    assert result.score < 0.5
    assert not any(c.status == "error" for c in result.checks), result.to_markdown()


DEP, PROD, PATCH, DEV = (TEXTS[k] for k in ("DEPLOYMENT", "PROD", "PROD_PATCH", "DEV"))

# (name, files changed, the check that must fail, a word of its message)
STATIC_MISTAKES = [
    ("readiness_en_live", {"DEPLOYMENT": edit(DEP, "path: /health/ready", "path: /health/live")},
     "chart.sondas", "/health/ready"),
    ("sonda_a_otro_puerto", {"DEPLOYMENT": edit(DEP, "path: /health/live\n              port: http",
                                                "path: /health/live\n              port: 8080")},
     "chart.sondas", "8080"),
    ("usuario_root", {"DEPLOYMENT": edit(DEP, "runAsUser: 1001", "runAsUser: 0")},
     "chart.seguridad", "1001"),
    ("raiz_escribible", {"DEPLOYMENT": edit(DEP, "readOnlyRootFilesystem: true",
                                            "readOnlyRootFilesystem: false")},
     "chart.seguridad", "readOnlyRootFilesystem"),
    ("imagen_fija", {"DEPLOYMENT": edit(
        DEP, '"{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"',
        "catalogo:1.0.0")}, "chart.parametros", "fija"),
    ("replicas_fijas", {"DEPLOYMENT": edit(DEP, "replicas: {{ .Values.replicaCount }}", "replicas: 2")},
     "chart.parametros", "replicaCount"),
    ("sin_checksum", {"DEPLOYMENT": edit(
        DEP, '      annotations:\n        checksum/config: {{ include (print $.Template.BasePath '
             '"/configmap.yaml") . | sha256sum }}\n', "")}, "chart.configuracion", "checksum"),
    ("fallo_ignorado", {"DEPLOYMENT": edit(DEP, "value: {{ .Values.fault.readinessFail | quote }}",
                                           'value: "false"')}, "chart.fallo", "FAULT_READINESS_FAIL"),
    ("recursos_fijos", {"DEPLOYMENT": edit(
        DEP, "{{- toYaml .Values.resources | nindent 12 }}",
        "requests: {cpu: 100m, memory: 128Mi}\n            limits: {cpu: 500m, memory: 256Mi}")},
     "chart.recursos", "300Mi"),
    ("pods_sin_las_etiquetas_del_selector", {"DEPLOYMENT": edit(
        DEP, '      labels:\n        {{- include "catalogo.labels" . | nindent 8 }}\n      annotations',
        "      labels:\n        app: catalogo\n      annotations")}, "chart.selector", "matchLabels"),
    ("politica_always", {"DEPLOYMENT": edit(DEP, "imagePullPolicy: {{ .Values.image.pullPolicy }}",
                                            "imagePullPolicy: Always")}, "chart.parametros", "IfNotPresent"),
    ("recursos_distintos", {"VALUES": edit(TEXTS["VALUES"], "memory: 256Mi", "memory: 1Gi")},
     "chart.recursos", "256Mi"),
    ("retira_pods_sanos", {"DEPLOYMENT": edit(DEP, "maxUnavailable: 0", 'maxUnavailable: "100%"')},
     "chart.estrategia", "maxUnavailable"),
    ("estrategia_recreate", {"DEPLOYMENT": edit(
        DEP, "type: RollingUpdate\n    rollingUpdate:\n      maxSurge: 1\n      maxUnavailable: 0\n",
        "type: Recreate\n")}, "chart.estrategia", "Recreate"),
    ("prod_sin_peticiones", {"PROD_PATCH": edit(PATCH, "            requests:\n              cpu: 250m\n"
                                                "              memory: 256Mi\n", "")},
     "kustomize.prod", "250m"),
    ("prod_con_3_replicas", {"PROD": edit(PROD, "count: 4", "count: 3")}, "kustomize.prod", "4 réplicas"),
    ("prod_sin_prefijo", {"PROD": edit(PROD, "namePrefix: prod-\n", "")}, "kustomize.prod", "prod-"),
    ("prod_con_namespace", {"PROD": edit(PROD, "namePrefix: prod-\n",
                                         "namePrefix: prod-\nnamespace: catalogo-prod\n")},
     "kustomize.prod", "namespace"),
    ("prod_cambia_las_sondas", {"PROD_PATCH": PATCH + "          readinessProbe:\n"
                                "            periodSeconds: 30\n"},
     "kustomize.diferencias", "readinessProbe"),
    ("dev_sin_debug", {"DEV": edit(DEV, "LOG_LEVEL=DEBUG", "LOG_LEVEL=INFO")}, "kustomize.dev", "DEBUG"),
    ("entorno_por_defecto_staging", {"VALUES": edit(TEXTS["VALUES"], "environment: production",
                                                     "environment: staging")},
     "chart.config_defecto", "production"),
    ("configmap_con_nombre_fijo", {"CONFIGMAP": edit(
        TEXTS["CONFIGMAP"], '  name: {{ include "catalogo.fullname" . }}', "  name: catalogo")},
     "chart.nombres", "corrector"),
    ("deployment_sin_etiquetas", {"DEPLOYMENT": edit(
        DEP, '  labels:\n    {{- include "catalogo.labels" . | nindent 4 }}\nspec:', "spec:")},
     "chart.nombres", "catalogo.labels"),
    ("prod_reemplaza_el_configmap", {"PROD": edit(PROD, "behavior: merge", "behavior: replace")},
     "kustomize.fusion", "ENVIRONMENT"),
]


@pytest.mark.parametrize("name,changes,failing,word", STATIC_MISTAKES,
                         ids=[m[0] for m in STATIC_MISTAKES])
def test_static_mistake_fails_its_check(name, changes, failing, word, tmp_path, without):
    without("cluster", "pods", "docker")  # the static checks, fast; the rest is skipped
    # Only the checks that read the edited files: the overlays build from deploy/k8s/base,
    # never from the chart, so a chart mistake cannot touch kustomize.* nor an overlay
    # mistake the chart checks (each family costs ~1 s of helm or kubectl per grading).
    result = grade(submission(tmp_path, **changes), "lab04", only=same_files_checks(failing))
    got = statuses(result)
    assert got[failing] == "failed", result.to_markdown()
    message = next(c.message for c in result.checks if c.id == failing)
    assert word in message, message
    collateral = {"chart.valido"} if name == "pods_sin_las_etiquetas_del_selector" else set()
    others = {k: v for k, v in got.items() if k != failing and k not in collateral}
    assert set(others.values()) <= {"passed", "skipped"}, result.to_markdown()
    assert all(got[c] == "skipped" for c in CLUSTER_CHECKS if c in got)  # never passed without a cluster


def same_files_checks(failing: str) -> list[str]:
    """The lab04 checks that read the same files as ``failing``: the overlays' (kustomize.*)
    or the chart's (every other one)."""
    overlays = failing.startswith("kustomize.")
    return [c.id for c in checks.select("lab04") if c.id.startswith("kustomize.") == overlays]


def test_each_family_reads_only_its_own_files(tmp_path, without):
    """What ``same_files_checks`` relies on: without the overlays the chart checks all
    pass, and without the chart the overlay checks all pass."""
    without("cluster", "pods", "docker")
    no_overlays = submission(tmp_path / "sin-overlays")
    shutil.rmtree(no_overlays / "kustomize" / "overlays")
    chart_side = statuses(grade(no_overlays, "lab04", only=same_files_checks("chart.lint")))
    no_chart = submission(tmp_path / "sin-chart")
    shutil.rmtree(no_chart / "chart")
    overlay_side = statuses(grade(no_chart, "lab04", only=same_files_checks("kustomize.prod")))
    assert "chart.lint" in chart_side and "kustomize.prod" in overlay_side
    assert set(chart_side.values()) == {"passed", "skipped"}, chart_side
    assert set(overlay_side.values()) == {"passed", "skipped"}, overlay_side


def test_broken_template_fails_cleanly(tmp_path, without):
    without("cluster", "pods", "docker")
    result = grade(submission(tmp_path, DEPLOYMENT=edit(DEP, "{{ .Values.replicaCount }}",
                                                        "{{ .Values.replicaCount ")), "lab04")
    got = statuses(result)
    chart_checks = [k for k in got if k.startswith("chart.")]
    assert all(got[k] == "failed" for k in chart_checks), result.to_markdown()
    assert "error" not in got.values()
    assert got["kustomize.prod"] == "passed"  # the overlays do not depend on the chart


def test_without_cluster_nothing_cluster_passes(tmp_path, without):
    without("cluster", "pods")
    engine_or_skip()
    result = grade(submission(tmp_path), "lab04")
    for check in result.checks:
        if check.id in CLUSTER_CHECKS:
            assert check.status == "skipped" and "Clúster Kubernetes" in check.message
        else:
            assert check.status == "passed", result.to_markdown()
    assert result.verifiable_points < result.total_points


# --- against the real API server --------------------------------------------------------

def test_ignored_fault_is_deployed_and_caught(tmp_path, k8s_cluster, without):
    without("docker")
    result = grade(submission(tmp_path, DEPLOYMENT=edit(
        DEP, "value: {{ .Values.fault.readinessFail | quote }}", 'value: "false"')), "lab04")
    got = statuses(result)
    assert got["cluster.rollback"] == "failed", result.to_markdown()
    assert "se dio por buena" in next(c.message for c in result.checks if c.id == "cluster.rollback")
    assert got["cluster.instalar"] == "passed" and got["kustomize.servidor"] == "passed"


def test_strategy_that_drops_healthy_pods_is_caught(tmp_path, k8s_cluster, without):
    without("docker")
    result = grade(submission(tmp_path, DEPLOYMENT=edit(DEP, "maxUnavailable: 0",
                                                        'maxUnavailable: "100%"')), "lab04")
    got = statuses(result)
    assert got["cluster.rollback"] == "failed", result.to_markdown()
    message = next(c.message for c in result.checks if c.id == "cluster.rollback")
    assert "ninguna réplica disponible" in message, message


def test_selector_mismatch_is_refused_by_the_api_server(tmp_path, k8s_cluster, without):
    without("docker")
    result = grade(submission(tmp_path, DEPLOYMENT=edit(
        DEP, '      labels:\n        {{- include "catalogo.labels" . | nindent 8 }}\n      annotations',
        "      labels:\n        app: catalogo\n      annotations")), "lab04")
    got = statuses(result)
    assert got["cluster.instalar"] == "failed" and got["cluster.rollback"] == "failed"
    assert "helm install" in next(c.message for c in result.checks if c.id == "cluster.instalar")


def test_wrong_probe_port_fails_in_docker(tmp_path, docker_client, without):
    without("cluster", "pods")
    result = grade(submission(tmp_path, DEPLOYMENT=edit(
        DEP, "path: /health/ready\n              port: http", "path: /health/ready\n              port: 8080")),
        "lab04")
    got = statuses(result)
    assert got["contenedor.sondas"] == "failed", result.to_markdown()
    assert "readinessProbe" in next(c.message for c in result.checks if c.id == "contenedor.sondas")


# A different valid solution: numeric probe ports, one env var per ConfigMap key instead
# of envFrom, the security settings all on the container, its own checksum annotation
# name, and a JSON 6902 patch in prod.
ALTERNATIVE = {
    "DEPLOYMENT": edit(edit(edit(edit(edit(
        DEP, "port: http\n            periodSeconds: 5", "port: 8000\n            periodSeconds: 5"),
        "checksum/config:", "configuracion/sha256:"),
        "          envFrom:\n            - configMapRef:\n                name: {{ include \"catalogo.fullname\" . }}\n"
        "          env:\n",
        "          env:\n"
        "            - name: LOG_LEVEL\n              valueFrom:\n                configMapKeyRef:\n"
        "                  name: {{ include \"catalogo.fullname\" . }}\n                  key: LOG_LEVEL\n"
        "            - name: ENVIRONMENT\n              valueFrom:\n                configMapKeyRef:\n"
        "                  name: {{ include \"catalogo.fullname\" . }}\n                  key: ENVIRONMENT\n"),
        "      securityContext:\n        runAsNonRoot: true\n        runAsUser: 1001\n        runAsGroup: 1001\n",
        ""),
        "          securityContext:\n            allowPrivilegeEscalation: false\n",
        "          securityContext:\n            runAsNonRoot: true\n            runAsUser: 1001\n"
        "            runAsGroup: 1001\n            allowPrivilegeEscalation: false\n"),
    "PROD": edit(PROD, "patches:\n  - path: resources-patch.yaml\n",
                 "patches:\n  - path: resources-patch.yaml\n    target:\n      kind: Deployment\n"
                 "      name: catalogo\n"),
    "PROD_PATCH": ("- op: replace\n  path: /spec/template/spec/containers/0/resources\n  value:\n"
                   "    requests: {cpu: 250m, memory: 256Mi}\n    limits: {cpu: \"1\", memory: 512Mi}\n"),
}


def test_valid_alternative_scores_full_marks(tmp_path, k8s_cluster, docker_client):
    result = grade(submission(tmp_path, **ALTERNATIVE), "lab04")
    assert result.score == 1.0, result.to_markdown()
    assert result.verifiable_points == result.total_points
