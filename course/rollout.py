"""Section 15.10: a canary controller that decides from Prometheus data.

It reads like Argo Rollouts' ``AnalysisTemplate`` / Flagger's ``MetricTemplate``: named
PromQL queries with a success condition, an interval, a minimum count of successful
measurements and a failure limit, and a plan of steps (``setWeight`` / ``pause``). It
acts on a real HAProxy (a local process, ``scripts/install_proxy.sh``) through its
runtime API (``set server <backend>/<server> weight N``): no reload, no dropped
connections, and the new weight applies to the next request.

Whatever goes wrong (a query without data, Prometheus or the proxy down, a candidate that
never starts, a plan that does not add up) the controller stops on the stable version and
says why, in Spanish, in ``Result.reason``.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import promql_parser

from course import REPO_ROOT, processes, prom

CACHE = Path(os.environ.get("TEMA15_CACHE", Path.home() / ".cache" / "tema15"))
HAPROXY_CACHED = CACHE / "haproxy" / "bookworm" / "bin" / "haproxy"
HOW_TO = ("Ejecuta `bash scripts/install_proxy.sh` (HAProxy de los paquetes de Debian, en "
          "~/.cache/tema15) o instala el paquete `haproxy`.")
BACKEND = "catalogo"
STABLE, CANARY = "estable", "candidata"
SERVED_BY = "X-Servido-Por"
_CONDITION = re.compile(r"^\s*result\s*(<=|>=|<|>|==)\s*(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)$")


class Unavailable(RuntimeError):
    """HAProxy is not installed here."""


class PlanError(ValueError):
    """The plan or the analysis is not valid; the message says why (Spanish)."""


def haproxy_binary() -> str | None:
    """The cached build (scripts/install_proxy.sh) first, else the PATH."""
    if HAPROXY_CACHED.is_file() and os.access(HAPROXY_CACHED, os.X_OK):
        return str(HAPROXY_CACHED)
    return shutil.which("haproxy")


# --- the analysis and the plan ------------------------------------------------------

def seconds(value: str | float | int) -> float:
    """'10s', '500ms', '1m' or a number of seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(str(value).strip())
    if not match:
        raise PlanError(f"Duración no válida: «{value}» (usa por ejemplo 5s, 500ms o 1m).")
    return float(match[1]) * {"ms": 0.001, "s": 1, "m": 60}[match[2]]


@dataclass
class Metric:
    """One named PromQL query and the condition its result must meet."""
    name: str
    query: str
    success: str            # "result < 0.05", as Argo's successCondition (result[0] there)

    def holds(self, value: float) -> bool:
        match = _CONDITION.match(self.success)
        op, limit = match[1], float(match[2])
        return {"<": value < limit, "<=": value <= limit, ">": value > limit,
                ">=": value >= limit, "==": value == limit}[op]


@dataclass
class Analysis:
    metrics: list[Metric]
    interval: float = 2.0          # seconds between measurements
    count: int = 3                 # successful measurements per metric needed to promote
    failure_limit: int = 0         # failed measurements tolerated per metric
    inconclusive_limit: int = 2    # measurements without data tolerated per metric

    @classmethod
    def from_dict(cls, data: Mapping) -> Analysis:
        """An ``AnalysisTemplate``-like mapping: ``metrics: [{name, query, successCondition}]``,
        ``interval``, ``count``, ``failureLimit``, ``inconclusiveLimit``."""
        if not isinstance(data, Mapping) or not data.get("metrics"):
            raise PlanError("El análisis necesita una lista «metrics» con al menos una consulta.")
        metrics = []
        for item in data["metrics"]:
            if not isinstance(item, Mapping) or not {"name", "query", "successCondition"} <= set(item):
                raise PlanError("Cada métrica necesita «name», «query» y «successCondition».")
            metrics.append(Metric(str(item["name"]), str(item["query"]),
                                  str(item["successCondition"])))
        return cls(metrics, seconds(data.get("interval", 2)), int(data.get("count", 3)),
                   int(data.get("failureLimit", 0)), int(data.get("inconclusiveLimit", 2)))

    def problems(self) -> list[str]:
        """Why this analysis cannot be trusted (empty when it can)."""
        found = []
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            found.append("Hay métricas con el mismo nombre.")
        for metric in self.metrics:
            try:
                promql_parser.parse(metric.query)
            except Exception as exc:  # the parser raises its own ValueError subclasses
                found.append(f"«{metric.name}»: la consulta no es PromQL válido ({exc}).")
            if not _CONDITION.match(metric.success):
                found.append(f"«{metric.name}»: la condición «{metric.success}» debe tener la "
                             "forma «result < 0.05» (<, <=, >, >=, ==).")
        if self.interval <= 0 or self.count < 1 or self.failure_limit < 0 \
                or self.inconclusive_limit < 0:
            found.append("interval > 0, count ≥ 1, failureLimit ≥ 0 e inconclusiveLimit ≥ 0.")
        return found


