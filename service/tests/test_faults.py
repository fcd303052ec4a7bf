import asyncio
import time

import pytest
from fastapi import HTTPException

from app.faults import FaultInjector


def test_no_faults_by_default(client) -> None:
    for _ in range(20):
        assert client.get("/items").status_code == 200


def test_error_rate_one_always_fails_items_routes(make_client) -> None:
    client = make_client(fault_error_rate=1.0)
    for path in ("/items", "/items/1"):
        response = client.get(path)
        assert response.status_code == 500
        assert response.json() == {"detail": "Error simulado por inyección de fallos."}
    assert client.post("/items", json={"name": "X", "price": 1}).status_code == 500


def test_error_rate_zero_never_fails(make_client) -> None:
    client = make_client(fault_error_rate=0.0)
    assert all(client.get("/items").status_code == 200 for _ in range(20))


def test_faults_only_touch_items_routes(make_client) -> None:
    client = make_client(fault_error_rate=1.0, fault_extra_latency_ms=300)
    faults, applied = client.app.state.faults, []
    apply = faults.apply

    async def recorded() -> None:  # the injector, noting each time it runs
        applied.append(True)
        await apply()

    faults.apply = recorded
    for path in ("/", "/version", "/health/live", "/health/ready", "/metrics"):
        assert client.get(path).status_code == 200, path
    assert applied == []  # no delay and no error outside /items
    assert client.get("/items").status_code == 500
    assert applied == [True]


def test_extra_latency(make_client) -> None:
    client = make_client(fault_extra_latency_ms=200)
    started = time.perf_counter()
    assert client.get("/items").status_code == 200
    assert time.perf_counter() - started >= 0.2


def test_injected_rng_makes_errors_deterministic(client) -> None:
    draws = iter([0.1, 0.9, 0.49, 0.5])
    client.app.state.faults = FaultInjector(error_rate=0.5, rng=lambda: next(draws))
    assert [client.get("/items").status_code for _ in range(4)] == [500, 200, 500, 200]


def test_injector_alone() -> None:
    asyncio.run(FaultInjector(error_rate=0.3, rng=lambda: 0.31).apply())
    with pytest.raises(HTTPException) as excinfo:
        asyncio.run(FaultInjector(error_rate=0.3, rng=lambda: 0.29).apply())
    assert excinfo.value.status_code == 500
