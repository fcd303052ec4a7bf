"""Prometheus metrics, kept in a per-app registry so many apps can coexist."""

from dataclasses import dataclass

from fastapi import FastAPI
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator import metrics as http_metrics
from prometheus_fastapi_instrumentator.metrics import Info as RequestInfo

# Finer than the instrumentator's default (0.1, 0.5, 1) so fast endpoints and
# injected latency both show up in histogram_quantile().
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Business metric: item lookups by outcome (a bounded label, never the item id).
LOOKUP_ROUTE = "/items/{item_id}"
LOOKUP_RESULTS = {200: "encontrado", 404: "no_encontrado"}


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    items_created: Counter
    items_in_catalogue: Gauge
    item_lookups: Counter


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
    )


def _count_lookups(metrics: Metrics):
    def instrumentation(info: RequestInfo) -> None:
        if info.modified_handler != LOOKUP_ROUTE or info.method != "GET":
            return
        status = info.response.status_code if info.response is not None else 500
        metrics.item_lookups.labels(resultado=LOOKUP_RESULTS.get(status, "error")).inc()

    return instrumentation


def instrument(app: FastAPI, metrics: Metrics) -> None:
    """Add the HTTP metrics middleware and the /metrics endpoint."""
    instrumentator = Instrumentator(
        should_group_status_codes=False,
        should_ignore_untemplated=True,
        excluded_handlers=["^/metrics$", "^/health/"],
        registry=metrics.registry,
    )
    # Only the two families our queries use. The default set also observes two Summaries
    # (request and response size) and a 20-bucket histogram on every request.
    instrumentator.add(
        http_metrics.requests(registry=metrics.registry),
        http_metrics.latency(
            buckets=LATENCY_BUCKETS, should_include_status=False, registry=metrics.registry
        ),
        _count_lookups(metrics),
    )
    instrumentator.instrument(app).expose(app, include_in_schema=False)
