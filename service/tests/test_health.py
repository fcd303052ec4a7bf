import asyncio

import pytest

from app import health

UNREACHABLE_DATABASE = "postgresql://u:p@127.0.0.1:1/db"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def test_ready_without_dependencies(client) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"estado": "listo", "dependencias": {}}


def test_unreachable_database(make_client) -> None:
    client = make_client(database_url=UNREACHABLE_DATABASE)  # the app still starts
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["estado"] == "no_listo"
    postgres = body["dependencias"]["postgresql"]
    assert postgres["estado"] == "error"
    assert "PostgreSQL no está disponible" in postgres["motivo"]
    assert "p@" not in postgres["motivo"]


def test_unreachable_database_makes_items_503(make_client) -> None:
    client = make_client(database_url=UNREACHABLE_DATABASE)
    response = client.get("/items")
    assert response.status_code == 503
    assert response.json() == {"detail": "El almacenamiento no está disponible en este momento."}


def test_unreachable_redis(make_client) -> None:
    client = make_client(redis_url=UNREACHABLE_REDIS)
    response = client.get("/health/ready")
    assert response.status_code == 503
    redis = response.json()["dependencias"]["redis"]
    assert redis["estado"] == "error"
    assert redis["motivo"]


def test_unreachable_redis_only_loses_the_view_count(make_client) -> None:
    client = make_client(redis_url=UNREACHABLE_REDIS)
    response = client.get("/items/1")
    assert response.status_code == 200
    assert response.json()["vistas"] is None


def test_forced_readiness_failure(make_client) -> None:
    client = make_client(fault_readiness_fail=True)
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {
        "estado": "no_listo",
        "dependencias": {},
        "motivo": "Fallo de disponibilidad inyectado con FAULT_READINESS_FAIL.",
    }


def test_each_dependency_is_reported(make_client) -> None:
    client = make_client(database_url=UNREACHABLE_DATABASE, redis_url=UNREACHABLE_REDIS)
    dependencies = client.get("/health/ready").json()["dependencias"]
    assert set(dependencies) == {"postgresql", "redis"}


def test_slow_dependency_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "CHECK_TIMEOUT_S", 0.05)

    async def hangs() -> None:
        await asyncio.sleep(10)

    async def works() -> None:
        return None

    ready, body = asyncio.run(health.readiness({"lenta": hangs, "rapida": works}, False))
    assert not ready
    assert body["dependencias"] == {
        "lenta": {"estado": "error", "motivo": "sin respuesta en 0.05 s"},
        "rapida": {"estado": "ok"},
    }


def test_check_timeout_is_short() -> None:
    assert health.CHECK_TIMEOUT_S <= 2
