"""Against a real, throwaway PostgreSQL server (see conftest.postgres_server)."""

import asyncio

import asyncpg


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


def test_readiness_follows_a_database_outage(make_client, postgres_url, postgres_server) -> None:
    client = make_client(database_url=postgres_url)
    assert client.get("/health/ready").status_code == 200
    postgres_server.stop()
    try:
        assert client.get("/health/ready").status_code == 503
        assert client.get("/items").status_code == 503
        assert client.get("/health/live").status_code == 200
    finally:
        postgres_server.start()
    assert client.get("/health/ready").status_code == 200  # the pool reconnects by itself
    assert len(client.get("/items").json()) == 3


def test_app_starts_before_the_database_exists(make_client, postgres_server) -> None:
    url = postgres_server.admin_url.rsplit("/", 1)[0] + "/creada_mas_tarde"
    client = make_client(database_url=url)
    assert client.get("/health/ready").status_code == 503

    async def create_database() -> None:
        connection = await asyncpg.connect(postgres_server.admin_url)
        try:
            await connection.execute('DROP DATABASE IF EXISTS "creada_mas_tarde"')
            await connection.execute('CREATE DATABASE "creada_mas_tarde"')
        finally:
            await connection.close()

    asyncio.run(create_database())
    assert client.get("/health/ready").status_code == 200
    assert len(client.get("/items").json()) == 3  # seeded on first successful use
