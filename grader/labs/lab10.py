"""Lab 10 (15.10): the analysis (named PromQL queries and their conditions) and the canary
plan (steps with weights and pauses) of a release.

The static checks parse what the student wrote. The rest run it: for each case the grader
starts a stable and a candidate copy of the service (containers, or uvicorn processes
without an engine), a real Prometheus scraping both with the labels ``version`` and
``track``, a real HAProxy in front and a load generator the whole time, and lets the
course's controller (course.rollout) apply the student's plan and analysis. A good
candidate must reach 100 %; one with errors and one with added latency must be rolled
back, quickly, with few failed user requests and the stable version untouched; and when
Prometheus has no data on the candidate the controller must not promote it."""
from __future__ import annotations

import promql_parser
import yaml

from course import promstack, rollout
from grader.checks import check

SERVICE_WITHOUT = ()
SUBMISSION_ROOT = "."                   # a directory submission holds rollout/
FOLDER = "rollout"
ANALYSIS, PLAN = "analisis.yaml", "plan.yaml"
CANDIDATES = {
    "buena": {},
    "errores": {"FAULT_ERROR_RATE": "0.5"},
    "lenta": {"FAULT_EXTRA_LATENCY_MS": "400"},
}
MAX_PAUSES_S = 40          # total pause of a plan: the grader runs it four times
MAX_ROLLBACK_S = 15        # first weight > 0 → back to 0, for a bad candidate
MAX_FAILED_SHARE = 0.05    # failed user requests during the release with errors
PER_VERSION = {"track": {"canary"}, "version": {"1.1.0"}}


# --- files --------------------------------------------------------------------------

def _yaml(ctx, name: str):
    path = ctx.workdir / FOLDER / name
    assert path.is_file(), f"No existe {FOLDER}/{name}: el laboratorio debe escribirlo."
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise AssertionError(f"{name} no es YAML válido: {exc}") from None


def _analysis(ctx) -> rollout.Analysis:
    def load():
        try:
            return rollout.Analysis.from_dict(_yaml(ctx, ANALYSIS) or {})
        except (rollout.PlanError, TypeError, ValueError) as exc:
            raise AssertionError(f"{ANALYSIS}: {exc}") from None
    return ctx.memo("analysis", load)


def _steps(ctx) -> list[rollout.Step]:
    def load():
        data = _yaml(ctx, PLAN)
        assert isinstance(data, dict) and isinstance(data.get("steps"), list), (
            f"{PLAN} debe tener una lista «steps» (setWeight / pause).")
        try:
            return rollout.parse_steps(data["steps"])
        except (rollout.PlanError, TypeError, ValueError) as exc:
            raise AssertionError(f"{PLAN}: {exc}") from None
    return ctx.memo("steps", load)


def _selectors(node):
    """Every vector selector of a parsed PromQL expression."""
    if isinstance(node, promql_parser.VectorSelector):
        yield node
    for attr in ("lhs", "rhs", "expr", "args", "vector_selector", "param"):
        child = getattr(node, attr, None)
        for item in child if isinstance(child, list) else [child]:
            if type(item).__module__ == "promql_parser":
                yield from _selectors(item)


def _runnable(ctx) -> tuple[rollout.Analysis, list[rollout.Step]]:
    """The student's analysis and plan, if the controller can run them at all."""
    analysis, steps = _analysis(ctx), _steps(ctx)
    problems = analysis.problems() + rollout.plan_problems(steps)
    assert not problems, ("Sin un análisis y un plan válidos no puedo observar tu despliegue: "
                          + " ".join(problems))
    return analysis, steps


def _drill(ctx, case: str, **kwargs) -> rollout.Drill:
    def run():
        analysis, steps = _runnable(ctx)
        with promstack.open_stack(ctx.run_id, service_dir=ctx.service_dir) as stack:
            return rollout.drill(stack, analysis, steps, candidate_env=CANDIDATES[case], **kwargs)
    return ctx.memo(f"drill-{case}-{sorted(kwargs.items())}", run)


def _describe(d: rollout.Drill) -> str:
    return f"resultado «{d.result.outcome}»: {d.result.reason} Pesos finales: {d.final_weights}."


# --- static checks ------------------------------------------------------------------

@check("analisis.valido", points=1)
def analysis_is_valid(ctx):
    """El análisis carga, sus consultas son PromQL válido y sus condiciones se entienden."""
    problems = _analysis(ctx).problems()
    assert not problems, " ".join(problems)


@check("analisis.por_version", points=2)
def queries_measure_the_candidate(ctx):
    """Cada consulta mide solo la versión candidata (etiqueta track o version), no el servicio entero."""
    for metric in _analysis(ctx).metrics:
        try:
            tree = promql_parser.parse(metric.query)
        except ValueError as exc:
            raise AssertionError(f"«{metric.name}» no es PromQL válido: {exc}") from None
        for selector in _selectors(tree):
            pinned = [m for m in selector.matchers.matchers if m.name in PER_VERSION
                      and m.op == promql_parser.MatchOp.Equal and m.value in PER_VERSION[m.name]]
            assert pinned, (f"«{metric.name}»: el selector {selector.name or selector} mide todo el "
                            'servicio; fíltralo por la candidata (track="canary" o '
                            'version="1.1.0"), si no la estable tapa sus errores.')


