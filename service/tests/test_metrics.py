from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app.metrics import LATENCY_BUCKETS, HttpMetrics


def samples(client: TestClient) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(client: TestClient, name: str, **labels: str) -> float:
    return samples(client).get((name, frozenset(labels.items())), 0.0)


def test_http_requests_are_counted(client: TestClient) -> None:
    before = value(client, "http_requests_total", handler="/items", method="GET", status="200")
    client.get("/items")
    client.get("/items")
    after = value(client, "http_requests_total", handler="/items", method="GET", status="200")
    assert after - before == 2


def test_status_codes_and_templated_handlers(client: TestClient) -> None:
    client.get("/items/1")
    client.get("/items/999")
    client.get("/no-existe")
    for status in ("200", "404"):
        labels = {"handler": "/items/{item_id}", "method": "GET", "status": status}
        assert value(client, "http_requests_total", **labels) == 1
    assert not any(dict(labels).get("handler") == "/no-existe" for _, labels in samples(client))


def test_metrics_and_health_are_not_instrumented(client: TestClient) -> None:
    client.get("/health/live")
    client.get("/health/ready")
    client.get("/metrics")
    handlers = {
        dict(labels).get("handler")
        for name, labels in samples(client)
        if name == "http_requests_total"
    }
    assert not handlers & {"/metrics", "/health/live", "/health/ready"}


def test_latency_histogram_has_fine_buckets(client: TestClient) -> None:
    client.get("/")
    found = samples(client)
    buckets = {
        float(dict(labels)["le"])
        for name, labels in found
        if name == "http_request_duration_seconds_bucket" and dict(labels)["handler"] == "/"
    }
    assert set(LATENCY_BUCKETS) <= buckets
    assert 0.005 in buckets


def test_business_metrics(client: TestClient) -> None:
    assert value(client, "catalogo_items_en_catalogo") == 3
    assert value(client, "catalogo_items_creados_total") == 0
    client.post("/items", json={"name": "Mochila", "price": 35})
    client.post("/items", json={"name": "Botella", "price": 12})
    client.post("/items", json={"name": "", "price": 12})  # rejected: not counted
    assert value(client, "catalogo_items_creados_total") == 2
    assert value(client, "catalogo_items_en_catalogo") == 5


def test_build_info(make_client) -> None:
    client = make_client(service_name="tienda", app_version="7.0.1")
    assert value(client, "catalogo_build_info", version="7.0.1", servicio="tienda") == 1


def test_process_metrics_are_exposed(client: TestClient) -> None:
    names = {name for name, _ in samples(client)}
    assert "process_resident_memory_bytes" in names
    assert "python_info" in names


def test_many_apps_in_one_process(make_client) -> None:
    clients = [make_client() for _ in range(3)]
    clients[0].post("/items", json={"name": "Uno", "price": 1})
    assert value(clients[0], "catalogo_items_creados_total") == 1
    assert value(clients[1], "catalogo_items_creados_total") == 0
    assert value(clients[2], "catalogo_build_info", version="1.0.0", servicio="catalogo") == 1


def test_item_lookups_by_result(client: TestClient) -> None:
    name = "catalogo_consultas_articulo_total"
    for path in ("/items/1", "/items/2", "/items/999", "/items", "/"):
        client.get(path)
    assert value(client, name, resultado="encontrado") == 2
    assert value(client, name, resultado="no_encontrado") == 1
    assert value(client, name, resultado="error") == 0  # the series exists from the start


def test_unhandled_exception_counts_as_500(make_client) -> None:
    client = make_client()
    app = client.app

    async def broken() -> None:
        raise RuntimeError("fallo")

    app.add_api_route("/roto", broken)
    with TestClient(app, raise_server_exceptions=False) as failing:
        assert failing.get("/roto").status_code == 500
        assert value(failing, "http_requests_total", handler="/roto", method="GET",
                     status="500") == 1
        assert value(failing, "http_request_duration_seconds_count", handler="/roto",
                     method="GET") == 1


def _exposed(registry: CollectorRegistry) -> dict[tuple[str, frozenset], float]:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(generate_latest(registry).decode())
            for sample in family.samples if not sample.name.endswith("_created")}


def test_the_plain_collector_exposes_what_prometheus_client_would() -> None:
    # Values on a bucket's bound belong to it (le), below the first and above the last too.
    observations = [("/", "GET", 200, 0.005), ("/", "GET", 200, 0.0051), ("/", "GET", 500, 0.0),
                    ("/items", "POST", 201, 10.0), ("/items", "POST", 201, 11.0),
                    ("/", "GET", 200, 0.3)]
    plain = CollectorRegistry()
    collector = HttpMetrics(LATENCY_BUCKETS)
    plain.register(collector)
    reference = CollectorRegistry()
    requests = Counter("http_requests", "", ["handler", "method", "status"], registry=reference)
    latency = Histogram("http_request_duration_seconds", "", ["handler", "method"],
                        buckets=LATENCY_BUCKETS, registry=reference)
    for handler, method, status, seconds in observations:
        collector.observe(handler, method, status, seconds)
        requests.labels(handler, method, str(status)).inc()
        latency.labels(handler, method).observe(seconds)
    assert _exposed(plain) == _exposed(reference)
