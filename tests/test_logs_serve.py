"""course.logs.serve: each server answers on a port of its own, even when two start at the
same moment (parallel gradings of lab07)."""
import urllib.request

import pytest

from course import logs

APP = '''import os


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": os.environ["QUIEN"].encode()})
'''


@pytest.mark.slow
def test_two_servers_never_share_a_port(tmp_path, monkeypatch):
    """Two gradings that happen to pick the same free port: the second server must not take
    the first one's answer for its own (its uvicorn could not bind, the first one answered)."""
    (tmp_path / "quien.py").write_text(APP)
    first_port = {}
    monkeypatch.setattr(logs, "free_port", lambda: first_port.setdefault("p", 20000 + id(tmp_path) % 20000))
    with logs.serve("quien:app", cwd=tmp_path, env={"QUIEN": "primero"}, ready_path="/") as first, \
            logs.serve("quien:app", cwd=tmp_path, env={"QUIEN": "segundo"}, ready_path="/") as second:
        answers = [urllib.request.urlopen(server.url, timeout=5).read().decode()
                   for server in (first, second)]
        assert second.port != first.port
        assert answers == ["primero", "segundo"]
        assert second.process.poll() is None
