"""The static part of the exercises inside lessons 01, 02, 03, 07 and 08.

Each function turns a student's answer into :class:`course.exercises.Condition` lines
(Spanish names and hints). The parts that need an engine or a running Prometheus stay
in the notebooks; these run anywhere, so tests can feed them typical wrong answers.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Callable, Iterable

import promql_parser
import semver
import structlog
import yaml
from structlog.testing import capture_logs

from course import dockerfile as cdockerfile
from course.exercises import Condition, condition, skip

# --- 01: repair a Dockerfile -------------------------------------------------------------

DEPENDENCY_FILES = ("requirements", "constraints", "pyproject", "poetry.lock", "uv.lock")


def _steps(text: str) -> list[tuple[str, str]]:
    return [(i["instruction"], i["value"]) for i in cdockerfile.parse(text).structure]


def _installs_before_code(steps: list[tuple[str, str]]) -> bool:
    install = next(n for n, (ins, value) in enumerate(steps) if ins == "RUN" and "pip install" in value)
    copies = [n for n, (ins, value) in enumerate(steps) if ins in ("COPY", "ADD")
              and not value.startswith("--from")
              and not all(src.startswith(DEPENDENCY_FILES) for src in value.split()[:-1]
                          if not src.startswith("--"))]
    return bool(copies) and install < min(copies)


def _exec_form(steps: list[tuple[str, str]]) -> bool:
    value = [v for ins, v in steps if ins == "CMD"][-1]
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:  # shell form: plain text
        return False
    return isinstance(parsed, list) and all(isinstance(part, str) for part in parsed)


def _final_user(steps: list[tuple[str, str]]) -> str | None:
    last_from = max(n for n, (ins, _) in enumerate(steps) if ins == "FROM")
    users = [v for ins, v in steps[last_from:] if ins == "USER"]
    return users[-1].strip() if users else None


def review_dockerfile(text: str) -> list[Condition]:
    """The three classic mistakes of the exercise in 15.1, read from the parsed Dockerfile."""
    try:
        steps = _steps(text)
    except Exception as exc:  # dockerfile-parse rejects some malformed texts
        return [Condition("El Dockerfile se puede leer", False, f"dockerfile-parse falla: {exc}")]
    if not any(ins == "FROM" for ins, _ in steps):
        return [Condition("El Dockerfile empieza con FROM", False, "Falta la imagen base (FROM …).")]
    user = _final_user(steps)
    return [
        condition("Instala las dependencias antes de copiar el código",
                  lambda: _installs_before_code(steps),
                  "Copia primero solo requirements.txt, instala con pip y copia app/ después: así "
                  "un cambio en el código no invalida la capa de pip install."),
        condition("CMD en forma exec (lista JSON)",
                  lambda: _exec_form(steps),
                  'Escribe CMD ["uvicorn", "app.main:app", …]: en forma shell, /bin/sh es el PID 1 '
                  "y uvicorn no recibe SIGTERM."),
        Condition("La imagen final no se ejecuta como root",
                  user is not None and user.split(":")[0] not in ("root", "0"),
                  "Crea un usuario sin privilegios (groupadd/useradd con UID 1001) y termina con "
                  "USER 1001:1001 (en número, para que Kubernetes pueda comprobar runAsNonRoot)."),
    ]


# --- 02: which tags a release moves ------------------------------------------------------

def expected_release_tags(version: str, published: Iterable[str]) -> list[str]:
    """Reference answer: floating tags move only if no published stable version is higher."""
    v = semver.Version.parse(version)
    if v.prerelease:
        return [str(v)]
    stable = [p for p in map(semver.Version.parse, published) if not p.prerelease]
    tags = [str(v)]
    if all(v > p for p in stable if (p.major, p.minor) == (v.major, v.minor)):
        tags.append(f"{v.major}.{v.minor}")
    if all(v > p for p in stable if p.major == v.major):
        tags.append(str(v.major))
    if all(v > p for p in stable):
        tags.append("latest")
    return tags


RELEASE_CASES = [
    ("1.4.3", ["1.3.5", "1.4.2"], "Un parche de la rama más reciente mueve 1.4, 1 y latest."),
    ("1.3.6", ["1.3.5", "1.4.2"],
     "Un parche de una rama antigua solo mueve 1.3: 1 y latest ya apuntan a 1.4.2, que es mayor."),
    ("1.4.4", ["1.4.2", "2.0.0"], "Con 2.0.0 publicada, un parche de la 1.4 no puede mover latest."),
    ("2.0.0", ["1.4.2"], "Una versión mayor nueva crea 2.0 y 2, y mueve latest."),
    ("1.10.0", ["1.2.0", "1.9.3"],
     "Compara con semver.Version, no como texto: como cadena, «1.10.0» < «1.9.3»."),
    ("2.1.0-rc.1", ["2.0.0"], "Una pre-release solo recibe su propia etiqueta."),
    ("2.1.0", ["2.0.0", "2.1.0-rc.1"],
     "Las pre-releases publicadas no cuentan: 2.1.0 es la estable más alta y mueve 2.1, 2 y latest."),
]


def review_release_tags(tags_to_move: Callable[[str, list[str]], Iterable[str]]) -> list[Condition]:
    """One condition per case: the student's function against semver's ordering."""
    def case(version: str, published: list[str], hint: str) -> Condition:
        want = expected_release_tags(version, published)
        try:
            got = list(tags_to_move(version, list(published)))
        except Exception as exc:  # the student's code may raise anything
            return Condition(f"{version} con {published} publicadas", False,
                             f"{hint} (tu función lanza {type(exc).__name__}: {exc})")
        right = sorted(got) == sorted(want)
        return Condition(f"{version} con {published} publicadas → {', '.join(want)}", right,
                         f"{hint} Tu función da: {', '.join(map(str, got)) or '(nada)'}.")
    return [case(*c) for c in RELEASE_CASES]


# --- 03: depends_on and a healthcheck ----------------------------------------------------

def review_depends_on(resolved: dict, service: str = "app", dependency: str = "lenta") -> list[Condition]:
    """Read the resolved model of ``docker compose config --format json``."""
    services = resolved.get("services", {})
    depends = (services.get(service, {}).get("depends_on") or {})
    wanted = depends.get(dependency, {}) if isinstance(depends, dict) else {}
    health = services.get(dependency, {}).get("healthcheck") or {}
    return [
        Condition(f"«{service}» espera a que «{dependency}» esté sana (service_healthy)",
                  wanted.get("condition") == "service_healthy",
                  f"Ahora la condición es «{wanted.get('condition', 'ninguna')}»: con service_started "
                  f"Compose arranca {service} en cuanto existe el contenedor de {dependency}, "
                  "aunque aún no esté lista."),
        Condition(f"«{dependency}» define un healthcheck",
                  bool(health.get("test")) and not health.get("disable"),
                  "service_healthy necesita un healthcheck en la dependencia; sin él, "
                  "docker compose up falla."),
    ]


def review_startup_order(app_started: float | None, dependency_healthy: float | None,
                         service: str = "app", dependency: str = "lenta") -> Condition:
    """What the engine's events show: did the service start after its dependency was healthy?"""
    name = f"Observado: «{service}» arrancó después de que «{dependency}» estuviera sana"
    if app_started is None or dependency_healthy is None:
        return Condition(name, False, f"En los eventos del motor falta el arranque de {service} "
                                      f"o el «healthy» de {dependency}.")
    gap = app_started - dependency_healthy
    return Condition(name, gap >= 0,
                     f"{service} arrancó {-gap:.1f} s ANTES de que {dependency} estuviera sana.")