@dataclass
class Step:
    weight: int | None = None      # setWeight: percent of requests to the candidate
    pause: float | None = None     # pause: seconds of analysis at the current weight


def parse_steps(steps: Sequence[Mapping]) -> list[Step]:
    """Argo Rollouts' canary steps: ``{"setWeight": 5}``, ``{"pause": {"duration": "10s"}}``."""
    parsed = []
    for item in steps or ():
        if isinstance(item, Mapping) and "setWeight" in item:
            parsed.append(Step(weight=int(item["setWeight"])))
        elif isinstance(item, Mapping) and isinstance(item.get("pause"), Mapping) \
                and "duration" in item["pause"]:
            parsed.append(Step(pause=seconds(item["pause"]["duration"])))
        else:
            raise PlanError(f"Paso no reconocido: {item!r} (usa setWeight o pause.duration; "
                            "una pausa sin duración esperaría a un humano).")
    return parsed


def plan_problems(steps: list[Step]) -> list[str]:
    """A plan must grow the weight step by step up to 100 % with analysis before it."""
    weights = [s.weight for s in steps if s.weight is not None]
    found = []
    if not weights:
        found.append("El plan no tiene ningún setWeight.")
        return found
    if any(not 0 < w <= 100 for w in weights):
        found.append("Cada setWeight debe estar entre 1 y 100.")
    if weights != sorted(weights) or len(set(weights)) != len(weights):
        found.append(f"Los pesos deben crecer paso a paso: {weights}.")
    if weights[-1] != 100:
        found.append(f"El último peso es {weights[-1]} %: el plan debe terminar en 100 %.")
    if weights[0] > 25:
        found.append(f"El primer paso manda {weights[0]} % del tráfico a la candidata: "
                     "un canario empieza por poco (≤ 25 %).")
    before_full = steps[:next(i for i, s in enumerate(steps) if s.weight == weights[-1])]
    if not any(s.pause for s in before_full):
        found.append("No hay ninguna pausa (con análisis) antes de llegar al 100 %.")
    return found


# --- the proxy --------------------------------------------------------------------

HAPROXY_CFG = REPO_ROOT / "deploy" / "rollout" / "haproxy.cfg"


