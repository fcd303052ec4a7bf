"""Lab 08 (15.8): the service's metrics module with a new business metric, a Prometheus
scrape configuration, PromQL for the error ratio and the p95, and an alerting rule.

Every check looks at reality: the grader runs two copies of the student's service
(``catalogo-2`` with injected errors and latency), starts a real Prometheus with the
student's configuration and rules, sends a known load and asks Prometheus (and the
services' /metrics) what happened. With a Docker engine the copies are containers of the
student's image on their own network; without one (Binder) they are uvicorn processes
and Prometheus is the local binary, which reads ``catalogo-1:8000`` in the student's
configuration as the local address of that copy (course.promstack)."""
from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import promql_parser
import yaml
from prometheus_client.parser import text_string_to_metric_families

from course import docker as cdocker
from course import imagebuild
from course import prom, promstack, traffic
from grader.checks import NotVerifiable, check

PROM_DIR = "prometheus"
CONFIG = "prometheus.yml"
QUERIES = "consultas.yml"
JOB = "catalogo"
ALIASES = ("catalogo-1", "catalogo-2")
FAULTS = {"FAULT_ERROR_RATE": "0.4", "FAULT_EXTRA_LATENCY_MS": "200"}
PATHS = ["/items", "/items/1", "/items/2", "/items/424242"]
MAX_INTERVAL_S = 2.0
RATIO_TOLERANCE = 0.02
P95_TOLERANCE = 0.15          # relative
MIN_BUCKETS = 8
GROUPED_STATUS = re.compile(r"[1-5]xx", re.I)  # the instrumentator's default grouping
MAX_SERIES_PER_FAMILY = 100
HEALTHY_PHASE_S = 3
# Mild phase: catalogo-1 at 40 req/s plus one request a second to catalogo-2 (40 % 5xx),
# about 1 % of 5xx overall: a 5 % threshold must stay inactive, an "any 5xx" rule does not.
MILD_PHASE_MIN_S, MILD_PHASE_MAX_S = 8, 30  # the max only matters on a loaded machine
MILD_MIN_ERRORS = 2
ERROR_PHASE_MIN_S, ERROR_PHASE_MAX_S = 8, 30
TARGETS_TIMEOUT_S = 15
REF_RATIO = 'sum(rate(http_requests_total{{status=~"5.."}}[{w}])) / sum(rate(http_requests_total[{w}]))'
REF_P95 = "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[{w}])))"
REQUIRED = {  # exposed name → (family name for the parser, type, labels it must have)
    "http_requests_total": ("http_requests", "counter", {"handler", "method", "status"}),
    "http_request_duration_seconds": ("http_request_duration_seconds", "histogram",
                                      {"handler", "method"}),
    "catalogo_items_creados_total": ("catalogo_items_creados", "counter", set()),
    "catalogo_items_en_catalogo": ("catalogo_items_en_catalogo", "gauge", set()),
    "catalogo_consultas_articulo_total": ("catalogo_consultas_articulo", "counter", {"resultado"}),
}


# --- files --------------------------------------------------------------------------

def _prom_dir(ctx) -> Path:
    return ctx.workdir / PROM_DIR


def _config_text(ctx) -> str:
    path = _prom_dir(ctx) / CONFIG
    assert path.is_file(), f"No existe {PROM_DIR}/{CONFIG}: el laboratorio debe escribirlo."
    return path.read_text()


def _config(ctx) -> dict:
    def load():
        try:
            data = yaml.safe_load(_config_text(ctx))
        except yaml.YAMLError as exc:
            raise AssertionError(f"{CONFIG} no es YAML válido: {exc}") from None
        assert isinstance(data, dict), f"{CONFIG} debe ser un mapa YAML (global, scrape_configs…)."
        return data
    return ctx.memo("config", load)


def _rule_files(ctx) -> dict[str, str]:
    """Every YAML file next to the config except the config and the queries file."""
    folder = _prom_dir(ctx)
    if not folder.is_dir():
        return {}
    return {p.name: p.read_text() for p in sorted(folder.iterdir())
            if p.suffix in (".yml", ".yaml") and p.name not in (CONFIG, QUERIES)}


