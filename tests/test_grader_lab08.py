"""Lab 08 end to end: the solution scores 100 %, the untouched lab fails cleanly, and
each typical mistake is caught by its own check with a Spanish message while the other
checks of the same submission (written in a different, valid style) still pass.

Faulty submissions are directories (graded without executing a notebook): each one
carries several independent mistakes, so one grading run covers several checks."""
import re

import nbformat
import pytest
import yaml

from course import REPO_ROOT, env, images, processes, promstack
from course import docker as cdocker
from course import imagebuild
from grader.grade import grade
from tests.conftest import assert_full_marks

SOLUTION = REPO_ROOT / "solutions" / "lab08_metricas.ipynb"
LAB = REPO_ROOT / "labs" / "lab08_metricas.ipynb"
MARKED = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def solution_values() -> dict:
    """METRICS_PY, PROMETHEUS_YML, ALERTAS_YML and CONSULTAS as the solution defines them."""
    namespace: dict = {}
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        for block in MARKED.findall(cell.source):
            exec(block, namespace)  # plain assignments of string and dict literals
    return namespace


SOLVED = solution_values()




def submit_dir(tmp_path, *, metrics=None, config=None, rules=None, queries=None):
    folder = tmp_path / "entrega-lab08"
    (folder / "service" / "app").mkdir(parents=True)
    (folder / "prometheus").mkdir()
    (folder / "service" / "app" / "metrics.py").write_text(metrics or SOLVED["METRICS_PY"])
    (folder / "prometheus" / "prometheus.yml").write_text(config or SOLVED["PROMETHEUS_YML"])
    (folder / "prometheus" / "alertas.yml").write_text(rules or SOLVED["ALERTAS_YML"])
    (folder / "prometheus" / "consultas.yml").write_text(
        yaml.safe_dump(queries or SOLVED["CONSULTAS"], allow_unicode=True, width=200))
    return folder


@pytest.fixture(scope="module")
def engine(docker_client):
    """The images the grader needs, and a build of the service kept for the whole module:
    its layers (the builder stage is tagged) are the build cache every grading run below
    reuses, so none of them installs the dependencies again."""
    images.ensure("prometheus")
    images.ensure("python-slim")
    with cdocker.run_scope() as run:
        imagebuild.build(REPO_ROOT / "service", f"{run}-cache:lab08", run=run, quiet=True)
        yield docker_client


def test_solution_scores_everything(engine):
    result = grade(SOLUTION)
    assert result.execution.status == "ok", result.execution.message
    assert result.score == 1.0, result.to_markdown()
    assert len(result.checks) >= 6
    assert result.verifiable_points == result.total_points


@pytest.mark.skipif(promstack.binary("prometheus") is None or promstack.binary("alertmanager") is None,
                    reason="sin los binarios prometheus y alertmanager (apt-get install prometheus "
                           "prometheus-alertmanager)")
@pytest.mark.slow
def test_solution_scores_everything_without_docker(monkeypatch):
    """As on Binder: no engine; the services run as uvicorn processes and Prometheus is
    the local binary, reading the solution's catalogo-1:8000 as local addresses."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/tema15/docker.sock")
    env.refresh()
    try:
        assert not env.has("docker") and promstack.backend() == "local"
        result = grade(SOLUTION)
    finally:
        monkeypatch.undo()
        env.refresh()
    assert_full_marks(result, "lab08", min_checks=6)
    # This grading's run only: other runs (a parallel suite, other users) may be live.
    assert processes.leftovers(result.run_id) == [], "procesos sin detener tras corregir"


def test_untouched_lab_fails_cleanly(engine):
    result = grade(LAB)
    assert result.execution.status == "error_en_celda"
    assert "TU CÓDIGO AQUÍ" in result.execution.message
    assert result.score < 0.2 and not result.success
    assert "error" not in result.statuses().values(), result.to_markdown()
    assert "No existe prometheus/prometheus.yml" in result.messages()["scrape.config_valida"]
    assert "No hay service/app/metrics.py" in result.messages()["metricas.tipos"]


# Mistakes: a raw-path label, grouped status codes ("2xx", the instrumentator's default once
# should_group_status_codes=False is dropped; the task asks for exact codes), the error ratio
# without sum(), a rule file promtool rejects.
# Valid alternatives that must still pass: DNS discovery of
# the targets, 30 s windows, the p95 written with `by (le)` after the aggregation.
RAW_PATHS = SOLVED["METRICS_PY"].replace(
    "        should_group_status_codes=False,\n        should_ignore_untemplated=True,\n",
    "        should_ignore_untemplated=False,\n        should_group_untemplated=False,\n")
DNS_CONFIG = """\
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [alertas.yml]
scrape_configs:
  - job_name: catalogo
    dns_sd_configs:
      - names: [catalogo-1, catalogo-2]
        type: A
        port: 8000
        refresh_interval: 2s
