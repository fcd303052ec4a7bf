"""Prometheus boilerplate for notebook cells and graders (section 15.8).

Start a real Prometheus (and the services it scrapes, and an Alertmanager) in containers
on a labelled Docker network, wait until the targets are up, and ask the HTTP API for
instant and range queries as Python values, small tables and plots. Also run ``promtool``
and ``amtool`` inside their images, and generate a bounded HTTP load on loopback.

The PromQL and the configuration being taught stay visible in the cells; this module
hides the waiting, the copying of files into containers and the unpacking of JSON.
Everything it creates carries the run label (``tema15.run``) and a name starting with
the run id, so ``course.docker.cleanup(run)`` removes it.
"""
from __future__ import annotations

import io
import itertools
import math
import tarfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from course import docker as cdocker
from course import images, processes, show

PROM_PORT = "9090/tcp"
ALERTMANAGER_PORT = "9093/tcp"
SERVICE_PORT = "8000/tcp"
CONFIG_DIR = "/etc/prometheus"
NOBODY = 65534  # Prometheus and Alertmanager run as nobody: the files must be readable


class NotReady(RuntimeError):
    """A container did not become ready in time; the message includes its logs."""


class QueryError(RuntimeError):
    """Prometheus rejected a query; the message carries its explanation."""


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    times: list[float]
    values: list[float]


# --- containers -------------------------------------------------------------------

def network(run: str | None = None, suffix: str = "metricas"):
    """A user-defined bridge network (containers find each other by name or alias)."""
    return cdocker.client().networks.create(cdocker.name(suffix, run), driver="bridge",
                                            labels=cdocker.labels(run))