def _queries(ctx) -> dict[str, str]:
    def load():
        path = _prom_dir(ctx) / QUERIES
        assert path.is_file(), f"No existe {PROM_DIR}/{QUERIES} con tus consultas PromQL."
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise AssertionError(f"{QUERIES} no es YAML válido: {exc}") from None
        missing = [k for k in ("ratio_errores", "latencia_p95") if not str(data.get(k) or "").strip()]
        assert not missing, f"En {QUERIES} faltan las claves: {', '.join(missing)}."
        return {k: str(data[k]).strip() for k in ("ratio_errores", "latencia_p95")}
    return ctx.memo("queries", load)


def _rules_check(ctx) -> dict[str, tuple[int, str]]:
    """promtool check rules on every rule file: name → (exit code, output)."""
    def run():
        files = _rule_files(ctx)
        return {name: _stack(ctx).promtool("check", "rules", name, files=files)
                for name in files}
    return ctx.memo("rules_check", run)


def _loadable_files(ctx) -> dict[str, str]:
    """The rule files as Prometheus will get them: invalid ones become empty groups, so a
    broken rule file costs the rule checks only, not the scrape and query checks."""
    files = _rule_files(ctx)
    for name, (code, _) in _rules_check(ctx).items():
        if code != 0:
            files[name] = "groups: []\n"
    return files


def _config_check(ctx) -> tuple[int, str]:
    def run():
        files = {CONFIG: _config_text(ctx), **_loadable_files(ctx)}
        return _stack(ctx).promtool("check", "config", CONFIG, files=files)
    return ctx.memo("config_check", run)


# --- the running system -----------------------------------------------------------

def _image(ctx) -> str:
    try:
        # run="": the builder stage is not named after this run, so the final cleanup
        # never deletes a cached stage that other builds share (the final image still
        # carries the run label).
        report = imagebuild.build(ctx.service_dir, f"{ctx.run_id}-lab08:corrector", run="",
                               extra_labels=cdocker.labels(ctx.run_id), quiet=True)
    except imagebuild.BuildFailed as exc:
        raise AssertionError(f"La imagen del servicio no se construye: {exc}") from None
    return report.tag


def _stack(ctx) -> promstack.Stack:
    """Where the services and Prometheus run; grade() removes it all (containers or
    processes) with the run, and the local scratch folder with the work dir."""
    return ctx.memo("stack", lambda: promstack.open_stack(
        ctx.run_id, service_dir=ctx.service_dir, scratch=ctx.workdir / ".prometheus"))


def _services(ctx) -> dict[str, str]:
    """alias → base URL of the two copies of the service (catalogo-2 with faults)."""
    def start():
        assert (ctx.service_dir / "app" / "metrics.py").is_file(), (
            "No hay service/app/metrics.py: el laboratorio debe escribir el módulo de métricas.")
        stack = _stack(ctx)
        if stack.kind == "docker":
            stack.use_image(_image(ctx))
        urls = {}
        for alias in ALIASES:
            env = FAULTS if alias == "catalogo-2" else {}
            try:
                urls[alias] = stack.service(alias, env, timeout=45)
            except prom.NotReady as exc:
                raise AssertionError("El servicio no arranca con tu app/metrics.py "
                                     f"(¿error al importarlo?):\n{exc}") from None
        return urls
    return ctx.memo("services", start)


def _prometheus(ctx) -> prom.Prometheus:
    if _stack(ctx).kind == "local" and "dns_sd_configs" in _config_text(ctx):
        raise NotVerifiable(
            "Tu configuración descubre los objetivos por DNS (dns_sd_configs) y aquí no hay "
            "Docker: sin su red no existen esos nombres. La configuración es válida, pero el "
            "scrape, las consultas y la alerta solo se pueden verificar en una máquina con "
            "Docker.")

    def start():
        code, output = _config_check(ctx)
        assert code == 0, f"Prometheus no acepta tu {CONFIG}:\n{output}"
        try:  # first: its ~5 s until the first scrape overlap the services' start
            p = _stack(ctx).prometheus(_config_text(ctx), _loadable_files(ctx))
        except prom.NotReady as exc:
            raise AssertionError(str(exc)) from None
        _services(ctx)
        return p
    return ctx.memo("prometheus", start)


def _targets(ctx) -> list[dict]:
    """The targets Prometheus sees once both of the job are up (or after a timeout)."""
    def wait():
        p = _prometheus(ctx)
        try:
            return p.wait_targets(len(ALIASES), job=JOB, timeout=TARGETS_TIMEOUT_S)
        except prom.NotReady:
            return p.targets()
    return ctx.memo("targets", wait)


