import re

import pytest


def test_request_id_is_echoed(client) -> None:
    response = client.get("/", headers={"X-Request-ID": "abc-123_x.y"})
    assert response.headers["X-Request-ID"] == "abc-123_x.y"


def test_request_id_is_generated_when_absent(client) -> None:
    first = client.get("/").headers["X-Request-ID"]
    second = client.get("/").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


@pytest.mark.parametrize("bad", ["", "con espacios", "x" * 129, "<script>", "ñandú", "a/b"])
def test_invalid_request_id_is_replaced(client, bad: str) -> None:
    header = client.get("/", headers={"X-Request-ID": bad.encode()}).headers["X-Request-ID"]
    assert header != bad
    assert re.fullmatch(r"[0-9a-f]{32}", header)


def test_longest_valid_request_id_is_kept(client) -> None:
    valid = "a" * 128
    assert client.get("/", headers={"X-Request-ID": valid}).headers["X-Request-ID"] == valid


def test_request_id_on_errors_and_other_routes(client) -> None:
    for path in ("/items/999", "/no-existe", "/metrics", "/health/live"):
        assert client.get(path, headers={"X-Request-ID": "fijo"}).headers["X-Request-ID"] == "fijo"
