"""course.alerting: the webhook receiver of 15.10's alert-driven rollback, fed with the
JSON body Alertmanager posts (webhook payload version 4)."""
import threading

import httpx
import pytest

from course import alerting, prom


def payload(status: str = "firing", fingerprint: str = "abc", **labels) -> dict:
    labels = {"alertname": "CatalogoCandidataConErrores", "accion": "rollback", **labels}
    return {"version": "4", "status": status, "receiver": "rollback", "groupKey": "{}:{}",
            "alerts": [{"status": status, "labels": labels, "annotations": {},
                        "fingerprint": fingerprint}]}


def post(receiver: alerting.Receiver, body: dict, url: str | None = None) -> int:
    return httpx.post(url or receiver.url, json=body, timeout=5, trust_env=False).status_code


def test_rolls_back_once_per_firing_alert():
    calls = []
    with alerting.Receiver(lambda alert: calls.append(alert["labels"]["version"]) or "hecho") as receiver:
        assert receiver.url.startswith("http://127.0.0.1:")
        # Alertmanager repeats an alert that is still firing: one rollback only.
        assert post(receiver, payload(version="1.1.0")) == 200
        assert post(receiver, payload(version="1.1.0")) == 200
        record = receiver.wait_action(timeout=5)
        assert post(receiver, payload("resolved", version="1.1.0")) == 200
    assert calls == ["1.1.0"]
    assert record.outcome == "hecho" and record.alert == "CatalogoCandidataConErrores"
    assert [n.status for n in receiver.notifications] == ["firing", "firing", "resolved"]


def test_resolved_alone_does_not_roll_back():
    with alerting.Receiver(lambda alert: pytest.fail("no debía actuar")) as receiver:
        assert post(receiver, payload("resolved")) == 200
        with pytest.raises(prom.NotReady, match="ninguna alerta «firing»"):
            receiver.wait_action(timeout=0.5)


def test_answers_before_a_slow_action_finishes():
    release = threading.Event()
    with alerting.Receiver(lambda alert: release.wait(5) and "tarde") as receiver:
        assert post(receiver, payload()) == 200   # not blocked by the action
        release.set()
        assert receiver.wait_action(timeout=5).outcome == "tarde"


def test_a_failing_action_is_reported_not_lost():
    def broken(alert):
        raise RuntimeError("helm no responde")

    with alerting.Receiver(broken) as receiver:
        post(receiver, payload())
        assert "la acción falló: RuntimeError: helm no responde" in receiver.wait_action(5).outcome


def test_rejects_other_paths_and_bad_json():
    with alerting.Receiver(lambda alert: "x") as receiver:
        base = receiver.url.rsplit("/", 1)[0]
        assert post(receiver, payload(), url=base + "/otra") == 404
        bad = httpx.post(receiver.url, content=b"{no", timeout=5, trust_env=False)
        assert bad.status_code == 400
        assert receiver.actions == [] and receiver.notifications == []