@dataclass
class Traffic:
    load: traffic.LoadResult
    at: float                                   # when the queries are evaluated
    healthy_states: dict[str, str] = field(default_factory=dict)   # alert → worst state
    mild_states: dict[str, str] = field(default_factory=dict)      # same, with ~1 % of 5xx
    mild: traffic.LoadResult = field(default_factory=traffic.LoadResult)
    fired: dict[str, float] = field(default_factory=dict)          # alert → seconds to fire
    alerts: list[str] = field(default_factory=list)


def _alert_states(p: prom.Prometheus) -> dict[str, str]:
    states: dict[str, str] = {}
    for rule in p.rules():
        if rule["type"] == "alerting":
            states[rule["name"]] = _worst(states.get(rule["name"], "inactive"), rule["state"])
    return states


def _worst(a: str, b: str) -> str:
    order = ["inactive", "pending", "firing"]
    return max(a, b, key=lambda s: order.index(s) if s in order else 0)


def _traffic(ctx) -> Traffic:
    """A known load: a healthy phase against catalogo-1, then errors and latency from
    catalogo-2, watching the student's alerts all along."""
    def generate():
        p = _prometheus(ctx)
        urls = _services(ctx)
        _targets(ctx)  # scrape.objetivos_up explains missing targets; the queries show it too
        time.sleep(1)  # a scrape of the idle services
        result = traffic.LoadResult()
        healthy: dict[str, str] = {}

        def run_load(targets, seconds, rate=40, workers=4):
            out = []
            worker = threading.Thread(target=lambda: out.append(
                traffic.load(targets, PATHS, seconds=seconds, rate=rate, workers=workers)))
            worker.start()
            return worker, out

        worker, out = run_load({"catalogo-1": urls["catalogo-1"]}, HEALTHY_PHASE_S)
        while worker.is_alive():
            for name, state in _alert_states(p).items():
                healthy[name] = _worst(healthy.get(name, "inactive"), state)
            time.sleep(0.5)
        result = result.merge(out[0])
        mild_states, mild = _mild_phase(p, urls, run_load)
        result = result.merge(mild)
        fired: dict[str, float] = {}
        started = time.monotonic()
        while time.monotonic() - started < ERROR_PHASE_MAX_S:
            worker, out = run_load(urls, 1.5)
            worker.join()
            result = result.merge(out[0])
            states = _alert_states(p)
            for name, state in states.items():
                if state == "firing":
                    fired.setdefault(name, time.monotonic() - started)
            # no alert loaded: nothing to wait for beyond the data the queries need
            if (fired or not states) and time.monotonic() - started >= ERROR_PHASE_MIN_S:
                break
        time.sleep(2)  # the last requests reach Prometheus
        return Traffic(result, time.time(), healthy_states=healthy, mild_states=mild_states,
                       mild=mild, fired=fired, alerts=sorted(_alert_states(p)))
    return ctx.memo("traffic", generate)


def _mild_phase(p: prom.Prometheus, urls: dict[str, str], run_load):
    """~1 % of 5xx for at least MILD_PHASE_MIN_S and until a few errors were scraped,
    recording the worst state each alert reaches."""
    states: dict[str, str] = {}
    sent = traffic.LoadResult()
    started = time.monotonic()
    while time.monotonic() - started < MILD_PHASE_MAX_S:
        healthy_load, out1 = run_load({"catalogo-1": urls["catalogo-1"]}, 1.0)
        faulty_load, out2 = run_load({"catalogo-2": urls["catalogo-2"]}, 1.0, rate=1, workers=1)
        healthy_load.join()
        faulty_load.join()
        sent = sent.merge(out1[0]).merge(out2[0])
        for name, state in _alert_states(p).items():
            states[name] = _worst(states.get(name, "inactive"), state)
        if sent.errors >= MILD_MIN_ERRORS and time.monotonic() - started >= MILD_PHASE_MIN_S:
            break
    time.sleep(1.5)  # the last errors are scraped and the rules evaluated once more
    for name, state in _alert_states(p).items():
        states[name] = _worst(states.get(name, "inactive"), state)
    return states, sent


def _metrics_text(ctx, alias: str = "catalogo-1") -> str:
    response = httpx.get(f"{_services(ctx)[alias]}/metrics", timeout=10, trust_env=False)
    assert response.status_code == 200, f"GET /metrics devolvió {response.status_code}."
    return response.text