@check("analisis.errores_y_latencia", points=1)
def analysis_covers_errors_and_latency(ctx):
    """El análisis mide el ratio de errores 5xx y un percentil de latencia."""
    queries = [m.query.replace(" ", "") for m in _analysis(ctx).metrics]
    assert any("http_requests_total" in q and "status" in q for q in queries), (
        "Falta una consulta del ratio de errores (http_requests_total con status=~\"5..\").")
    assert any("histogram_quantile" in q and "http_request_duration_seconds_bucket" in q
               for q in queries), ("Falta una consulta de latencia (histogram_quantile sobre "
                                   "http_request_duration_seconds_bucket).")


@check("plan.valido", points=2)
def plan_is_valid(ctx):
    """El plan sube el peso paso a paso (empieza por poco, pausas con análisis, acaba en 100 %)."""
    steps = _steps(ctx)
    problems = rollout.plan_problems(steps)
    assert not problems, " ".join(problems)
    total = sum(s.pause or 0 for s in steps)
    assert total <= MAX_PAUSES_S, (f"Las pausas suman {total:g} s: en este laboratorio el plan "
                                   f"debe caber en {MAX_PAUSES_S} s.")


# --- the controller on real traffic ---------------------------------------------------

RUNS = ("prometheus", "haproxy")


@check("canario.promueve_buena", points=2, needs=RUNS)
def good_candidate_is_promoted(ctx):
    """Con una candidata sana el controlador llega al 100 %."""
    d = _drill(ctx, "buena")
    assert d.result.promoted and d.final_weights.get(rollout.CANARY) == 100, (
        "Una candidata sana no se promovió: " + _describe(d)
        + " ¿Umbrales demasiado estrictos, o count mayor que las mediciones que caben en las pausas?")


@check("canario.revierte_errores", points=2, needs=RUNS)
def candidate_with_errors_is_rolled_back(ctx):
    """Una candidata con un 50 % de errores se revierte sola a la estable."""
    d = _drill(ctx, "errores")
    assert not d.result.promoted and d.final_weights.get(rollout.CANARY) == 0, (
        "Una candidata con un 50 % de errores no se revirtió: " + _describe(d))


@check("canario.revierte_latencia", points=2, needs=RUNS)
def slow_candidate_is_rolled_back(ctx):
    """Una candidata con 400 ms de latencia añadida se revierte sola a la estable."""
    d = _drill(ctx, "lenta")
    assert not d.result.promoted and d.final_weights.get(rollout.CANARY) == 0, (
        "Una candidata 400 ms más lenta no se revirtió: " + _describe(d))


@check("canario.reversion_rapida", points=1, needs=RUNS)
def rollback_is_quick(ctx):
    """La reversión llega en menos de 15 s desde que la candidata recibe tráfico."""
    for case in ("errores", "lenta"):
        d = _drill(ctx, case)
        assert d.rollback_seconds is not None, f"La candidata «{case}» no se revirtió: {_describe(d)}"
        assert d.rollback_seconds <= MAX_ROLLBACK_S, (
            f"La candidata «{case}» tardó {d.rollback_seconds:.1f} s en revertirse (máximo "
            f"{MAX_ROLLBACK_S} s): acorta el intervalo o la primera pausa, o baja failureLimit.")


@check("canario.pocos_fallos", points=1, needs=RUNS)
def few_users_see_errors(ctx):
    """Con la candidata defectuosa fallan menos del 5 % de las peticiones de los usuarios."""
    d = _drill(ctx, "errores")
    failed = sum(1 for h in d.hits if not 200 <= h.status < 500)
    share = failed / max(len(d.hits), 1)
    assert share <= MAX_FAILED_SHARE, (
        f"Fallaron {failed} de {len(d.hits)} peticiones ({share:.1%}; máximo "
        f"{MAX_FAILED_SHARE:.0%}): el primer peso es demasiado alto o la reversión llega tarde.")


@check("canario.estable_intacta", points=1, needs=RUNS)
def stable_is_untouched(ctx):
    """Tras una reversión la estable sigue sana y recibe el 100 % del tráfico."""
    for case in ("errores", "lenta"):
        d = _drill(ctx, case)
        assert d.stable_ok, f"Tras la candidata «{case}» la estable no responde /health/ready."
        assert d.final_weights == {rollout.STABLE: 100, rollout.CANARY: 0}, (
            f"Tras la candidata «{case}» los pesos son {d.final_weights}, no estable 100 / candidata 0.")
        served = sum(1 for h in d.hits if h.served_by == rollout.STABLE)
        assert served > len(d.hits) / 2, "La estable no sirvió la mayoría de las peticiones."


@check("canario.sin_datos_no_promueve", points=2, needs=RUNS)
def no_promotion_without_data(ctx):
    """Si Prometheus no tiene datos de la candidata, el controlador no la promueve."""
    d = _drill(ctx, "buena", scrape_canary=False)
    assert not d.result.promoted and d.final_weights.get(rollout.CANARY) == 0, (
        "Prometheus no raspaba la candidata y aun así se promovió: " + _describe(d)
        + " Tus consultas devuelven un número sin datos de la candidata (¿miden todo el "
          "servicio, o un «or vector(0)» envuelve el cociente entero?).")