"""
BROKEN_RULES = SOLVED["ALERTAS_YML"].replace("for: 5s", "for: cinco segundos")


def test_raw_paths_no_sum_and_broken_rules_are_caught(engine, tmp_path):
    assert RAW_PATHS != SOLVED["METRICS_PY"] and BROKEN_RULES != SOLVED["ALERTAS_YML"]
    queries = {
        "ratio_errores": 'rate(http_requests_total{status=~"5.."}[30s]) / rate(http_requests_total[30s])',
        "latencia_p95": "histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket[30s])) by (le))",
    }
    result = grade(submit_dir(tmp_path, metrics=RAW_PATHS, config=DNS_CONFIG, rules=BROKEN_RULES,
                              queries=queries), "lab08")
    got, says = result.statuses(), result.messages()
    assert got["metricas.etiquetas_acotadas"] == "failed"
    assert "sin límite" in says["metricas.etiquetas_acotadas"]
    assert "/no-existe-" in says["metricas.etiquetas_acotadas"]
    assert got["metricas.codigos_exactos"] == "failed"
    assert "agrupa los códigos de estado (2xx" in says["metricas.codigos_exactos"]
    assert got["promql.ratio_errores"] == "failed"
    assert "Todas valen 1.0" in says["promql.ratio_errores"] and "sum()" in says["promql.ratio_errores"]
    assert got["alerta.valida"] == "failed" and "promtool check rules falla" in says["alerta.valida"]
    assert got["alerta.dispara"] == "failed"
    for ok in ("scrape.config_valida", "scrape.objetivos_up", "promql.sintaxis", "promql.p95",
               "metricas.tipos", "metricas.negocio"):
        assert got[ok] == "passed", (ok, says[ok])
    assert "error" not in got.values()


# Mistakes: the source text's `status_code` label, a wrong port for catalogo-1, the new
# business counter declared as a Gauge. Valid alternative: an alert on a recording rule.
GAUGE_LOOKUPS = SOLVED["METRICS_PY"].replace(
    'lookups = Counter(\n        "catalogo_consultas_articulo"',
    'lookups = Gauge(\n        "catalogo_consultas_articulo"')
WRONG_PORT = SOLVED["PROMETHEUS_YML"].replace('"catalogo-1:8000"', '"catalogo-1:8080"')
RECORDED_RULES = """\
groups:
  - name: registro
    rules:
      - record: job:errores:ratio_rate1m
        expr: sum by (job) (rate(http_requests_total{status=~"5.."}[1m])) / sum by (job) (rate(http_requests_total[1m]))
  - name: alertas
    rules:
      - alert: ErroresAltos
        expr: job:errores:ratio_rate1m > 0.05
        for: 3s
        labels: {severity: critical}
        annotations: {summary: "Errores 5xx por encima del 5 %"}
"""


def test_wrong_label_wrong_target_and_wrong_type_are_caught(engine, tmp_path):
    assert GAUGE_LOOKUPS != SOLVED["METRICS_PY"] and WRONG_PORT != SOLVED["PROMETHEUS_YML"]
    queries = dict(SOLVED["CONSULTAS"], ratio_errores=(
        'sum(rate(http_requests_total{status_code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))'))
    result = grade(submit_dir(tmp_path, metrics=GAUGE_LOOKUPS, config=WRONG_PORT,
                              rules=RECORDED_RULES, queries=queries), "lab08")
    got, says = result.statuses(), result.messages()
    assert got["promql.ratio_errores"] == "failed"
    assert "no devuelve datos" in says["promql.ratio_errores"] and "status_code" in says["promql.ratio_errores"]
    assert got["scrape.objetivos_up"] == "failed"
    assert "catalogo-1:8080" in says["scrape.objetivos_up"]
    assert got["metricas.tipos"] == "failed"
    assert "catalogo_consultas_articulo_total es de tipo gauge" in says["metricas.tipos"]
    for ok in ("scrape.config_valida", "promql.sintaxis", "promql.p95", "alerta.valida",
               "alerta.dispara", "metricas.negocio", "metricas.etiquetas_acotadas"):
        assert got[ok] == "passed", (ok, says[ok])
    assert "error" not in got.values()


# The course's own metrics module is a valid submission (every metrics check passes).
# Mistakes: an alert on ANY 5xx (no 5 % threshold), caught only by the mild error phase.
ANY_5XX_RULES = """\
groups:
  - name: catalogo
    rules:
      - alert: CatalogoTasaErroresAlta
        expr: sum(rate(http_requests_total{status=~"5.."}[1m])) > 0
        for: 5s
        labels: {severity: critical}
        annotations: {summary: "Hay respuestas 5xx"}
