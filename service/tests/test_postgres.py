"""Against a real, throwaway PostgreSQL server (see conftest.postgres_server)."""


def test_ready_with_postgres(make_client, postgres_url: str) -> None:
    client = make_client(database_url=postgres_url)
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"estado": "listo", "dependencias": {"postgresql": {"estado": "ok"}}}


def test_items_in_postgres(make_client, postgres_url: str) -> None:
    client = make_client(database_url=postgres_url)
    assert [item["id"] for item in client.get("/items").json()] == [1, 2, 3]
    created = client.post(
        "/items", json={"name": "Mesa", "price": 120.5, "tags": ["hogar", "madera"]}
    )
    assert created.status_code == 201
    item = created.json()
    assert item == {"id": 4, "name": "Mesa", "price": 120.5, "tags": ["hogar", "madera"]}
    assert client.get("/items/4").json() == {**item, "vistas": None}
    assert client.get("/items/999").status_code == 404


def test_items_persist_across_app_instances(make_client, postgres_url: str) -> None:
    first = make_client(database_url=postgres_url)
    item_id = first.post("/items", json={"name": "Persistente", "price": 2}).json()["id"]
    first.close()  # runs the shutdown half of the lifespan

    second = make_client(database_url=postgres_url)
    assert second.get(f"/items/{item_id}").json()["name"] == "Persistente"
    assert len(second.get("/items").json()) == 4  # not seeded twice
    assert second.get("/metrics").text.count("catalogo_items_en_catalogo 4.0") == 1


def test_replicas_starting_together_seed_once(make_client, postgres_url: str) -> None:
    replicas = [make_client(database_url=postgres_url) for _ in range(3)]
    assert all(len(replica.get("/items").json()) == 3 for replica in replicas)