def _families(text: str) -> dict:
    try:
        return {f.name: f for f in text_string_to_metric_families(text)}
    except ValueError as exc:
        raise AssertionError(f"/metrics no tiene el formato de exposición de Prometheus: {exc}") from None


def _total(text: str, family: str, **labels: str) -> float:
    """Sum of a family's value samples (``family`` or ``family_total``, whatever its type)
    whose labels include ``labels``."""
    return sum(s.value for f in _families(text).values() for s in f.samples
               if s.name in (family, f"{family}_total")
               and all(s.labels.get(k) == v for k, v in labels.items()))


# --- PromQL helpers -----------------------------------------------------------------

def _parse(expr: str, what: str):
    try:
        return promql_parser.parse(expr)
    except ValueError as exc:
        raise AssertionError(f"La consulta de {what} no es PromQL válido ({exc}): {expr}") from None


def _nodes(node):
    """Every node of a parsed PromQL expression, depth first."""
    yield node
    for attr in ("lhs", "rhs", "expr", "args", "vector_selector", "param"):
        child = getattr(node, attr, None)
        for item in child if isinstance(child, list) else [child]:
            if type(item).__module__ == "promql_parser":
                yield from _nodes(item)


def _window(expr: str) -> str:
    """The range of the first range selector of ``expr`` (e.g. "1m"), else "1m"."""
    for node in _nodes(_parse(expr, "la consulta")):
        if isinstance(node, promql_parser.MatrixSelector):
            return promql_parser.display_duration(node.range)
    return "1m"


def _evaluate(ctx, expr: str, what: str) -> list[prom.Sample]:
    traffic = _traffic(ctx)
    try:
        return _prometheus(ctx).query(expr, traffic.at)
    except prom.QueryError as exc:
        raise AssertionError(f"Prometheus rechaza tu consulta de {what}: {exc}") from None


def _describe(samples: list[prom.Sample]) -> str:
    return "; ".join(f"{prom.series_name(s.labels)} = {s.value:.3g}" for s in samples[:4])


# --- checks -----------------------------------------------------------------------

@check("scrape.config_valida", points=1, needs=("prometheus",))
def config_is_valid(ctx):
    """`prometheus.yml` es válido (promtool), con intervalos cortos y el job `catalogo`."""
    code, output = _config_check(ctx)
    assert code == 0, f"promtool check config falla:\n{output}"
    config = _config(ctx)
    glob = config.get("global") or {}
    for key in ("scrape_interval", "evaluation_interval"):
        value = str(glob.get(key, "1m"))
        seconds = promql_parser.parse_duration(value).total_seconds()
        assert seconds <= MAX_INTERVAL_S, (
            f"global.{key} es {value}: en el laboratorio usa 1s (como mucho {MAX_INTERVAL_S:.0f}s) "
            "para ver los resultados en segundos.")
    jobs = [j.get("job_name") for j in config.get("scrape_configs") or []]
    assert JOB in jobs, f"No hay ningún scrape_config con job_name: {JOB} (hay: {jobs or 'ninguno'})."


@check("scrape.objetivos_up", points=2, needs=("prometheus",))
def targets_up(ctx):
    """Prometheus, con tu configuración, raspa las dos instancias del servicio («up»)."""
    targets = _targets(ctx)
    up = [t for t in targets if t["job"] == JOB and t["health"] == "up"]
    seen = "; ".join(f"{t['job']}/{t['instance']}: {t['health']} {t['lastError']}".strip()
                     for t in targets) or "ninguno"
    assert len(up) >= len(ALIASES), (
        f"No están «up» los dos objetivos del job {JOB} (catalogo-1:8000 y catalogo-2:8000). "
        f"Objetivos que ve Prometheus: {seen}.")
    values = _prometheus(ctx).query(f'up{{job="{JOB}"}} == 1')
    assert len(values) >= len(ALIASES), f"up{{job=\"{JOB}\"}} vale 1 solo en {len(values)} objetivo(s)."