class Proxy:
    """HAProxy in front of the stable and the candidate version."""

    def __init__(self, stable: str, canary: str, *, run: str, scratch: Path | None = None):
        binary = haproxy_binary()
        if binary is None:
            raise Unavailable(f"No encuentro HAProxy. {HOW_TO}")
        self.folder = Path(tempfile.mkdtemp(prefix=f"{run}-haproxy-", dir=scratch))
        self.socket = self.folder / "admin.sock"
        self.port = processes.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = HAPROXY_CFG.read_text().format(socket=self.socket, port=self.port, backend=BACKEND,
                                    served_by=SERVED_BY, stable=STABLE, canary=CANARY,
                                    stable_addr=_host_port(stable), canary_addr=_host_port(canary))
        (self.folder / "haproxy.cfg").write_text(config)
        self.process = processes.spawn("haproxy", [binary, "-db", "-f", str(self.folder / "haproxy.cfg")],
                                       log_dir=self.folder, run=run)
        try:
            processes.wait_http(self.process, f"{self.url}/health/live", timeout=20)
        except processes.NotReady:
            self.close()
            raise

    def command(self, line: str) -> str:
        """One command on HAProxy's runtime API (the admin socket)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(3)
            sock.connect(str(self.socket))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(4096):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace").strip()

    def set_canary_weight(self, percent: int) -> None:
        """percent of new requests to the candidate, the rest to the stable version."""
        for server, weight in ((CANARY, percent), (STABLE, 100 - percent)):
            answer = self.command(f"set server {BACKEND}/{server} weight {weight}")
            if answer:  # HAProxy answers nothing on success
                raise RuntimeError(f"HAProxy rechazó el peso {weight} para {server}: {answer}")

    def weights(self) -> dict[str, int]:
        found = {}
        for server in (STABLE, CANARY):
            first = self.command(f"get weight {BACKEND}/{server}").split()
            found[server] = int(first[0]) if first and first[0].isdigit() else -1
        return found

    def alive(self) -> bool:
        return self.process.alive()

    def close(self) -> None:
        self.process.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def _host_port(url: str) -> str:
    return url.split("://", 1)[-1].rstrip("/")


# --- traffic ----------------------------------------------------------------------

@dataclass
class Hit:
    t: float              # seconds since the generator started
    status: int           # 0: no answer
    served_by: str
    latency: float


class Load:
    """Real requests to the proxy from a few threads, bounded in rate and in time."""

    PATHS = ("/items", "/items/1", "/items/2")

    def __init__(self, url: str, *, rate: float = 40, workers: int = 4,
                 max_seconds: float = 300):
        self.url, self.rate, self.workers, self.max_seconds = url, rate, workers, max_seconds
        self.hits: list[Hit] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.start_time = 0.0

    def __enter__(self) -> Load:
        self.start_time = time.monotonic()
        self._threads = [threading.Thread(target=self._work, args=(i,), daemon=True)
                         for i in range(self.workers)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=20)

    def _work(self, index: int) -> None:
        gap = self.workers / self.rate
        with httpx.Client(base_url=self.url, timeout=10, trust_env=False) as client:
            n = index
            while not self._stop.is_set() and time.monotonic() - self.start_time < self.max_seconds:
                began = time.monotonic()
                try:
                    response = client.get(self.PATHS[n % len(self.PATHS)])
                    hit = Hit(began - self.start_time, response.status_code,
                              response.headers.get(SERVED_BY, ""), time.monotonic() - began)
                except httpx.HTTPError:
                    hit = Hit(began - self.start_time, 0, "", time.monotonic() - began)
                self.hits.append(hit)   # list.append is atomic under the GIL
                n += 1
                self._stop.wait(max(0.0, gap - (time.monotonic() - began)))

    def failed_share(self, since: float = 0.0) -> float:
        hits = [h for h in self.hits if h.t >= since]
        return sum(1 for h in hits if not 200 <= h.status < 500) / len(hits) if hits else 0.0


# --- the controller -----------------------------------------------------------------

@dataclass
class Measurement:
    t: float
    metric: str
    value: float | None     # None: no data
    verdict: str            # "éxito", "fallo", "sin datos"


@dataclass
class Event:
    t: float
    weight: int
    what: str


@dataclass
class Result:
    outcome: str = "abortado"     # "promovido" or "abortado" (rolled back to stable)
    reason: str = ""
    events: list[Event] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    started: float = 0.0

    @property
    def promoted(self) -> bool:
        return self.outcome == "promovido"


class Controller:
    """Runs ``steps`` on ``proxy``, measuring ``analysis`` on ``prometheus`` during pauses."""

    def __init__(self, proxy: Proxy, prometheus: prom.Prometheus, analysis: Analysis,
                 steps: list[Step], *, canary_url: str | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 on_event: Callable[[Event], None] | None = None):
        self.proxy, self.prometheus, self.analysis, self.steps = proxy, prometheus, analysis, steps
        self.canary_url, self.clock, self.on_event = canary_url, clock, on_event
        self.weight = 0

    def _event(self, result: Result, what: str) -> None:
        event = Event(self.clock() - result.started, self.weight, what)
        result.events.append(event)
        if self.on_event:
            self.on_event(event)

    def run(self) -> Result:
        result = Result(started=self.clock())
        problems = self.analysis.problems() + plan_problems(self.steps)
        if problems:
            return self._abort(result, "Plan no válido: " + " ".join(problems), touch=False)
        if self.canary_url and processes.poll_http(f"{self.canary_url}/health/ready",
                                                   alive=lambda: True, timeout=10) is not None:
            return self._abort(result, "La versión candidata no arranca (su /health/ready no "
                                       "responde 200): no le envío tráfico.", touch=False)
        successes = {m.name: 0 for m in self.analysis.metrics}
        failures = dict.fromkeys(successes, 0)
        missing = dict.fromkeys(successes, 0)
        try:
            for step in self.steps:
                if step.weight is not None:
                    if step.weight == 100 and min(successes.values()) < self.analysis.count:
                        short = [n for n, c in successes.items() if c < self.analysis.count]
                        return self._abort(result, "No promuevo sin datos suficientes: "
                                           f"{', '.join(short)} no llegó a {self.analysis.count} "
                                           "mediciones con éxito.")
                    self.proxy.set_canary_weight(step.weight)
                    self.weight = step.weight
                    self._event(result, f"peso {step.weight} %")
                    continue
                self._event(result, f"pausa {step.pause:g} s con análisis")
                end = self.clock() + step.pause
                while self.clock() < end:
                    time.sleep(max(0.0, min(self.analysis.interval, end - self.clock())))
                    for metric in self.analysis.metrics:
                        m = self._measure(result, metric)
                        if m.verdict == "éxito":
                            successes[metric.name] += 1
                        elif m.verdict == "fallo":
                            failures[metric.name] += 1
                            if failures[metric.name] > self.analysis.failure_limit:
                                return self._abort(result, f"«{metric.name}» = {m.value:.4g} no "
                                                   f"cumple «{metric.success}» "
                                                   f"({failures[metric.name]} fallos, límite "
                                                   f"{self.analysis.failure_limit}).")
                        else:
                            missing[metric.name] += 1
                            if missing[metric.name] > self.analysis.inconclusive_limit:
                                return self._abort(result, f"«{metric.name}» no devuelve datos "
                                                   f"({missing[metric.name]} veces): no decido "
                                                   "a ciegas, vuelvo a la estable.")
        except (OSError, RuntimeError, httpx.HTTPError) as exc:
            return self._abort(result, f"Error durante el despliegue ({exc.__class__.__name__}: "
                                       f"{exc}); vuelvo a la versión estable.")
        result.outcome = "promovido"
        result.reason = "Todas las métricas cumplieron sus condiciones en cada paso."
        self._event(result, "promovida")
        return result

    def _measure(self, result: Result, metric: Metric) -> Measurement:
        try:
            samples = self.prometheus.query(metric.query)
        except (prom.QueryError, httpx.HTTPError, ValueError) as exc:
            raise RuntimeError(f"Prometheus no responde o rechaza «{metric.name}»: {exc}") from None
        values = [s.value for s in samples if not math.isnan(s.value)]
        if len(values) != 1:  # none, or several series: not one number to judge
            value, verdict = None, "sin datos"
        else:
            value = values[0]
            verdict = "éxito" if metric.holds(value) else "fallo"
        m = Measurement(self.clock() - result.started, metric.name, value, verdict)
        result.measurements.append(m)
        return m

    def _abort(self, result: Result, reason: str, touch: bool = True) -> Result:
        result.outcome, result.reason = "abortado", reason
        if touch:
            try:
                self.proxy.set_canary_weight(0)
                self.weight = 0
            except (OSError, RuntimeError) as exc:
                result.reason += f" ¡No pude devolver el tráfico a la estable: {exc}!"
        self._event(result, "revertida a la estable")
        return result


def scrape_config(stable: str, canary: str, *, interval: str = "1s",
                  versions: tuple[str, str] = ("1.0.0", "1.1.0")) -> str:
    """Prometheus configuration scraping both versions with ``version`` and ``track``."""
    return f"""\
