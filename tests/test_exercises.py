"""The exercises inside the lessons: a typical wrong answer is reported (✘ with its hint),
a right answer passes, and the check never raises for a wrong answer."""
import shutil
import subprocess

import pytest
import semver
import structlog
import yaml

from course import REPO_ROOT, exercise_checks, exercises, k8s
from course import docker as cdocker
from course.compose import Project

# --- the generic helper -----------------------------------------------------------------

def test_check_prints_marks_and_hint_and_never_raises(capsys):
    result = exercises.check("prueba", [
        exercises.Condition("bien", True),
        exercises.Condition("mal [1m]", False, "arregla [esto]"),
        exercises.condition("revienta", lambda: 1 / 0, "no dividas por cero"),
        exercises.skip("sin motor", "no hay Docker"),
    ])
    out = capsys.readouterr().out
    assert not result.passed and not result
    assert [c.name for c in result.failed] == ["mal [1m]", "revienta"]
    assert "✔ bien" in out and "✘ mal [1m]" in out and "Pista: arregla [esto]" in out
    assert "ZeroDivisionError" in result.failed[1].hint
    assert "sin comprobar: no hay Docker" in out
    assert "Aún fallan 2 de 3" in out


def test_skipped_conditions_never_count_as_passed():
    assert not exercises.check("nada", [exercises.skip("a", "sin motor")], quiet=True).passed
    assert exercises.check("algo", [exercises.Condition("a", True), exercises.skip("b", "sin motor")],
                           quiet=True).passed


def failing(conditions) -> dict[str, str]:
    result = exercises.check("prueba", conditions, quiet=True)
    return {c.name: c.hint for c in result.failed}


# --- 01: Dockerfile ---------------------------------------------------------------------

GOOD_DOCKERFILE = """\
FROM python:3.11-slim
RUN groupadd --system --gid 1001 app && useradd --system --uid 1001 --gid app app
WORKDIR /srv/service
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY app ./app
USER 1001:1001
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0"]
"""


def test_dockerfile_right_answer_passes():
    assert not failing(exercise_checks.review_dockerfile(GOOD_DOCKERFILE))


def test_the_service_dockerfile_passes_too():
    # A valid alternative: multi-stage, dependencies installed in the builder stage.
    text = (REPO_ROOT / "service" / "Dockerfile").read_text()
    assert not failing(exercise_checks.review_dockerfile(text))


@pytest.mark.parametrize("mistake, wrong, hint_word", [
    ("copy everything first", GOOD_DOCKERFILE.replace("COPY requirements.txt ./\n", "COPY . .\n"),
     "requirements.txt"),
    ("shell form", GOOD_DOCKERFILE.replace('CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0"]',
                                           "CMD uvicorn app.main:app --host 0.0.0.0"), "SIGTERM"),
    ("no USER", GOOD_DOCKERFILE.replace("USER 1001:1001\n", ""), "USER 1001:1001"),
    ("USER root", GOOD_DOCKERFILE.replace("USER 1001:1001", "USER root"), "USER 1001:1001"),
    ("USER 0", GOOD_DOCKERFILE.replace("USER 1001:1001", "USER 0:0"), "USER 1001:1001"),
])
def test_dockerfile_mistake_is_reported(mistake, wrong, hint_word):
    failed = failing(exercise_checks.review_dockerfile(wrong))
    assert len(failed) == 1, failed
    assert hint_word in next(iter(failed.values()))


def test_dockerfile_user_only_in_builder_stage_is_root():
    text = "FROM python:3.11 AS builder\nUSER 1001\nRUN pip install x\n" + GOOD_DOCKERFILE.replace(
        "USER 1001:1001\n", "")
    assert "La imagen final no se ejecuta como root" in failing(exercise_checks.review_dockerfile(text))


# --- 02: release tags -------------------------------------------------------------------

def naive_tags(version, published):
    v = semver.Version.parse(version)
    return [str(v)] if v.prerelease else [str(v), f"{v.major}.{v.minor}", str(v.major), "latest"]