@check("promql.sintaxis", points=1)
def queries_parse(ctx):
    """Las dos consultas de `consultas.yml` son PromQL válido y el p95 usa `histogram_quantile(0.95, …)`."""
    queries = _queries(ctx)
    _parse(queries["ratio_errores"], "ratio de errores")
    p95 = _parse(queries["latencia_p95"], "latencia p95")
    assert isinstance(p95, promql_parser.Call) and p95.func.name == "histogram_quantile", (
        "La consulta del p95 debe ser histogram_quantile(0.95, …) sobre los cubos (_bucket).")
    assert isinstance(p95.args[0], promql_parser.NumberLiteral) and p95.args[0].val == 0.95, (
        "El primer argumento de histogram_quantile debe ser 0.95 (el percentil 95).")
    hint = ("histogram_quantile necesita los cubos http_request_duration_seconds_bucket "
            "agregados conservando la etiqueta le: sum by (le) (rate(…_bucket[1m])).")
    selectors = [n for n in _nodes(p95.args[1]) if isinstance(n, promql_parser.VectorSelector)]
    assert any((n.name or "").endswith("_bucket") for n in selectors), hint
    dropped = [n for n in _nodes(p95.args[1]) if isinstance(n, promql_parser.AggregateExpr)
               and not _keeps_le(n)]
    assert not dropped, (f"«{dropped[0].prettify()[:80]}» pierde la etiqueta le, así que "
                         "histogram_quantile no tiene cubos que interpolar. " + hint)


def _keeps_le(aggregation) -> bool:
    """Whether an aggregation keeps ``le``: ``by (…, le, …)`` or ``without (…)`` not
    naming it; a plain sum() keeps no label."""
    modifier = aggregation.modifier
    if modifier is None:
        return False
    labels = set(modifier.labels)
    return "le" in labels if modifier.type == promql_parser.AggModifierType.By else "le" not in labels


@check("promql.ratio_errores", points=2, needs=("prometheus",))
def error_ratio_is_right(ctx):
    """Tu consulta del ratio de errores da el valor correcto con una carga conocida."""
    expr = _queries(ctx)["ratio_errores"]
    samples = _evaluate(ctx, expr, "ratio de errores")
    reference = _prometheus(ctx).value(REF_RATIO.format(w=_window(expr)), _traffic(ctx).at)
    truth = _traffic(ctx).load.error_ratio
    assert samples, (
        "Tu consulta no devuelve datos con errores 5xx reales. ¿La etiqueta del código se llama "
        "status (no status_code)? ¿El nombre de la métrica es http_requests_total?")
    if len(samples) > 1:
        ones = all(abs(s.value - 1.0) < 1e-9 for s in samples)
        hint = (" Todas valen 1.0: sin sum() la división empareja cada serie 5xx consigo misma. "
                "Suma numerador y denominador: sum(rate(…5xx…)) / sum(rate(…))." if ones else
                " Agrega con sum(…) para obtener un único ratio de todo el servicio.")
        raise AssertionError(f"Tu consulta devuelve {len(samples)} series ({_describe(samples)})."
                             + hint)
    value = samples[0].value
    assert reference is not None and abs(value - reference) <= RATIO_TOLERANCE, (
        f"Tu ratio vale {value:.3f} y debería valer {reference:.3f} (±{RATIO_TOLERANCE}); el "
        f"corrector envió {truth:.1%} de respuestas 5xx. Divide los 5xx de todas las rutas entre "
        "todas las peticiones.")


@check("promql.p95", points=2, needs=("prometheus",))
def p95_is_right(ctx):
    """Tu consulta del p95 de latencia da el valor correcto con latencia inyectada."""
    expr = _queries(ctx)["latencia_p95"]
    samples = _evaluate(ctx, expr, "latencia p95")
    reference = _prometheus(ctx).value(REF_P95.format(w=_window(expr)), _traffic(ctx).at)
    assert samples, ("Tu consulta del p95 no devuelve datos: ¿usas "
                     "http_request_duration_seconds_bucket y conservas la etiqueta le?")
    assert len(samples) == 1, (
        f"Tu consulta devuelve {len(samples)} series ({_describe(samples)}): se pide el p95 de "
        "todo el servicio, así que agrega solo por le: sum by (le) (…).")
    value = samples[0].value
    assert reference is not None and abs(value - reference) <= P95_TOLERANCE * reference, (
        f"Tu p95 vale {value:.3f} s y debería valer {reference:.3f} s (±{P95_TOLERANCE:.0%}). "
        "Usa http_request_duration_seconds_bucket con rate() y sum by (le).")