global:
  scrape_interval: {interval}
  evaluation_interval: {interval}
scrape_configs:
  - job_name: catalogo
    static_configs:
      - targets: ["{stable}"]
        labels: {{version: "{versions[0]}", track: stable}}
      - targets: ["{canary}"]
        labels: {{version: "{versions[1]}", track: canary}}
"""


# --- one drill: stable + candidate + Prometheus + proxy + load + controller ----------

@dataclass
class Drill:
    result: Result
    hits: list[Hit]
    final_weights: dict[str, int]
    stable_ok: bool            # the stable version still answers /health/ready after the run
    rollback_seconds: float | None   # candidate's first traffic → weight back to 0
    offset: float = 0.0        # controller start, in seconds of the load generator's clock


def drill(stack, analysis: Analysis, steps: list[Step], *,
          candidate_env: Mapping[str, str] | None = None, rate: float = 40,
          warmup: float = 2.0, on_event: Callable[[Event], None] | None = None,
          big_bang_seconds: float | None = None, scrape_canary: bool = True) -> Drill:
    """Run one release on ``stack`` (course.promstack): two copies of the service, a
    Prometheus scraping both (labels version/track), HAProxy in front, a load generator
    the whole time, and the controller (or, with ``big_bang_seconds``, the candidate at
    100 % at once for that long: the comparison of the bench). ``scrape_canary=False``:
    Prometheus never sees the candidate, so a per-version analysis has no data."""
    stable_url = stack.service("catalogo-estable")
    canary_url = stack.service("catalogo-candidata", dict(candidate_env or {}))
    config = scrape_config(stack.address("catalogo-estable"), stack.address("catalogo-candidata"))
    if not scrape_canary:
        config = config.rsplit("      - targets:", 1)[0]
    prometheus = stack.prometheus(config)
    proxy = Proxy(stable_url, canary_url, run=stack.run)
    try:
        with Load(proxy.url, rate=rate) as load:
            time.sleep(warmup)
            if big_bang_seconds is not None:
                proxy.set_canary_weight(100)
                began = time.monotonic()
                time.sleep(big_bang_seconds)
                result = Result(outcome="promovido", reason="despliegue de golpe, sin análisis",
                                started=began)
                result.events.append(Event(0.0, 100, "peso 100 % de golpe"))
            else:
                result = Controller(proxy, prometheus, analysis, steps, canary_url=canary_url,
                                    on_event=on_event).run()
            time.sleep(1.0)
        rollback = None
        if not result.promoted and result.events and result.events[0].what.startswith("peso"):
            rollback = result.events[-1].t - result.events[0].t
        stable_ok = processes.poll_http(f"{stable_url}/health/ready", alive=lambda: True,
                                        timeout=5) is None
        return Drill(result, load.hits, proxy.weights(), stable_ok, rollback,
                     result.started - load.start_time)
    finally:
        proxy.close()


def reference() -> tuple[Analysis, list[Step]]:
    """The course's analysis and plan (deploy/rollout/analisis.yaml and plan.yaml)."""
    import yaml

    folder = REPO_ROOT / "deploy" / "rollout"
    analysis = Analysis.from_dict(yaml.safe_load((folder / "analisis.yaml").read_text()))
    steps = parse_steps(yaml.safe_load((folder / "plan.yaml").read_text())["steps"])
    return analysis, steps
