"""The OpenAPI contract says what the service does: errors documented, body schema exact."""

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

LONG_NAME = "x" * 100


def _item_create_validator(client: TestClient) -> Draft202012Validator:
    openapi = client.app.openapi()
    schema = {**openapi["components"]["schemas"]["ItemCreate"],
              "$defs": openapi["components"]["schemas"]}
    return Draft202012Validator(schema)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Lápiz", "price": 1, "tags": ["   "]},  # blank tag: rejected before this change
        {"name": "Lápiz", "price": 1, "tags": ["\t\n"]},
        {"name": "Lápiz", "price": 1, "tags": [" hogar "]},
        {"name": "Lápiz", "price": 1, "tags": ["a" * 50]},
        {"name": "Lápiz", "price": 1, "tags": ["a" * 51]},
        {"name": "Lápiz", "price": 1, "tags": ["a"] * 20},
        {"name": "Lápiz", "price": 1, "tags": ["a"] * 21},
        {"name": "   ", "price": 1},
        {"name": "", "price": 1},
        {"name": "x", "price": 1},
        {"name": f"  {LONG_NAME}  ", "price": 1},  # 104 raw characters, 100 once stripped
        {"name": LONG_NAME + "x", "price": 1},
        {"name": "Lápiz", "price": 0},
    ],
)
def test_schema_and_validation_agree_on_item_bodies(client: TestClient, body: dict) -> None:
    admitted_by_schema = _item_create_validator(client).is_valid(body)
    response = client.post("/items", json=body)
    assert response.status_code in (201, 422)
    assert admitted_by_schema == (response.status_code == 201), response.text


def _responses(client: TestClient, path: str, method: str) -> dict:
    return client.app.openapi()["paths"][path][method]["responses"]


def test_missing_item_404_is_documented_with_a_spanish_error_model(client: TestClient) -> None:
    documented = _responses(client, "/items/{item_id}", "get")["404"]
    assert documented["description"] == "No existe ningún artículo con ese id."
    assert documented["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
    error_model = client.app.openapi()["components"]["schemas"]["ErrorResponse"]
    assert error_model["required"] == ["detail"]
    assert error_model["properties"]["detail"]["description"].startswith("Motivo del error")


def test_unparsable_body_400_is_documented_and_answered(client: TestClient) -> None:
    assert "400" in _responses(client, "/items", "post")
    response = client.post("/items", content=b"\xff{", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"detail": "El cuerpo no es JSON válido (no se pudo leer)."}


def test_items_routes_document_injected_faults_and_storage_outage(client: TestClient) -> None:
    for path, method in (("/items", "get"), ("/items", "post"), ("/items/{item_id}", "get")):
        assert {"500", "503"} <= set(_responses(client, path, method))
    assert "503" in _responses(client, "/health/ready", "get")


def test_method_not_allowed_lists_every_method_of_the_path(client: TestClient) -> None:
    response = client.request("PUT", "/items")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json() == {"detail": "Método no permitido en esta ruta."}
    assert client.request("DELETE", "/items/1").headers["allow"] == "GET"
