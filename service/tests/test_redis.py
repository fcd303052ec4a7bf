"""View counter: real redis-server when installed, plus a stub for the route logic."""


def test_views_are_counted_in_redis(make_client, redis_url: str) -> None:
    client = make_client(redis_url=redis_url)
    assert client.get("/items/1").json()["vistas"] == 1
    assert client.get("/items/1").json()["vistas"] == 2
    assert client.get("/items/2").json()["vistas"] == 1


def test_ready_with_redis(make_client, redis_url: str) -> None:
    response = make_client(redis_url=redis_url).get("/health/ready")
    assert response.status_code == 200
    assert response.json()["dependencias"] == {"redis": {"estado": "ok"}}


class StubCounter:
    def __init__(self) -> None:
        self.seen: list[int] = []

    async def increment(self, item_id: int) -> int:
        self.seen.append(item_id)
        return len(self.seen)


def test_route_returns_the_counter_value(client) -> None:
    counter = StubCounter()
    client.app.state.view_counter = counter
    assert client.get("/items/3").json()["vistas"] == 1
    assert client.get("/items/3").json()["vistas"] == 2
    assert client.get("/items/999").status_code == 404
    assert counter.seen == [3, 3]  # missing items are not counted