@check("alerta.valida", points=1, needs=("prometheus",))
def alert_rules_valid(ctx):
    """El fichero de reglas pasa `promtool check rules` y define al menos una alerta."""
    checked = _rules_check(ctx)
    assert checked, (f"No hay ningún fichero de reglas en {PROM_DIR}/ (además de {CONFIG} y "
                     f"{QUERIES}): escribe alertas.yml.")
    broken = {name: out for name, (code, out) in checked.items() if code != 0}
    assert not broken, "promtool check rules falla:\n" + "\n".join(
        f"{name}:\n{out}" for name, out in broken.items())
    alerts = [rule.get("alert") for text in _rule_files(ctx).values()
              for group in (yaml.safe_load(text) or {}).get("groups") or []
              for rule in group.get("rules") or [] if rule.get("alert")]
    assert alerts, "Las reglas son válidas pero ninguna es de alerta (falta «alert:»)."


@check("alerta.etiquetas", points=1)
def alert_is_labelled(ctx):
    """La alerta lleva un `for`, la etiqueta `severity: critical` y una anotación `summary`."""
    rules = [rule for text in _rule_files(ctx).values()
             for group in (_yaml_or_none(text) or {}).get("groups") or []
             for rule in group.get("rules") or [] if isinstance(rule, dict) and rule.get("alert")]
    assert rules, f"No hay ninguna regla de alerta en {PROM_DIR}/ (ver alerta.valida)."
    problems = {}
    for rule in rules:
        missing = []
        if not str(rule.get("for") or "").strip():
            missing.append("un for (p. ej. for: 5s): sin él salta con el primer pico")
        if str((rule.get("labels") or {}).get("severity", "")).strip() != "critical":
            missing.append("la etiqueta severity: critical (Alertmanager enruta por ella)")
        if not str((rule.get("annotations") or {}).get("summary") or "").strip():
            missing.append("la anotación summary (lo que lee quien recibe el aviso)")
        if not missing:
            return
        problems[rule["alert"]] = missing
    raise AssertionError("; ".join(f"A la alerta {name} le falta {', '.join(missing)}"
                                   for name, missing in problems.items()) + ".")


def _yaml_or_none(text: str):
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None  # alerta.valida reports the file
    return data if isinstance(data, dict) else None


def _traffic_with_alerts(ctx):
    """The traffic phases, once the student's rules are valid and Prometheus loaded an alert."""
    broken = [name for name, (code, _) in _rules_check(ctx).items() if code != 0]
    assert not broken, f"Tus reglas no son válidas ({', '.join(broken)}): Prometheus no las carga."
    traffic = _traffic(ctx)
    assert traffic.alerts, (f"Prometheus no cargó ninguna regla de alerta: ¿incluye {CONFIG} "
                            "el fichero en rule_files?")
    return traffic


@check("alerta.dispara", points=2, needs=("prometheus",))
def alert_fires(ctx):
    """Tu alerta no salta con tráfico sano y se dispara (firing) al inyectar errores."""
    traffic = _traffic_with_alerts(ctx)
    noisy = {name: state for name, state in traffic.healthy_states.items() if state != "inactive"}
    assert not noisy, ("Con tráfico sano (ningún error) tu alerta ya se activa: "
                       + ", ".join(f"{n} → {s}" for n, s in noisy.items())
                       + ". Revisa la expresión: debe compararse el ratio de errores con un umbral.")
    assert traffic.fired, (
        f"Tus alertas ({', '.join(traffic.alerts)}) no llegaron a «firing» en "
        f"{ERROR_PHASE_MAX_S} s con un {traffic.load.error_ratio:.0%} de respuestas 5xx. "
        "¿El umbral es 0.05? ¿El «for» es corto (5s) en el laboratorio?")


@check("alerta.umbral", points=2, needs=("prometheus",))
def alert_threshold(ctx):
    """Tu alerta no se activa con un 1–2 % de errores (el umbral es el 5 %, no «cualquier 5xx»)."""
    traffic = _traffic_with_alerts(ctx)
    if traffic.mild.errors < MILD_MIN_ERRORS:
        raise NotVerifiable(f"en la fase de errores leves solo hubo {traffic.mild.errors} "
                            "respuestas 5xx: no se puede juzgar el umbral.")
    noisy = {name: state for name, state in traffic.mild_states.items() if state != "inactive"}
    assert not noisy, (
        f"Con un {traffic.mild.error_ratio:.1%} de respuestas 5xx (por debajo del 5 %) tu alerta "
        "ya se activa: " + ", ".join(f"{n} → {s}" for n, s in noisy.items()) + ". Compara el "
        "ratio de errores de todo el servicio con 0.05: sum(rate(…5xx…)) / sum(rate(…)) > 0.05.")


