import platform

from fastapi.testclient import TestClient


def test_root_describes_the_service(make_client) -> None:
    client = make_client(service_name="tienda", environment="development", app_version="9.9.9")
    assert client.get("/").json() == {
        "servicio": "tienda",
        "version": "9.9.9",
        "entorno": "development",
    }


def test_version_reports_service_and_python(client: TestClient) -> None:
    assert client.get("/version").json() == {
        "version": "1.0.0",
        "servicio": "catalogo",
        "python": platform.python_version(),
    }


def test_items_are_seeded(client: TestClient) -> None:
    items = client.get("/items").json()
    assert [item["id"] for item in items] == [1, 2, 3]
    assert all(item["name"] and item["price"] > 0 for item in items)


def test_get_item(client: TestClient) -> None:
    response = client.get("/items/2")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == 2
    assert body["vistas"] is None  # no REDIS_URL


def test_missing_item_is_404_in_spanish(client: TestClient) -> None:
    response = client.get("/items/999")
    assert response.status_code == 404
    assert response.json() == {"detail": "No existe ningún artículo con id 999."}


def test_create_item(client: TestClient) -> None:
    response = client.post(
        "/items", json={"name": "  Lámpara  ", "price": 19.99, "tags": ["hogar"]}
    )
    assert response.status_code == 201
    created = response.json()
    assert created == {"id": 4, "name": "Lámpara", "price": 19.99, "tags": ["hogar"]}
    assert response.headers["location"] == "/items/4"
    assert client.get("/items/4").json()["name"] == "Lámpara"
    assert len(client.get("/items").json()) == 4


def test_create_item_without_tags(client: TestClient) -> None:
    response = client.post("/items", json={"name": "Lápiz", "price": 0.5})
    assert response.status_code == 201
    assert response.json()["tags"] == []


def test_create_item_validation(client: TestClient) -> None:
    invalid_bodies = [
        {},
        {"name": "", "price": 1},
        {"name": "   ", "price": 1},
        {"name": "x" * 101, "price": 1},
        {"name": "Gratis", "price": 0},
        {"name": "Negativo", "price": -3},
        {"name": "Texto", "price": "caro"},
        {"name": "Etiquetas", "price": 1, "tags": "no-es-lista"},
        {"name": "Etiquetas", "price": 1, "tags": [""]},
    ]
    for body in invalid_bodies:
        assert client.post("/items", json=body).status_code == 422, body
    assert (
        client.post(
            "/items", content=b"{no json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )
    assert len(client.get("/items").json()) == 3


def test_item_id_must_be_an_integer(client: TestClient) -> None:
    assert client.get("/items/abc").status_code == 422


def test_liveness(client: TestClient) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"estado": "vivo"}


def test_liveness_ignores_dependencies(make_client) -> None:
    client = make_client(
        database_url="postgresql://u:p@127.0.0.1:1/db",
        redis_url="redis://127.0.0.1:1/0",
        fault_readiness_fail=True,
    )
    assert client.get("/health/live").status_code == 200


def test_each_app_has_its_own_store(make_client) -> None:
    first, second = make_client(), make_client()
    first.post("/items", json={"name": "Solo en la primera", "price": 1})
    assert len(first.get("/items").json()) == 4
    assert len(second.get("/items").json()) == 3