def text_compare_tags(version, published):
    # Typical mistake: comparing versions as strings ("1.10.0" < "1.9.3").
    v = semver.Version.parse(version)
    if v.prerelease:
        return [str(v)]
    stable = [p for p in published if "-" not in p]
    tags = [version]
    if all(version > p for p in stable if p.rsplit(".", 1)[0] == f"{v.major}.{v.minor}"):
        tags.append(f"{v.major}.{v.minor}")
    if all(version > p for p in stable if p.split(".")[0] == str(v.major)):
        tags.append(str(v.major))
    if all(version > p for p in stable):
        tags.append("latest")
    return tags


def test_release_tags_reference_passes():
    assert not failing(exercise_checks.review_release_tags(exercise_checks.expected_release_tags))


def test_release_tags_naive_policy_is_reported():
    failed = failing(exercise_checks.review_release_tags(naive_tags))
    assert any("1.3.6" in name and "rama antigua" in hint for name, hint in failed.items())
    assert any("1.4.4" in name and "latest" in hint for name, hint in failed.items())


def test_release_tags_prerelease_getting_floating_tags_is_reported():
    def everything(version, published):
        v = semver.Version.parse(version)
        return [str(v), f"{v.major}.{v.minor}", str(v.major), "latest"]
    failed = failing(exercise_checks.review_release_tags(everything))
    assert any("2.1.0-rc.1" in name and "pre-release" in hint for name, hint in failed.items())


def test_release_tags_string_comparison_is_reported():
    failed = failing(exercise_checks.review_release_tags(text_compare_tags))
    assert list(failed) and all("1.10.0" in name for name in failed), failed
    assert "semver.Version" in next(iter(failed.values()))


def test_release_tags_function_that_raises_is_reported():
    def broken(version, published):
        return semver.Version.parse(version.lstrip("v")).bump_minor().nonexistent
    failed = failing(exercise_checks.review_release_tags(broken))
    assert len(failed) == len(exercise_checks.RELEASE_CASES)
    assert "AttributeError" in next(iter(failed.values()))


# --- 03: depends_on ---------------------------------------------------------------------

def resolved(condition: str | None = "service_healthy", healthcheck: bool = True) -> dict:
    lenta = {"image": "debian"}
    if healthcheck:
        lenta["healthcheck"] = {"test": ["CMD", "test", "-f", "/tmp/lista"]}
    app = {"image": "debian"}
    if condition:
        app["depends_on"] = {"lenta": {"condition": condition, "required": True}}
    return {"services": {"lenta": lenta, "app": app}}


def test_depends_on_right_answer_passes():
    assert not failing(exercise_checks.review_depends_on(resolved()))


@pytest.mark.parametrize("wrong, hint_word", [
    (resolved("service_started"), "service_started"),
    (resolved(None), "ninguna"),
    (resolved("service_healthy", healthcheck=False), "healthcheck"),
])
def test_depends_on_mistake_is_reported(wrong, hint_word):
    failed = failing(exercise_checks.review_depends_on(wrong))
    assert len(failed) == 1 and hint_word in next(iter(failed.values())), failed


def test_startup_order():
    assert exercise_checks.review_startup_order(12.0, 10.5).passed
    early = exercise_checks.review_startup_order(8.0, 11.0)
    assert early.passed is False and "3.0 s ANTES" in early.hint
    assert exercise_checks.review_startup_order(None, 11.0).passed is False