"""


def test_course_service_metrics_and_an_any_5xx_alert(engine, tmp_path):
    service_metrics = (REPO_ROOT / "service" / "app" / "metrics.py").read_text()
    result = grade(submit_dir(tmp_path, metrics=service_metrics, rules=ANY_5XX_RULES), "lab08")
    got, says = result.statuses(), result.messages()
    assert got["alerta.umbral"] == "failed", says["alerta.umbral"]
    assert "por debajo del 5 %" in says["alerta.umbral"]
    assert "CatalogoTasaErroresAlta → " in says["alerta.umbral"]
    others = {c: s for c, s in got.items() if c != "alerta.umbral"}
    assert set(others.values()) == {"passed"}, result.to_markdown()


def _static_queries_check(tmp_path, p95: str):
    """promql.sintaxis on a consultas.yml alone (no Prometheus needed)."""
    import grader.labs.lab08  # noqa: F401  (registers the checks)
    from grader import checks
    from grader.context import GradingContext
    from grader.runner import NOT_EXECUTED, ExecutionReport
    (tmp_path / "prometheus").mkdir(exist_ok=True)
    (tmp_path / "prometheus" / "consultas.yml").write_text(yaml.safe_dump(
        {"ratio_errores": SOLVED["CONSULTAS"]["ratio_errores"], "latencia_p95": p95}))
    ctx = GradingContext("lab08", tmp_path, "t15-prueba", ExecutionReport(NOT_EXECUTED, ""))
    chk = next(c for c in checks.REGISTRY.checks["lab08"] if c.id == "promql.sintaxis")
    return checks.run_check(chk, ctx)


@pytest.mark.parametrize("p95", [
    "histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket[1m])))",
    "histogram_quantile(0.95, sum by (handler) (rate(http_request_duration_seconds_bucket[1m])))",
    "histogram_quantile(0.95, sum without (le) (rate(http_request_duration_seconds_bucket[1m])))",
])
def test_p95_that_drops_le_is_caught(tmp_path, p95):
    result = _static_queries_check(tmp_path, p95)
    assert result.status == "failed" and "pierde la etiqueta le" in result.message, result.message


@pytest.mark.parametrize("p95", [
    "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))",
    "histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket[1m])) by (le, job))",
    ("histogram_quantile(0.95, sum without (instance, handler, method) "
    "(rate(http_request_duration_seconds_bucket[1m])))"),
])
def test_p95_forms_that_keep_le_pass_the_syntax_check(tmp_path, p95):
    result = _static_queries_check(tmp_path, p95)
    assert result.status == "passed", result.message


# --- the alert's for, severity and summary: read from the file, nothing is started -------

def only_labels(tmp_path, rules: str):
    result = grade(submit_dir(tmp_path, rules=rules), "lab08", only=["alerta.etiquetas"])
    (check,) = result.checks
    return check


@pytest.mark.parametrize("rules", [SOLVED["ALERTAS_YML"], """\
groups:
  - name: otra
    rules:
      - record: job:errores:ratio
        expr: sum(rate(http_requests_total{status=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))
      - alert: ErroresAltos
        expr: job:errores:ratio > 0.05
        for: 3s
        labels: {severity: critical, equipo: catalogo}
        annotations: {summary: "Errores 5xx por encima del 5 %"}
"""], ids=["solucion", "otro_estilo"])
def test_labelled_alert_passes(tmp_path, rules):
    check = only_labels(tmp_path, rules)
    assert check.status == "passed", check.message


@pytest.mark.parametrize("old,new,word", [
    ("        for: 5s\n", "", "un for"),
    ("severity: critical", "severity: warning", "severity: critical"),
    ("        annotations:\n", "        annotations_:\n", "summary"),
], ids=["sin_for", "severidad_warning", "sin_summary"])
def test_unlabelled_alert_is_caught(tmp_path, old, new, word):
    assert old in SOLVED["ALERTAS_YML"]
    check = only_labels(tmp_path, SOLVED["ALERTAS_YML"].replace(old, new, 1))
    assert check.status == "failed", check
    assert word in check.message and "CatalogoTasaErroresAlta" in check.message, check.message


# Mistake: the probes and Prometheus' own scrapes counted as traffic.
COUNTS_PROBES = SOLVED["METRICS_PY"].replace(
    '        excluded_handlers=["^/metrics$", "^/health/"],\n', "")


def test_counted_probes_are_caught(engine, tmp_path):
    assert COUNTS_PROBES != SOLVED["METRICS_PY"]
    result = grade(submit_dir(tmp_path, metrics=COUNTS_PROBES), "lab08",
                   only=["metricas.sin_sondas", "metricas.tipos"])
    got, says = result.statuses(), result.messages()
    assert got["metricas.sin_sondas"] == "failed", result.to_markdown()
    assert "/health/live" in says["metricas.sin_sondas"] and "excluded_handlers" in says["metricas.sin_sondas"]
    assert got["metricas.tipos"] == "passed", says["metricas.tipos"]