def put_files(container, directory: str, files: Mapping[str, str | bytes],
              uid: int = NOBODY) -> None:
    """Copy text files into a (created, not necessarily started) container."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        dirs = sorted({"/".join(rel.split("/")[:i]) for rel in files
                       for i in range(1, rel.count("/") + 1)})
        for rel in dirs:
            info = tarfile.TarInfo(rel)
            info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, 0o755, uid, uid
            tar.addfile(info)
        for rel, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.uid, info.gid = len(data), 0o644, uid, uid
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    container.put_archive(directory, buffer.getvalue())


def _create(image: str, *, suffix: str, run: str | None, net, alias: str | None,
            ports: Sequence[str], **kwargs):
    client = cdocker.client()
    networking = None
    if net is not None and alias:
        networking = {net.name: client.api.create_endpoint_config(aliases=[alias])}
    return client.containers.create(
        image, name=cdocker.name(suffix, run), labels=cdocker.labels(run),
        network=net.name if net is not None else None, networking_config=networking,
        ports={p: ("127.0.0.1", None) for p in ports}, **kwargs)


def _url(container, port: str) -> str:
    return f"http://127.0.0.1:{cdocker.host_port(container, port)}"


def wait_http(container, url: str, *, timeout: float = 40, expect: int = 200) -> None:
    """Poll ``url`` until it answers ``expect``; fail early (with logs) if the container dies."""
    def alive() -> bool:
        container.reload()
        return container.status not in ("exited", "dead")

    last = processes.poll_http(url, alive=alive, timeout=timeout, expect=expect)
    if last is None:
        return
    logs = container.logs(tail=25).decode(errors="replace")
    raise NotReady(f"{container.name} no respondió en {url} ({last}; estado: "
                   f"{container.status}).\n--- últimas líneas del registro ---\n{logs}")


def run_service(image: str, alias: str, *, net, run: str | None = None,
                environment: Mapping[str, str] | None = None, timeout: float = 40):
    """Start one service container on ``net`` (reachable there as ``alias:8000``),
    published on a free loopback port; wait until /health/live answers.

    Returns ``(container, base_url)``; the container is removed if it does not start."""
    container = _create(image, suffix=alias, run=run, net=net, alias=alias,
                        ports=[SERVICE_PORT], environment=dict(environment or {}))
    container.start()
    try:
        base = _url(container, SERVICE_PORT)
        wait_http(container, f"{base}/health/live", timeout=timeout)
    except Exception:
        container.remove(force=True, v=True)
        raise
    return container, base


# --- Prometheus -------------------------------------------------------------------

@dataclass
class Prometheus:
    """A running Prometheus (a container or a local process) and its HTTP API on loopback."""
    handle: object   # docker Container, or course.processes.Process (see course.promstack)
    url: str
    _http: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._http = httpx.Client(base_url=self.url, timeout=10, trust_env=False)

    def api(self, path: str, **params) -> dict | list:
        """GET ``/api/v1/<path>`` and return its ``data`` (raise ``QueryError`` if rejected)."""
        response = self._http.get(f"/api/v1/{path}", params=params)
        body = response.json()
        if body.get("status") != "success":
            raise QueryError(f"Prometheus rechazó la consulta ({body.get('errorType')}): "
                             f"{body.get('error')}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[Sample]:
        """Instant query: one sample per series (a scalar becomes one unlabelled sample)."""
        params = {"query": expr} | ({"time": f"{at:.3f}"} if at is not None else {})
        data = self.api("query", **params)
        if data["resultType"] in ("scalar", "string"):
            return [Sample({}, float(data["result"][1]))]
        return [Sample(item["metric"], float(item["value"][1])) for item in data["result"]]

    def value(self, expr: str, at: float | None = None) -> float | None:
        """The value of a query that returns at most one series (None if it returns none)."""
        samples = self.query(expr, at)
        if len(samples) > 1:
            raise ValueError(f"La consulta devuelve {len(samples)} series y se esperaba una: "
                             + "; ".join(series_name(s.labels) for s in samples[:5]))
        return samples[0].value if samples else None

    def query_range(self, expr: str, start: float, end: float, step: float = 1.0) -> list[Series]:
        data = self.api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}",
                        step=f"{step}s")
        return [Series(item["metric"], [float(t) for t, _ in item["values"]],
                       [float(v) for _, v in item["values"]]) for item in data["result"]]

    def targets(self, job: str | None = None) -> list[dict]:
        active = self.api("targets", state="active")["activeTargets"]
        return [{"job": t["labels"].get("job", ""), "instance": t["labels"].get("instance", ""),
                 "health": t["health"], "lastError": t.get("lastError", ""),
                 "scrapeUrl": t.get("scrapeUrl", "")}
                for t in active if job is None or t["labels"].get("job") == job]

    def wait_targets(self, count: int, job: str | None = None, timeout: float = 30) -> list[dict]:
        """Wait until ``count`` targets (of ``job``) are up; return them all."""
        deadline = time.monotonic() + timeout
        targets: list[dict] = []
        while time.monotonic() < deadline:
            targets = self.targets(job)
            if sum(t["health"] == "up" for t in targets) >= count:
                return targets
            time.sleep(0.5)
        seen = "; ".join(f"{t['instance']} → {t['health']} {t['lastError']}".strip()
                         for t in targets) or "ningún objetivo"
        raise NotReady(f"No hay {count} objetivo(s) «up»{f' del job {job}' if job else ''} "
                       f"tras {timeout:.0f} s: {seen}.")

    def rules(self) -> list[dict]:
        """Every loaded rule, flattened: group, name, type, state, health, lastError."""
        rows = []
        for group in self.api("rules")["groups"]:
            for rule in group["rules"]:
                rows.append({"group": group["name"], "name": rule["name"], "type": rule["type"],
                             "state": rule.get("state", ""), "health": rule.get("health", ""),
                             "lastError": rule.get("lastError", ""), "query": rule["query"],
                             "alerts": rule.get("alerts", [])})
        return rows

    def alert_state(self, name: str) -> str | None:
        """'inactive', 'pending' or 'firing' for an alerting rule; None if not loaded."""
        states = [r["state"] for r in self.rules() if r["type"] == "alerting" and r["name"] == name]
        if not states:
            return None
        for state in ("firing", "pending", "inactive"):
            if state in states:
                return state
        return states[0]

    def wait_alert(self, name: str, state: str = "firing", timeout: float = 60,
                   tick: Callable[[], None] | None = None) -> float:
        """Wait until the alert reaches ``state``; return the seconds it took.
        ``tick`` is called between polls (e.g. to keep sending requests)."""
        started = time.monotonic()
        current = None
        while time.monotonic() - started < timeout:
            current = self.alert_state(name)
            if current == state:
                return time.monotonic() - started
            if tick:
                tick()
            else:
                time.sleep(0.5)
        raise NotReady(f"La alerta {name} no llegó a «{state}» en {timeout:.0f} s "
                       f"(estado: {current or 'regla no cargada'}).")

    def wait_for(self, expr: str, predicate: Callable[[list[Sample]], bool] = bool,
                 timeout: float = 30) -> list[Sample]:
        """Poll ``expr`` until ``predicate(samples)`` holds (by default: any data)."""
        deadline = time.monotonic() + timeout
        samples: list[Sample] = []
        while time.monotonic() < deadline:
            samples = self.query(expr)
            if predicate(samples):
                return samples
            time.sleep(0.5)
        raise NotReady(f"«{expr}» no devolvió lo esperado en {timeout:.0f} s: "
                       f"{[(series_name(s.labels), s.value) for s in samples][:5]}")

    def logs(self, tail: int = 30) -> str:
        if isinstance(self.handle, processes.Process):
            return self.handle.tail(tail)
        return self.handle.logs(tail=tail).decode(errors="replace")


def start(config: str, files: Mapping[str, str] | None = None, *, net, run: str | None = None,
          suffix: str = "prometheus", alias: str = "prometheus", args: Sequence[str] = (),
          timeout: float = 30) -> Prometheus:
    """Start Prometheus with ``config`` as /etc/prometheus/prometheus.yml, plus ``files``
    (rules…) next to it; publish the API on loopback and wait until it is ready."""
    image = images.ensure("prometheus")
    command = ["--config.file=/etc/prometheus/prometheus.yml",
               "--storage.tsdb.path=/prometheus", *args]
    container = _create(image, suffix=suffix, run=run, net=net, alias=alias,
                        ports=[PROM_PORT], command=command)
    put_files(container, CONFIG_DIR, {"prometheus.yml": config, **(files or {})})
    container.start()
    url = _url(container, PROM_PORT)
    try:
        wait_http(container, f"{url}/-/ready", timeout=timeout)
    except NotReady:
        logs = container.logs(tail=15).decode(errors="replace")
        container.remove(force=True, v=True)
        raise NotReady(f"Prometheus no arrancó con esa configuración.\n{logs}") from None
    return Prometheus(container, url)


# --- Alertmanager ---------------------------------------------------------------

@dataclass
class Alertmanager:
    handle: object   # as in Prometheus
    url: str

    def alerts(self) -> list[dict]:
        """The alerts Alertmanager holds now (API v2)."""
        return httpx.get(f"{self.url}/api/v2/alerts", timeout=5, trust_env=False).json()

    def wait_alert(self, name: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for alert in self.alerts():
                if alert["labels"].get("alertname") == name:
                    return alert
            time.sleep(0.5)
        raise NotReady(f"Alertmanager no recibió la alerta {name} en {timeout:.0f} s.")


def start_alertmanager(config: str, *, net, run: str | None = None,
                       alias: str = "alertmanager", timeout: float = 30) -> Alertmanager:
    image = images.ensure("alertmanager")
    command = ["--config.file=/etc/alertmanager/alertmanager.yml",
               "--storage.path=/alertmanager", "--cluster.listen-address="]
    container = _create(image, suffix=alias, run=run, net=net, alias=alias,
                        ports=[ALERTMANAGER_PORT], command=command)
    put_files(container, "/etc/alertmanager", {"alertmanager.yml": config})
    container.start()
    url = _url(container, ALERTMANAGER_PORT)
    wait_http(container, f"{url}/-/ready", timeout=timeout)
    return Alertmanager(container, url)


# --- promtool and amtool --------------------------------------------------------

def tool(image_key: str, entrypoint: str, args: Sequence[str], files: Mapping[str, str],
         *, directory: str, run: str | None = None, timeout: float = 60) -> tuple[int, str]:
    """Run a command-line tool of a course image on ``files`` (copied into ``directory``,
    which is also the working directory). Returns (exit code, combined output)."""
    client = cdocker.client()
    container = client.containers.create(
        images.ensure(image_key), list(args), entrypoint=[entrypoint], working_dir=directory,
        labels=cdocker.labels(run), name=cdocker.name(f"{entrypoint.rsplit('/', 1)[-1]}-"
                                                      f"{time.monotonic_ns() % 10**8}", run))
    try:
        put_files(container, directory, files)
        container.start()
        code = container.wait(timeout=timeout)["StatusCode"]
        return code, container.logs().decode(errors="replace").strip()
    finally:
        container.remove(force=True, v=True)  # v: the images declare VOLUMEs (anonymous)


def promtool(*args: str, files: Mapping[str, str], run: str | None = None) -> tuple[int, str]:
    """``promtool <args>`` in the Prometheus image, with ``files`` in /etc/prometheus."""
    return tool("prometheus", "/bin/promtool", args, files, directory=CONFIG_DIR, run=run)


def amtool(*args: str, files: Mapping[str, str], run: str | None = None) -> tuple[int, str]:
    """``amtool <args>`` in the Alertmanager image, with ``files`` in /etc/alertmanager."""
    return tool("alertmanager", "/bin/amtool", args, files, directory="/etc/alertmanager",
                run=run)


# --- load -------------------------------------------------------------------------

@dataclass
class LoadResult:
    counts: Counter = field(default_factory=Counter)   # (target name, status) → requests
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def errors(self) -> int:
        return sum(n for (_, status), n in self.counts.items() if status >= 500)

    @property
    def error_ratio(self) -> float:
        return self.errors / self.total if self.total else math.nan

    def merge(self, other: LoadResult) -> LoadResult:
        return LoadResult(self.counts + other.counts, self.seconds + other.seconds,
                          self.latencies + other.latencies)

    def show(self, title: str = "Peticiones enviadas") -> None:
        rows = [(name, status, n) for (name, status), n in sorted(self.counts.items())]
        rows.append(("total", f"{self.errors} con 5xx ({self.error_ratio:.1%})", self.total))
        show.table(f"{title} en {self.seconds:.1f} s", ["Destino", "Estado HTTP", "Peticiones"],
                   rows)


def load(targets: Mapping[str, str], paths: Sequence[str], *, seconds: float,
         rate: float = 60, workers: int = 4, max_requests: int = 10_000) -> LoadResult:
    """Send GET requests round-robin over ``targets`` (name → base URL) × ``paths``,
    about ``rate`` per second in total, for ``seconds`` or ``max_requests``, whichever
    comes first. Loopback only; returns the counts per (target, HTTP status)."""
    plan = itertools.cycle([(name, base, path) for name, base in targets.items()
                            for path in paths])
    lock = threading.Lock()
    result = LoadResult()
    sent = itertools.count()
    started = time.monotonic()
    deadline = started + seconds
    interval = workers / rate

    def worker() -> None:
        with httpx.Client(timeout=10, trust_env=False) as client:
            next_at = time.monotonic()
            while time.monotonic() < deadline:
                with lock:
                    if next(sent) >= max_requests:
                        return
                    name, base, path = next(plan)
                t0 = time.monotonic()
                try:
                    status = client.get(base + path).status_code
                except httpx.HTTPError:
                    status = 0  # connection refused, timeout…: counted apart from HTTP codes
                elapsed = time.monotonic() - t0
                with lock:
                    result.counts[(name, status)] += 1
                    result.latencies.append(elapsed)
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(worker) for _ in range(workers)]:
            future.result()
    result.seconds = time.monotonic() - started
    return result


# --- display -----------------------------------------------------------------------

def series_name(labels: Mapping[str, str], skip: Iterable[str] = ()) -> str:
    """`name{a="1", b="2"}` for a label set (the way PromQL prints a series)."""
    shown = {k: v for k, v in labels.items() if k not in set(skip)}
    name = shown.pop("__name__", "")
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items()))
    return f"{name}{{{inner}}}" if inner or not name else name


def table(samples: Sequence[Sample], title: str, *, fmt: str = "{:.4g}",
          skip: Iterable[str] = ("job",)) -> None:
    """A small table of an instant query's result (one row per series)."""
    rows = [(series_name(s.labels, skip) or "(sin etiquetas)", fmt.format(s.value)) for s in samples]
    show.table(title, ["Serie", "Valor"], rows or [("(sin datos)", "")])