@pytest.mark.skipif(not shutil.which("docker") or subprocess.run(
    ["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="sin la CLI docker compose")
def test_depends_on_short_form_through_the_real_cli(tmp_path, monkeypatch):
    # `docker compose config` turns the list form into service_started: the check sees it.
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/tema15/docker.sock")  # needs no engine
    (tmp_path / "compose.yaml").write_text(
        "services:\n  lenta:\n    image: debian\n"
        "    healthcheck: {test: [CMD, 'true']}\n"
        "  app:\n    image: debian\n    depends_on: [lenta]\n")
    config = Project(tmp_path / "compose.yaml", name="t15-ejercicio-config", echo=False).config()
    failed = failing(exercise_checks.review_depends_on(config))
    assert list(failed) == ["«app» espera a que «lenta» esté sana (service_healthy)"]


# --- 07: structlog processor ------------------------------------------------------------

def good_filter(_, method_name, event_dict):
    if method_name == "info" and str(event_dict.get("path", "")).startswith("/health/"):
        raise structlog.DropEvent
    return event_dict


def test_health_filter_right_answer_passes():
    assert not failing(exercise_checks.review_health_filter(good_filter))


def returns_none(_, method_name, event_dict):
    return None if str(event_dict.get("path", "")).startswith("/health/") else event_dict


def drops_all_levels(_, method_name, event_dict):
    if event_dict.get("path", "").startswith("/health/"):
        raise structlog.DropEvent
    return event_dict


def only_live(_, method_name, event_dict):
    if method_name == "info" and event_dict.get("path") == "/health/live":
        raise structlog.DropEvent
    return event_dict


def key_error(_, method_name, event_dict):
    if method_name == "info" and event_dict["path"].startswith("/health/"):
        raise structlog.DropEvent
    return event_dict


def pass_through(_, method_name, event_dict):
    return event_dict


@pytest.mark.parametrize("processor, failed_name, hint_word", [
    (pass_through, "Descarta GET /health/live con nivel info", "DropEvent"),
    (returns_none, "Descarta GET /health/live con nivel info", "devolver None"),
    (drops_all_levels, "Conserva /health/ready cuando se registra como warning", "method_name"),
    (only_live, "Descarta GET /health/ready con nivel info", "prefijo /health/"),
    (key_error, "Conserva un evento sin campo path", "event_dict.get"),
])
def test_health_filter_mistake_is_reported(processor, failed_name, hint_word):
    failed = failing(exercise_checks.review_health_filter(processor))
    assert failed_name in failed, failed
    assert hint_word in failed[failed_name]


# --- 08: PromQL -------------------------------------------------------------------------

GOOD_QUERY = ('sum(rate(http_request_duration_seconds_bucket{le="0.1"}[1m]))'
              ' / sum(rate(http_request_duration_seconds_count[1m]))')


@pytest.mark.parametrize("query", [
    GOOD_QUERY,
    '(sum(rate(http_request_duration_seconds_bucket{le="0.1"}[5m]))'
    ' / sum(rate(http_request_duration_seconds_bucket{le="+Inf"}[5m])))',
    'sum(increase(http_request_duration_seconds_bucket{le="0.1"}[1m]))'
    ' / sum(increase(http_request_duration_seconds_count[1m]))',
])
def test_promql_right_answers_pass(query):
    assert not failing(exercise_checks.review_fast_ratio(query))


@pytest.mark.parametrize("query, failed_name, hint_word", [
    ('rate(http_request_duration_seconds_bucket{le="0.1"}[1m])'
     ' / rate(http_request_duration_seconds_count[1m])', "Suma antes de dividir (sum(…) / sum(…))",
     "serie a serie"),
    ('sum(rate(http_request_duration_seconds_bucket{le="0.25"}[1m]))'
     ' / sum(rate(http_request_duration_seconds_count[1m]))',
     'El numerador usa el cubo le="0.1" de http_request_duration_seconds_bucket', "acumulativos"),
    ('sum(rate(http_request_duration_seconds_bucket{le="0.1"}[1m]))'
     ' / sum(rate(http_request_duration_seconds_bucket{le="0.5"}[1m]))',
     "El denominador es el total de peticiones", "_count"),
    ('sum(http_request_duration_seconds_bucket{le="0.1"}) / sum(http_request_duration_seconds_count)',
     "Usa rate(…[ventana]) sobre los contadores", "rate(x[1m])"),
    ('histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))',
     "Es un cociente: peticiones rápidas / todas", "Divide"),
    ('sum(rate(http_request_duration_seconds_bucket{le="0.1"}[1m]) / sum(', "Es PromQL válido",
     "analizador"),
])
def test_promql_mistake_is_reported(query, failed_name, hint_word):
    failed = failing(exercise_checks.review_fast_ratio(query))
    assert failed_name in failed, failed
    assert hint_word in failed[failed_name]


@pytest.mark.skipif(not shutil.which("promtool"), reason="sin el binario promtool")
def test_promtool_fallback_accepts_the_answer_and_reports_a_syntax_error(tmp_path):
    promtool = shutil.which("promtool")
    assert exercise_checks.review_with_promtool(GOOD_QUERY, promtool, tmp_path).passed
    broken = exercise_checks.review_with_promtool(GOOD_QUERY[:-1], promtool, tmp_path)
    assert broken.passed is False and "parse error" in broken.hint


def test_promtool_fallback_without_binary_is_skipped_not_passed(tmp_path):
    assert exercise_checks.review_with_promtool(GOOD_QUERY, None, tmp_path).skipped


# --- 04: Deployment ---------------------------------------------------------------------

GOOD_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ejercicio
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: catalogo
      app.kubernetes.io/instance: ejercicio
  template:
    metadata:
      labels:
        app.kubernetes.io/name: catalogo
        app.kubernetes.io/instance: ejercicio
        app.kubernetes.io/version: "1.0.0"
    spec:
      containers:
        - name: catalogo
          image: catalogo:1.0.0
          ports:
            - name: http
              containerPort: 8000
          readinessProbe:
            httpGet: {path: /health/ready, port: http}
          livenessProbe:
            httpGet: {path: /health/live, port: http}
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {cpu: 500m, memory: 256Mi}
"""


def test_deployment_right_answer_passes():
    assert not failing(exercise_checks.review_deployment(GOOD_DEPLOYMENT))


def test_the_course_deployment_passes_too():
    # A valid alternative: the Deployment of 15.4's prod overlay, as kubectl kustomize renders it.
    try:
        rendered = k8s.kubectl("kustomize", str(REPO_ROOT / "deploy" / "k8s" / "overlays" / "prod"),
                               echo=False).stdout
    except (FileNotFoundError, k8s.CommandFailed) as exc:
        pytest.skip(f"sin kubectl: {exc}")
    deployment = next(o for o in k8s.objects(rendered) if o["kind"] == "Deployment")
    assert not failing(exercise_checks.review_deployment(yaml.safe_dump(deployment)))


@pytest.mark.parametrize("mistake, wrong, failed_name, hint_word", [
    ("selector", GOOD_DEPLOYMENT.replace("instance: ejercicio\n        app", "instance: ejercicios\n        app"),
     "selector.matchLabels está contenido en las labels del pod",
     "selector does not match"),
    ("latest", GOOD_DEPLOYMENT.replace("catalogo:1.0.0", "catalogo:latest"),
     "La imagen lleva una versión SemVer (nunca latest)", "ErrImagePull"),
    ("no tag", GOOD_DEPLOYMENT.replace("catalogo:1.0.0", "catalogo"),
     "La imagen lleva una versión SemVer (nunca latest)", "ErrImagePull"),
    ("readiness path", GOOD_DEPLOYMENT.replace("path: /health/ready", "path: /ready"),
     "readinessProbe HTTP en /health/ready", "404"),
    ("no readiness", GOOD_DEPLOYMENT.replace(
        "          readinessProbe:\n            httpGet: {path: /health/ready, port: http}\n", ""),
     "readinessProbe HTTP en /health/ready", "/health/ready"),
    ("no limits", GOOD_DEPLOYMENT.replace("            limits: {cpu: 500m, memory: 256Mi}\n", ""),
     "requests y limits de CPU y memoria", "limits"),
    ("typo", GOOD_DEPLOYMENT.replace("readinessProbe", "readinesProbe"),
     "Cumple el esquema de Kubernetes 1.35 (modo estricto)", "readinesProbe"),
])
def test_deployment_mistake_is_reported(mistake, wrong, failed_name, hint_word):
    failed = failing(exercise_checks.review_deployment(wrong))
    assert failed_name in failed, failed
    assert hint_word in failed[failed_name]


@pytest.mark.parametrize("text, failed_name", [
    ("kind: Deployment\n  metadata: [", "Es YAML válido"),
    (GOOD_DEPLOYMENT + "---\n" + GOOD_DEPLOYMENT, "Es un único objeto Deployment"),
    ("- una lista\n", "Es un único objeto Deployment"),
])
def test_deployment_unreadable_answer_is_reported(text, failed_name):
    assert list(failing(exercise_checks.review_deployment(text))) == [failed_name]


# --- 05: the deploy job's condition -----------------------------------------------------

SOLUTION_IF = ("github.event_name == 'push' && "
               "(github.ref == 'refs/heads/main' || startsWith(github.ref, 'refs/tags/v'))")
EXPECTED_RUNS = {case: wanted for case, _event, _ref, wanted, _hint in exercise_checks.DEPLOY_CASES}


def test_deploy_runs_as_expected_passes():
    assert not failing(exercise_checks.review_deploy_runs(EXPECTED_RUNS))


def test_deploy_runs_not_executed_are_skipped_not_passed():
    result = exercises.check("sin act", exercise_checks.review_deploy_runs({}), quiet=True)
    assert not result.passed and len(result.skipped) == len(exercise_checks.DEPLOY_CASES)


def test_deploy_on_pull_request_is_reported():
    failed = failing(exercise_checks.review_deploy_runs({**EXPECTED_RUNS, "pull request hacia main": True}))
    assert list(failed) == ["pull request hacia main: no despliega"]
    assert "github.event_name == 'push'" in failed["pull request hacia main: no despliega"]


def test_deploy_workflow_is_valid_yaml_with_the_condition():
    doc = yaml.safe_load(exercise_checks.deploy_workflow("github.ref == 'refs/heads/main'"))
    assert doc["jobs"]["deploy"]["if"] == "github.ref == 'refs/heads/main'"
    assert doc["jobs"]["deploy"]["needs"] == "test"


def test_actionlint_missing_is_skipped():
    assert exercise_checks.review_actionlint(None).skipped
    assert exercise_checks.review_actionlint([]).passed
    assert exercise_checks.review_actionlint(["línea 12: x [expression]"]).passed is False


def _act_available() -> bool:
    from course import pipelines
    return bool(pipelines.tool("act"))


@pytest.mark.skipif(not _act_available(), reason="sin el binario act")
@pytest.mark.parametrize("condition_expr, failed_names", [
    (SOLUTION_IF, []),
    ("github.ref == 'refs/heads/main' || (github.ref_type == 'tag' && startsWith(github.ref_name, 'v'))",
     []),
    ("github.event_name != 'pull_request'",   # the exercise's starting answer
     ["push a la rama feature/login: no despliega", "push del tag de git nightly: no despliega",
      "push a la rama v2-pruebas: no despliega"]),
    ("github.ref_name == 'main' || startsWith(github.ref_name, 'v')",
     ["push a la rama v2-pruebas: no despliega"]),
    ("github.ref == 'main' || startsWith(github.ref, 'refs/tags/v')", ["push a main: despliega"]),
    ("github.event_name = 'push'",
     ["actionlint no encuentra errores en la condición", "act ejecuta el workflow"]),
])
def test_deploy_condition_through_the_real_act(condition_expr, failed_names):
    # No engine needed: act runs these steps (echo) on this host.
    failed = failing(exercise_checks.run_deploy_cases(condition_expr, cdocker.new_run_id()))
    assert sorted(failed) == sorted(failed_names), failed


# --- 06: a release with a git change ----------------------------------------------------

BEFORE = {"dev": ("catalogo:1.0.0", 1), "prod": ("catalogo:1.0.0", 3)}
PROD_FILE = "apps/catalogo/overlays/prod/kustomization.yaml"
DEV_FILE = "apps/catalogo/overlays/dev/kustomization.yaml"


def test_prod_release_right_answer_passes():
    after = {**BEFORE, "prod": ("catalogo:1.2.0", 3)}
    assert not failing(exercise_checks.review_prod_release(BEFORE, after, []))


@pytest.mark.parametrize("after, uncommitted, failed_name, hint_word", [
    (BEFORE, [PROD_FILE], "En la rama main del servidor, prod despliega catalogo:1.2.0", "commit y push"),
    (BEFORE, [DEV_FILE], "En la rama main del servidor, prod despliega catalogo:1.2.0", "newTag"),
    ({**BEFORE, "prod": ("catalogo:v1.2.0", 3)}, [], "En la rama main del servidor, prod despliega catalogo:1.2.0",
     "sin v"),
    ({"dev": ("catalogo:1.2.0", 1), "prod": ("catalogo:1.2.0", 3)}, [], "dev no cambia", "base"),
    ({**BEFORE, "prod": ("catalogo:1.2.0", 5)}, [], "Las réplicas de prod no cambian", "3"),
    ({**BEFORE, "prod": ("catalogo:1.2.0", 3)}, [DEV_FILE], "No quedan cambios sin commit en tu copia",
     DEV_FILE),
])
def test_prod_release_mistake_is_reported(after, uncommitted, failed_name, hint_word):
    failed = failing(exercise_checks.review_prod_release(BEFORE, after, uncommitted))
    assert failed_name in failed, failed
    assert hint_word in failed[failed_name]


# --- 05: the image tags of a release candidate --------------------------------------------

GITHUB_CI = (REPO_ROOT / "deploy" / "cicd" / "github-ci.yml").read_text()
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def service_dir(tmp_path):
    (tmp_path / "VERSION").write_text("1.2.3\n")  # the step reads it before looking at the ref
    return tmp_path


def test_tags_step_of_the_course_workflow(service_dir):
    assert exercise_checks.tags_step_output(GITHUB_CI, "v1.3.0-rc.1", SHA, service_dir) == ["sha", "1.3.0-rc.1"]
    assert sorted(exercise_checks.tags_step_output(GITHUB_CI, "v1.3.0", SHA, service_dir)) == \
        ["1", "1.3", "1.3.0", "sha"]


def test_tag_prediction_right_answer_passes(service_dir):
    published = exercise_checks.tags_step_output(GITHUB_CI, "v1.3.0-rc.1", SHA, service_dir)
    assert not failing(exercise_checks.review_tag_prediction(["1.3.0-rc.1", "sha"], published))


@pytest.mark.parametrize("predicted, failed_name, hint_word", [
    ([], "Predices «1.3.0-rc.1»", "sin la v"),
    (["1.3.0-rc.1"], "Predices «sha»", "sha corto"),
    (["1.3.0-rc.1", "1.3", "1", "sha"], "No predices etiquetas de imagen que no se publican", "pre-release"),
    (["v1.3.0-rc.1", "sha"], "No predices etiquetas de imagen que no se publican", "sin la v"),
    (["1.3.0-rc.1", "sha", "latest"], "No predices etiquetas de imagen que no se publican", "latest"),
])
def test_tag_prediction_mistake_is_reported(predicted, failed_name, hint_word):
    failed = failing(exercise_checks.review_tag_prediction(predicted, ["sha", "1.3.0-rc.1"]))
    assert failed_name in failed, failed
    assert hint_word in failed[failed_name]


# --- 06: the Helm variant of an Application ------------------------------------------------

def helm_app(**source) -> dict:
    from course import gitops
    app = gitops.application("catalogo-helm", "t15-x-argocd", "git://127.0.0.1:9/entornos.git",
                             "charts/catalogo", "t15-x-helm")
    app["spec"]["source"].update(helm={"valueFiles": ["values-prod.yaml"]})
    for key, value in source.items():
        if value is None:
            app["spec"]["source"].pop(key, None)
        else:
            app["spec"]["source"][key] = value
    return app


def test_helm_application_right_answer_passes():
    assert not failing(exercise_checks.review_helm_application(helm_app(), "t15-x-helm"))
    dotted = helm_app(path="./charts/catalogo/", helm={"valueFiles": ["./values-prod.yaml"]})
    assert not failing(exercise_checks.review_helm_application(dotted, "t15-x-helm"))


def self_heal_text():
    app = helm_app()
    app["spec"]["syncPolicy"]["automated"]["selfHeal"] = "sí"
    return app


@pytest.mark.parametrize("app, failed_name, hint_word", [
    (helm_app(path=None, chart="./charts/catalogo"), "El chart sale de git: source.path, no source.chart",
     "repositorio Helm"),
    (helm_app(helm={"valuesFiles": ["values-prod.yaml"]}),
     "Los valores de prod: source.helm.valueFiles con values-prod.yaml", "Flux"),
    (helm_app(helm={"valueFiles": ["charts/catalogo/values-prod.yaml"]}),
     "Los valores de prod: source.helm.valueFiles con values-prod.yaml", "relativo"),
    (helm_app(helm=None), "Los valores de prod: source.helm.valueFiles con values-prod.yaml", "Añade"),
    (helm_app(targetRevision="HEAD"), "Sigue la rama main", "HEAD"),
    (self_heal_text(), "Sincronización automática con prune y selfHeal", "booleanos"),
])
def test_helm_application_mistake_is_reported(app, failed_name, hint_word):
    failed = failing(exercise_checks.review_helm_application(app, "t15-x-helm"))
    assert failed_name in failed, failed
    assert hint_word in failed[failed_name]


def test_helm_application_other_namespace_and_kind_are_reported():
    assert "Despliega en otro-ns, en el propio clúster" in failing(
        exercise_checks.review_helm_application(helm_app(), "otro-ns"))
    assert list(failing(exercise_checks.review_helm_application({"kind": "HelmRelease"}, "x"))) == [
        "Es un Application de Argo CD"]