def _families_after_200_and_404(ctx):
    """The service's /metrics families right after one 200 and one 404 request."""
    base = _services(ctx)["catalogo-1"]
    with httpx.Client(base_url=base, timeout=10, trust_env=False) as http:
        http.get("/items/1")
        http.get("/items/424242")
    return _families(_metrics_text(ctx))


@check("metricas.tipos", points=2, needs=("prometheus",))
def metric_types(ctx):
    """/metrics expone las métricas pedidas con su tipo (`# TYPE`) y sus etiquetas."""
    families = _families_after_200_and_404(ctx)
    problems = []
    for name, (family_name, kind, labels) in REQUIRED.items():
        family = families.get(family_name)
        if family is None:
            problems.append(f"falta {name}")
            continue
        if family.type != kind:
            problems.append(f"{name} es de tipo {family.type} y debe ser {kind}")
            continue
        found = {k for s in family.samples for k in s.labels} - {"le"}
        if labels - found:
            problems.append(f"{name} no tiene la(s) etiqueta(s) {', '.join(sorted(labels - found))}")
    histogram = families.get("http_request_duration_seconds")
    if histogram is not None and histogram.type == "histogram":
        suffixes = {s.name.removeprefix(histogram.name) for s in histogram.samples}
        if not {"_bucket", "_sum", "_count"} <= suffixes:
            problems.append("http_request_duration_seconds no expone _bucket, _sum y _count")
        bounds = {s.labels.get("le") for s in histogram.samples if s.name.endswith("_bucket")}
        if len(bounds - {"+Inf"}) < MIN_BUCKETS:
            problems.append(f"http_request_duration_seconds tiene {len(bounds - {'+Inf'})} límites "
                            f"de cubo: usa al menos {MIN_BUCKETS} (el p95 sería muy impreciso)")
    assert not problems, ("Revisa app/metrics.py: " + "; ".join(problems) + ". Recuerda que "
                          "Instrumentator.add() sustituye las métricas por defecto: añádelas con "
                          "metrics.default(..., registry=tu_registro).")


@check("metricas.sin_sondas", points=1, needs=("prometheus",))
def probes_not_counted(ctx):
    """http_requests_total no cuenta las peticiones a /metrics ni a /health/…."""
    base = _services(ctx)["catalogo-1"]
    with httpx.Client(base_url=base, timeout=10, trust_env=False) as http:
        for path in ("/health/live", "/health/ready", "/metrics", "/items"):
            http.get(path)
    family = _families(_metrics_text(ctx)).get("http_requests")
    assert family is not None, "/metrics no expone http_requests_total (ver metricas.tipos)."
    counted = sorted({s.labels.get("handler", "") for s in family.samples
                      if s.labels.get("handler", "") == "/metrics"
                      or s.labels.get("handler", "").startswith("/health")})
    assert not counted, (
        f"http_requests_total cuenta {', '.join(counted)}: las sondas y el propio raspado de "
        "Prometheus inflan el tráfico y diluyen el ratio de errores. Exclúyelos con "
        'excluded_handlers=["^/metrics$", "^/health/"].')


@check("metricas.codigos_exactos", points=1, needs=("prometheus",))
def exact_status_codes(ctx):
    """http_requests_total lleva el código de estado exacto (200, 404), no agrupado (2xx)."""
    family = _families_after_200_and_404(ctx).get("http_requests")
    assert family is not None, "/metrics no expone http_requests_total (ver metricas.tipos)."
    codes = {s.labels.get("status", "") for s in family.samples}
    grouped = sorted(c for c in codes if GROUPED_STATUS.fullmatch(c))
    assert not grouped, (
        f"http_requests_total agrupa los códigos de estado ({', '.join(grouped)}): la tarea pide "
        "códigos exactos, should_group_status_codes=False, para distinguir un 404 de un 400 o un "
        "503 de un 500.")
    assert {"200", "404"} <= codes, (
        f"Tras GET /items/1 (200) y GET /items/424242 (404), http_requests_total tiene los "
        f"códigos {sorted(codes) or 'ninguno'}: faltan 200 y 404 exactos en la etiqueta status.")


