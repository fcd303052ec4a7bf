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

FOLDER = "rollout"
ANALYSIS, PLAN = "analisis.yaml", "plan.yaml"
CANDIDATES = {
    "buena": {},
    "errores": {"FAULT_ERROR_RATE": "0.5"},
    "lenta": {"FAULT_EXTRA_LATENCY_MS": "400"},
}
ANALYSIS_KEYS = ("interval", "count", "failureLimit", "inconclusiveLimit")
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
    """El análisis carga, fija interval, count, failureLimit e inconclusiveLimit, sus consultas son PromQL válido y sus condiciones se entienden."""
    problems = _analysis(ctx).problems()
    written = _yaml(ctx, ANALYSIS) or {}
    unset = [key for key in ANALYSIS_KEYS if key not in written]
    if unset:  # the controller has defaults, but the task asks to choose them
        problems.append(f"Falta(n) {', '.join(unset)}: la tarea pide fijarlos (sin ellos el "
                        "controlador usa sus valores por defecto, que nadie ha decidido).")
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


# --- Kubernetes: a stalled rolling update is detected and undone ----------------------

DEPLOYMENT = "deployment.yaml"
MAX_DEADLINE_S = 30


def _deployment(ctx) -> dict:
    def load():
        docs = [d for d in (_yaml_all(ctx, DEPLOYMENT)) if isinstance(d, dict)]
        deps = [d for d in docs if d.get("kind") == "Deployment"]
        assert len(deps) == 1, f"{DEPLOYMENT} debe contener exactamente un Deployment."
        return deps[0]
    return ctx.memo("deployment", load)


def _yaml_all(ctx, name: str) -> list:
    path = ctx.workdir / FOLDER / name
    assert path.is_file(), f"No existe {FOLDER}/{name}: el laboratorio debe escribirlo."
    try:
        return list(yaml.safe_load_all(path.read_text()))
    except yaml.YAMLError as exc:
        raise AssertionError(f"{name} no es YAML válido: {exc}") from None


def _probe_path(container: dict, probe: str) -> str | None:
    return ((container.get(probe) or {}).get("httpGet") or {}).get("path")


@check("k8s.estrategia", points=1)
def deployment_strategy(ctx):
    """El Deployment nunca pierde capacidad (maxUnavailable 0), tiene sondas y un plazo de progreso corto."""
    spec = _deployment(ctx).get("spec") or {}
    strategy = spec.get("strategy") or {}
    rolling = strategy.get("rollingUpdate") or {}
    assert strategy.get("type", "RollingUpdate") == "RollingUpdate", "La estrategia debe ser RollingUpdate."
    assert str(rolling.get("maxUnavailable")) in ("0", "0%"), (
        "maxUnavailable debe ser 0: así una versión que no llega a estar lista no retira pods viejos.")
    assert str(rolling.get("maxSurge", "")) not in ("", "0", "0%"), "maxSurge debe ser al menos 1."
    deadline = spec.get("progressDeadlineSeconds")
    assert isinstance(deadline, int) and 5 <= deadline <= MAX_DEADLINE_S, (
        f"progressDeadlineSeconds debe estar entre 5 y {MAX_DEADLINE_S} s en este laboratorio "
        f"(tienes {deadline!r}).")
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    assert _probe_path(containers[0], "readinessProbe") == "/health/ready", (
        "Falta la readinessProbe httpGet en /health/ready (la que frena el rollout).")
    assert _probe_path(containers[0], "livenessProbe") == "/health/live", (
        "Falta la livenessProbe httpGet en /health/live.")


@check("k8s.forma", points=1)
def deployment_shape(ctx):
    """El Deployment es catalogo: 3 réplicas de catalogo:1.0.0 que escuchan en el puerto 8000."""
    dep = _deployment(ctx)
    spec = dep.get("spec") or {}
    name = (dep.get("metadata") or {}).get("name")
    assert name == "catalogo", f"El Deployment se llama {name!r}: la tarea pide «catalogo»."
    assert spec.get("replicas") == 3, f"replicas: {spec.get('replicas')!r}; la tarea pide 3."
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    image = containers[0].get("image")
    assert image == "catalogo:1.0.0", f"La imagen es {image!r}: la tarea pide catalogo:1.0.0."
    ports = [p.get("containerPort") for p in containers[0].get("ports") or [] if isinstance(p, dict)]
    assert 8000 in ports, f"El contenedor declara los puertos {ports}: la tarea pide 8000."


