"""Prometheus metrics, kept in a per-app registry so many apps can coexist."""

import time
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Finer than the instrumentator's default (0.1, 0.5, 1) so fast endpoints and
# injected latency both show up in histogram_quantile().
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Business metric: item lookups by outcome (a bounded label, never the item id).
LOOKUP_ROUTE = "/items/{item_id}"
LOOKUP_RESULTS = {200: "encontrado", 404: "no_encontrado"}
# Routes left out of the HTTP metrics: the scrape itself and the probes.
UNMEASURED_ROUTES = ("/metrics", "/health/")


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    items_created: Counter
    items_in_catalogue: Gauge
    item_lookups: Counter
    http_requests: Counter
    http_latency: Histogram


def create_metrics(service_name: str, version: str) -> Metrics:
    registry = CollectorRegistry()
    # Process, platform and GC metrics normally live in the global registry.
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    build = Info("catalogo_build", "Versión desplegada del servicio.", registry=registry)
    build.info({"version": version, "servicio": service_name})
    lookups = Counter(
        "catalogo_consultas_articulo",
        "Consultas GET /items/{item_id} por resultado.",
        ["resultado"],
        registry=registry,
    )
    for result in (*LOOKUP_RESULTS.values(), "error"):
        lookups.labels(resultado=result)  # every series exists from the start, at 0
    return Metrics(
        registry=registry,
        items_created=Counter(
            "catalogo_items_creados",
            "Artículos creados con POST /items.",
            registry=registry,
        ),
        items_in_catalogue=Gauge(
            "catalogo_items_en_catalogo",
            "Artículos que hay en el catálogo.",
            registry=registry,
        ),
        item_lookups=lookups,
        # Same names and labels as prometheus-fastapi-instrumentator, so the queries,
        # rules and dashboards of 15.8 work with either.
        http_requests=Counter(
            "http_requests_total",
            "Peticiones HTTP por ruta, método y código de estado.",
            ["handler", "method", "status"],
            registry=registry,
        ),
        http_latency=Histogram(
            "http_request_duration_seconds",
            "Duración de las peticiones HTTP en segundos.",
            ["handler", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
    )


class MetricsMiddleware:
    """Pure ASGI middleware: count and time every request by its route template.

    The route is the one FastAPI matched (``scope["route"]``, set during routing), so
    ``/items/7`` counts as ``/items/{item_id}`` and a path no route matches (an untemplated
    404) is not counted at all: one series per route, whatever clients send. It replaces
    prometheus-fastapi-instrumentator, which gives the same series but looks the route up
    again and builds an Info object per request (bench/service_throughput.py: twice the
    CPU of this middleware)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # The labelled children per (route, method, status): .labels() takes a lock and
        # builds the label tuple on every call; the set of keys is small and bounded.
        self._series: dict[tuple[str, str, int], tuple] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status_code = 500  # if the app raises before it answers
        started = time.perf_counter()

        async def send_and_keep_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_keep_status)
        finally:
            route = scope.get("route")
            handler = getattr(route, "path", None)
            if handler is not None and not handler.startswith(UNMEASURED_ROUTES):
                self._observe(handler, scope["method"], status_code,
                              time.perf_counter() - started)

    def _observe(self, handler: str, method: str, status_code: int, seconds: float) -> None:
        key = (handler, method, status_code)
        series = self._series.get(key)
        if series is None:
            metrics = self.metrics
            lookups = (metrics.item_lookups.labels(LOOKUP_RESULTS.get(status_code, "error"))
                       if handler == LOOKUP_ROUTE and method == "GET" else None)
            series = (metrics.http_requests.labels(handler, method, str(status_code)),
                      metrics.http_latency.labels(handler, method), lookups)
            self._series[key] = series
        requests, latency, lookups = series
        requests.inc()
        latency.observe(seconds)
        if lookups is not None:
            lookups.inc()


def instrument(app: FastAPI, metrics: Metrics) -> None:
    """Add the HTTP metrics middleware and the /metrics endpoint."""

    async def exposition(_: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_route("/metrics", exposition, include_in_schema=False)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