# --- 07: a structlog processor -----------------------------------------------------------

def review_health_filter(processor) -> list[Condition]:
    """Drop routine health checks (info) but keep failing ones and every other route."""
    def logged(method: str, **fields) -> list[dict]:
        with capture_logs(processors=[processor]) as captured:
            getattr(structlog.get_logger("ejercicio"), method)("peticion", **fields)
        return captured

    def kept_intact(method: str, **fields) -> bool:
        out = logged(method, **fields)
        return len(out) == 1 and all(out[0].get(k) == v for k, v in fields.items())

    drop_hint = ("Para descartar un evento, lanza structlog.DropEvent; devolver None rompe la "
                 "cadena (el siguiente procesador recibe None).")
    return [
        condition("Descarta GET /health/live con nivel info",
                  lambda: logged("info", path="/health/live", status=200) == [], drop_hint),
        condition("Descarta GET /health/ready con nivel info",
                  lambda: logged("info", path="/health/ready", status=200) == [],
                  drop_hint + " Mira el prefijo /health/, no una ruta concreta."),
        condition("Conserva /health/ready cuando se registra como warning",
                  lambda: kept_intact("warning", path="/health/ready", status=503),
                  "Una comprobación de salud que falla es justo lo que quieres ver: usa el "
                  "nivel (el argumento method_name) y descarta solo info."),
        condition("Conserva las demás rutas sin tocar sus campos",
                  lambda: kept_intact("info", path="/items/7", status=200, request_id="r-1"),
                  "Para el resto de eventos devuelve event_dict tal cual."),
        condition("Conserva un evento sin campo path",
                  lambda: kept_intact("info", pedido_id=42),
                  "No todos los eventos tienen path: usa event_dict.get(\"path\", \"\")."),
    ]


