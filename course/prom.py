"""Prometheus boilerplate for notebook cells and graders (section 15.8).

Start a real Prometheus and an Alertmanager in containers (``course.containers``), wait
until the targets are up, and ask the HTTP API for instant and range queries as Python
values, small tables and plots. Also run ``promtool`` and ``amtool`` inside their images.
Traffic for the lessons comes from ``course.traffic``.

The PromQL and the configuration being taught stay visible in the cells; this module
hides the waiting and the unpacking of JSON. Everything it creates carries the run label
(``tema15.run``) and a name starting with the run id, so ``course.cleanup.run`` removes it.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from course import containers, images, processes, show, waiting
from course import docker as cdocker
from course.waiting import NotReady

PROM_PORT = "9090/tcp"
ALERTMANAGER_PORT = "9093/tcp"
CONFIG_DIR = "/etc/prometheus"


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
        try:
            return waiting.wait_for(lambda: self.targets(job), timeout=timeout, interval=0.5,
                                    until=lambda ts: sum(t["health"] == "up" for t in ts) >= count)
        except NotReady as exc:
            targets = exc.last or []
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
        def current() -> str | None:
            now = self.alert_state(name)
            if now != state and tick:
                tick()  # the tick takes its time: no pause of our own
            return now

        started = time.monotonic()
        try:
            waiting.wait_for(current, until=lambda now: now == state, timeout=timeout,
                             interval=0 if tick else 0.5)
        except NotReady as exc:
            raise NotReady(f"La alerta {name} no llegó a «{state}» en {timeout:.0f} s "
                           f"(estado: {exc.last or 'regla no cargada'}).") from None
        return time.monotonic() - started

    def wait_for(self, expr: str, predicate: Callable[[list[Sample]], bool] = bool,
                 timeout: float = 30) -> list[Sample]:
        """Poll ``expr`` until ``predicate(samples)`` holds (by default: any data)."""
        try:
            return waiting.wait_for(lambda: self.query(expr), until=predicate, timeout=timeout,
                                    interval=0.5)
        except NotReady as exc:
            samples = exc.last or []
            raise NotReady(f"«{expr}» no devolvió lo esperado en {timeout:.0f} s: "
                           f"{[(series_name(s.labels), s.value) for s in samples][:5]}") from None

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
    container = containers.create(image, suffix=suffix, run=run, net=net, alias=alias,
                                  ports=[PROM_PORT], command=command)
    containers.put_files(container, CONFIG_DIR, {"prometheus.yml": config, **(files or {})})
    container.start()
    url = containers.loopback_url(container, PROM_PORT)
    try:
        containers.wait_http(container, f"{url}/-/ready", timeout=timeout)
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
        def received() -> dict | None:
            return next((a for a in self.alerts() if a["labels"].get("alertname") == name), None)
        try:
            return waiting.wait_for(received, timeout=timeout, interval=0.5)
        except NotReady:
            raise NotReady(f"Alertmanager no recibió la alerta {name} en {timeout:.0f} s.") from None


def start_alertmanager(config: str, *, net, run: str | None = None,
                       alias: str = "alertmanager", timeout: float = 30) -> Alertmanager:
    image = images.ensure("alertmanager")
    command = ["--config.file=/etc/alertmanager/alertmanager.yml",
               "--storage.path=/alertmanager", "--cluster.listen-address="]
    container = containers.create(image, suffix=alias, run=run, net=net, alias=alias,
                                  ports=[ALERTMANAGER_PORT], command=command)
    containers.put_files(container, "/etc/alertmanager", {"alertmanager.yml": config})
    container.start()
    url = containers.loopback_url(container, ALERTMANAGER_PORT)
    containers.wait_http(container, f"{url}/-/ready", timeout=timeout)
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
        containers.put_files(container, directory, files)
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