def _stall_and_undo(ctx) -> dict:
    """Apply the student's Deployment, then a version that never gets ready
    (FAULT_READINESS_FAIL=true, kwok's and the service's convention), wait for the
    ProgressDeadlineExceeded condition, and run `kubectl rollout undo`."""
    def run():
        import time

        from course import k8s
        from grader.checks import NotVerifiable

        dep = _deployment(ctx)
        cluster = k8s.find()
        if cluster is None:
            raise NotVerifiable(f"el clúster dejó de responder ({k8s.why_none()})")
        ns = cluster.namespace(ctx.run_id, "lab10")
        name = dep["metadata"]["name"]
        applied = cluster.kubectl("apply", "-f", "-", namespace=ns, input=yaml.safe_dump(dep),
                                  check=False, echo=False)
        assert applied.returncode == 0, f"El API server rechaza tu Deployment: {applied.stderr.strip()}"
        ok = cluster.kubectl("rollout", "status", f"deployment/{name}", "--timeout=60s",
                             namespace=ns, check=False, echo=False)
        assert ok.returncode == 0, f"La primera versión no termina su rollout: {ok.stderr.strip()}"

        def current() -> dict:
            return yaml.safe_load(cluster.kubectl("get", f"deployment/{name}", "-o", "yaml",
                                                  namespace=ns, echo=False).stdout)

        def template_hash() -> str:
            rs = yaml.safe_load(cluster.kubectl("get", "rs", "-o", "yaml", namespace=ns,
                                                echo=False).stdout)["items"]
            gen = current()["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
            own = [r for r in rs if r["metadata"]["annotations"].get(
                "deployment.kubernetes.io/revision") == gen]
            return own[0]["metadata"]["labels"]["pod-template-hash"] if own else ""

        before = template_hash()
        broken = yaml.safe_load(yaml.safe_dump(dep))
        container = broken["spec"]["template"]["spec"]["containers"][0]
        container["env"] = [e for e in container.get("env") or [] if e.get("name") != "FAULT_READINESS_FAIL"]
        container["env"].append({"name": "FAULT_READINESS_FAIL", "value": "true"})
        cluster.kubectl("apply", "-f", "-", namespace=ns, input=yaml.safe_dump(broken), echo=False)
        deadline = dep["spec"]["progressDeadlineSeconds"]
        began, reason = time.monotonic(), ""
        while time.monotonic() - began < deadline + 30:
            status = current().get("status") or {}
            cond = next((c for c in status.get("conditions") or [] if c["type"] == "Progressing"), {})
            reason = cond.get("reason", "")
            if reason == "ProgressDeadlineExceeded":
                break
            time.sleep(1)
        available = (current().get("status") or {}).get("availableReplicas") or 0
        cluster.kubectl("rollout", "undo", f"deployment/{name}", namespace=ns, echo=False)
        # Poll the status instead of `kubectl rollout status`: right after the undo, that
        # command can still read the old ProgressDeadlineExceeded condition and give up.
        wanted, undone, began = dep["spec"].get("replicas", 1), False, time.monotonic()
        while not undone and time.monotonic() - began < 60:
            now = current()
            status = now.get("status") or {}
            undone = (status.get("observedGeneration", 0) >= now["metadata"].get("generation", 0)
                      and status.get("updatedReplicas") == wanted == status.get("availableReplicas")
                      and status.get("replicas") == wanted)
            time.sleep(0 if undone else 1)
        return {"reason": reason, "available": available, "replicas": wanted,
                "before": before, "after": template_hash(), "undone": undone}
    return ctx.memo("stall", run)


@check("k8s.atasco_detectado", points=1, needs=("cluster",))
def stalled_rollout_is_detected(ctx):
    """Una versión que nunca está lista deja el rollout en ProgressDeadlineExceeded sin perder pods viejos."""
    facts = _stall_and_undo(ctx)
    assert facts["reason"] == "ProgressDeadlineExceeded", (
        f"El rollout roto no llegó a ProgressDeadlineExceeded (motivo: {facts['reason'] or 'ninguno'}).")
    assert facts["available"] >= facts["replicas"], (
        f"Durante el atasco solo había {facts['available']} de {facts['replicas']} pods disponibles: "
        "con maxUnavailable 0 no debe perderse ninguno.")


@check("k8s.undo_restaura", points=1, needs=("cluster",))
def undo_restores_previous_replicaset(ctx):
    """`kubectl rollout undo` vuelve al ReplicaSet de la versión anterior y termina."""
    facts = _stall_and_undo(ctx)
    assert facts["undone"], "Tras `kubectl rollout undo` el rollout no terminó."
    assert facts["before"] and facts["after"] == facts["before"], (
        f"Tras el undo la plantilla es {facts['after']}, no la anterior {facts['before']}.")


# --- task items → checks (format in CONTRIBUTING.md; tests/test_task_items.py keeps it in sync)
TASK_ITEMS: dict[str, tuple[str, ...]] = {
    "1.1": ("analisis.valido", "canario.reversion_rapida",
            "canario.sin_datos_no_promueve"),          # interval/failureLimit, inconclusiveLimit
    "1.2": ("analisis.valido", "analisis.por_version", "analisis.errores_y_latencia",
            "canario.promueve_buena", "canario.revierte_errores", "canario.revierte_latencia"),
    "2": ("plan.valido", "canario.promueve_buena", "canario.pocos_fallos"),
    "3": ("canario.revierte_errores", "canario.estable_intacta"),   # the grader's own drill
    "4": ("k8s.estrategia", "k8s.forma", "k8s.atasco_detectado", "k8s.undo_restaura"),
}
UNTASKED: dict[str, str] = {}
KNOWN_GAPS: dict[str, str] = {}