# --- 08: a PromQL query for a latency SLO ------------------------------------------------

def _nodes(expr) -> Iterable:
    yield expr
    for attr in ("lhs", "rhs", "expr", "vector_selector"):
        child = getattr(expr, attr, None)
        if child is not None:
            yield from _nodes(child)
    for arg in getattr(expr, "args", None) or []:
        yield from _nodes(arg)


def _unparen(expr):
    while type(expr).__name__ == "ParenExpr":
        expr = expr.expr
    return expr


def _selectors(expr) -> list[tuple[str, dict[str, str]]]:
    found = []
    for node in _nodes(expr):
        if type(node).__name__ == "VectorSelector":
            labels = {m.name: m.value for m in node.matchers.matchers}
            found.append((node.name or labels.get("__name__", ""), labels))
    return found


def _is_total(selectors) -> bool:
    return any(name == f"{HISTOGRAM}_count" or (name == f"{HISTOGRAM}_bucket" and labels.get("le") == "+Inf")
               for name, labels in selectors)


HISTOGRAM = "http_request_duration_seconds"


def review_fast_ratio(query: str, threshold: str = "0.1") -> list[Condition]:
    """Fraction of requests served in ``threshold`` seconds or less, from the histogram."""
    try:
        tree = _unparen(promql_parser.parse(query))
    except Exception as exc:  # the parser raises ValueError-like errors with a message
        return [Condition("Es PromQL válido", False, f"El analizador dice: {exc}")]
    division = type(tree).__name__ == "BinaryExpr" and str(tree.op) == "/"
    lhs = _unparen(tree.lhs) if division else None
    rhs = _unparen(tree.rhs) if division else None
    return [
        Condition("Es PromQL válido", True),
        Condition("Es un cociente: peticiones rápidas / todas", division,
                  "Divide el ritmo de las rápidas entre el ritmo de todas."),
        Condition(f'El numerador usa el cubo le="{threshold}" de {HISTOGRAM}_bucket',
                  division and any(name == f"{HISTOGRAM}_bucket" and labels.get("le") == threshold
                                   for name, labels in _selectors(lhs)),
                  f'Los cubos son acumulativos: le="{threshold}" ya cuenta todas las peticiones '
                  f"de {threshold} s o menos."),
        Condition("El denominador es el total de peticiones",
                  division and _is_total(_selectors(rhs)),
                  f'Usa {HISTOGRAM}_count (o el cubo le="+Inf"), no otro cubo.'),
        Condition("Usa rate(…[ventana]) sobre los contadores",
                  any(type(n).__name__ == "Call" and n.func.name in ("rate", "increase")
                      for n in _nodes(tree)),
                  "Los cubos son contadores: lo que cuenta es su ritmo, rate(x[1m])."),
        Condition("Suma antes de dividir (sum(…) / sum(…))",
                  division and all(type(side).__name__ == "AggregateExpr" and str(side.op) == "sum"
                                   and not side.modifier for side in (lhs, rhs)),
                  "Suma cada lado con sum(…), sin «by», antes de dividir: si no, Prometheus "
                  "divide serie a serie (por instancia, ruta, le…) y no sale un único número."),
    ]


def review_with_promtool(query: str, promtool: str | None, folder: Path) -> Condition:
    """Without a running Prometheus: ``promtool check rules`` parses the query as a rule."""
    name = "promtool check rules acepta la consulta"
    if not promtool:
        return skip(name, "no hay Prometheus ni binario promtool")
    rules = folder / "ejercicio-reglas.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "ejercicio", "rules": [
        {"record": "ejercicio:rapidas:ratio1m", "expr": query}]}]}))
    done = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True,
                          timeout=30)
    return Condition(name, done.returncode == 0, (done.stdout + done.stderr).strip()[-300:])