@check("metricas.negocio", points=2, needs=("prometheus",))
def business_metrics(ctx):
    """Las métricas de negocio cuentan lo que pasa: artículos creados y consultas por resultado."""
    base = _services(ctx)["catalogo-1"]
    before = _metrics_text(ctx)
    with httpx.Client(base_url=base, timeout=10, trust_env=False) as http:
        answers = [http.post("/items", json={"name": f"Corrector {n}", "price": 3.5}).status_code
                   for n in range(2)]
        answers += [http.get(f"/items/{item_id}").status_code for item_id in (1, 2, 3)]
        answers += [http.get(f"/items/{item_id}").status_code for item_id in (987_001, 987_002)]
        listed = len(http.get("/items").json())
    assert answers == [201, 201, 200, 200, 200, 404, 404], (
        f"El servicio no responde como se espera a POST /items y GET /items/{{id}}: {answers}.")
    after = _metrics_text(ctx)
    checks = [
        ("catalogo_items_creados", {}, 2, "tras 2 POST /items"),
        ("catalogo_consultas_articulo", {"resultado": "encontrado"}, 3,
         "tras 3 GET /items/{id} de artículos que existen"),
        ("catalogo_consultas_articulo", {"resultado": "no_encontrado"}, 2,
         "tras 2 GET /items/{id} de artículos que no existen"),
    ]
    problems = []
    for sample, labels, expected, when in checks:
        delta = _total(after, sample, **labels) - _total(before, sample, **labels)
        if abs(delta - expected) > 1e-9:
            shown = sample + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
                              if labels else "_total")
            problems.append(f"{shown} subió {delta:g} y debía subir {expected} {when}")
    gauge = _total(after, "catalogo_items_en_catalogo")
    if gauge != listed:
        problems.append(f"catalogo_items_en_catalogo vale {gauge:g} y GET /items devuelve {listed}")
    assert not problems, "; ".join(problems) + "."


@check("metricas.etiquetas_acotadas", points=2, needs=("prometheus",))
def bounded_labels(ctx):
    """Ninguna etiqueta crece con el tráfico (ids de artículo, rutas en bruto)."""
    base = _services(ctx)["catalogo-1"]
    rng = random.Random(ctx.run_id)
    ids = [str(i) for i in rng.sample(range(10_000, 99_999), 60)]
    with httpx.Client(base_url=base, timeout=10, trust_env=False) as http:
        for item_id in ids[:40]:
            http.get(f"/items/{item_id}")
        for item_id in ids[40:]:
            http.get(f"/no-existe-{item_id}")
    families = _families(_metrics_text(ctx))
    leaks = sorted({f"{name} (etiqueta {key}, p. ej. «{value}»)"
                    for name, family in families.items() for s in family.samples
                    for key, value in s.labels.items() if any(i in value for i in ids)})
    assert not leaks, ("Hay etiquetas con valores sin límite: " + "; ".join(leaks[:4]) + ". Usa la "
                       "plantilla de la ruta (/items/{item_id}) o un resultado acotado, nunca el "
                       "id ni la ruta en bruto (should_ignore_untemplated=True o agrupar con "
                       "should_group_untemplated).")
    crowded = {name: len(f.samples) for name, f in families.items()
               if len(f.samples) > MAX_SERIES_PER_FAMILY}
    assert not crowded, f"Demasiadas series por métrica: {crowded}."


# --- task items → checks (format in CONTRIBUTING.md; tests/test_task_items.py keeps it in sync)
TASK_ITEMS: dict[str, tuple[str, ...]] = {
    "1.1": ("metricas.tipos", "metricas.negocio"),             # own registry, counter, gauge
    "1.2": ("metricas.tipos", "metricas.codigos_exactos", "metricas.sin_sondas",
            "metricas.etiquetas_acotadas"),                    # instrumentator options, buckets
    "1.3": ("metricas.tipos", "metricas.negocio", "metricas.etiquetas_acotadas"),
    "1.4": ("metricas.tipos",),                                # default metrics on the own registry
    "1.5": ("metricas.etiquetas_acotadas",),
    "2.1": ("scrape.config_valida",),
    "2.2": ("alerta.dispara",),                                # Prometheus loads the rules file
    "2.3": ("scrape.config_valida", "scrape.objetivos_up"),
    "3": ("alerta.valida", "alerta.etiquetas", "alerta.dispara", "alerta.umbral"),
    "4.1": ("promql.sintaxis", "promql.ratio_errores"),
    "4.2": ("promql.sintaxis", "promql.p95"),
}
UNTASKED: dict[str, str] = {}
KNOWN_GAPS: dict[str, str] = {}