def plot(panels: Sequence[tuple[str, str, Sequence[Series]]], *, label: str | Callable = "instance",
         marks: Mapping[str, float] | None = None, t0: float | None = None):
    """One subplot per (title, y label, series); x axis in seconds from ``t0``.
    ``label``: a label name, or a function of the series labels, for the legend.
    ``marks``: vertical lines (text → Unix time), e.g. when errors were injected."""
    import matplotlib.pyplot as plt

    from course.plots import COLORS

    def name_of(s: Series) -> str:
        name = label(s.labels) if callable(label) else s.labels.get(label, series_name(s.labels))
        return name or "total"

    starts = [s.times[0] for _, _, series in panels for s in series if s.times]
    t0 = t0 if t0 is not None else (min(starts) if starts else 0.0)
    names = sorted({name_of(s) for _, _, series in panels for s in series})
    color = {name: COLORS[i % len(COLORS)] for i, name in enumerate(names)}  # same in every panel
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.9 * len(panels)), sharex=True,
                             squeeze=False)
    for ax, (title, ylabel, series) in zip(axes[:, 0], panels, strict=True):
        for s in sorted(series, key=name_of):
            ax.plot([t - t0 for t in s.times], s.values, color=color[name_of(s)],
                    label=name_of(s), linewidth=1.8)
        for j, (text, when) in enumerate((marks or {}).items()):
            ax.axvline(when - t0, color="#555555", linestyle="--", linewidth=1)
            if ax is axes[0, 0]:
                ax.annotate(text, (when - t0, 1), xycoords=("data", "axes fraction"),
                            xytext=(4, -12 - 12 * j), textcoords="offset points", fontsize=8)
        ax.set_title(title, loc="left", fontsize=10)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if series:
            ax.legend(fontsize=8, loc="upper left")
        else:
            ax.text(0.5, 0.5, "sin datos", transform=ax.transAxes, ha="center", color="gray")
    axes[-1, 0].set_xlabel("Segundos desde el inicio de la carga")
    fig.tight_layout()
    return fig
