"""Section 15.10: rollback driven by an alert (Prometheus → Alertmanager → webhook).

Two small pieces the notebook composes with the real Prometheus and Alertmanager of
``course.promstack``:

- ``Receiver``: the endpoint an Alertmanager ``webhook_configs`` entry points at. An HTTP
  server on loopback (a free port) that records every notification Alertmanager posts and
  runs an action (the rollback) once per firing alert. In production it would be a small
  service, a CI job trigger or an Argo Workflows event source; the contract is the same
  JSON body (webhook payload version 4).
- ``StateWatch``: polls Prometheus' rules API and records when an alert turns
  inactive → pending → firing, so a timeline can show each stage of the chain.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from course import prom


@dataclass
class Notification:
    t: float                 # clock() when it arrived (time.monotonic by default)
    status: str              # "firing" or "resolved" (of the whole group)
    alerts: list[dict]       # each with labels, annotations, status, startsAt…
    receiver: str


@dataclass
class ActionRecord:
    t: float                 # clock() when the action finished
    alert: str
    outcome: str             # what the action returned, or the error it raised


class Receiver:
    """A webhook receiver for Alertmanager on 127.0.0.1, with a rollback ``action``.

    ``action(alert)`` runs once per firing alert (by Alertmanager's fingerprint, or by its
    labels): repeated notifications of the same alert do not roll back twice. Use it as a
    context manager; ``url`` is what goes in ``webhook_configs``."""

    def __init__(self, action: Callable[[dict], object], *, path: str = "/rollback",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.action, self.path, self.clock = action, path, clock
        self.notifications: list[Notification] = []
        self.actions: list[ActionRecord] = []
        self._done: set[str] = set()
        self._lock = threading.Lock()
        self._acted = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{path}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self.send_error(400, "JSON no válido")
                    return
                if self.path != receiver.path:
                    self.send_error(404)
                    return
                receiver._receive(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:  # keep the notebook's output clean
                pass

        return Handler

    def _receive(self, body: dict) -> None:
        now = self.clock()
        note = Notification(now, str(body.get("status", "")), list(body.get("alerts") or []),
                            str(body.get("receiver", "")))
        with self._lock:
            self.notifications.append(note)
        for alert in note.alerts:
            if alert.get("status") != "firing":
                continue
            key = alert.get("fingerprint") or json.dumps(alert.get("labels", {}), sort_keys=True)
            with self._lock:
                if key in self._done:
                    continue
                self._done.add(key)
            # Answer Alertmanager at once and act in the background: a slow rollback
            # (helm --wait) must not make Alertmanager time out and send it again.
            threading.Thread(target=self._act, args=(alert,), daemon=True).start()

    def _act(self, alert: dict) -> None:
        name = alert.get("labels", {}).get("alertname", "?")
        try:
            outcome = str(self.action(alert))
        except Exception as exc:  # reported in the timeline; never lost in a thread
            outcome = f"la acción falló: {exc.__class__.__name__}: {exc}"
        with self._lock:
            self.actions.append(ActionRecord(self.clock(), name, outcome))
        self._acted.set()

    def wait_action(self, timeout: float = 60) -> ActionRecord:
        """Wait for the first action (the rollback); raise ``prom.NotReady`` if none came."""
        if not self._acted.wait(timeout):
            seen = len(self.notifications)
            raise prom.NotReady(f"El webhook no recibió ninguna alerta «firing» en {timeout:.0f} s "
                                f"({seen} notificaciones recibidas).")
        return self.actions[0]


@dataclass
class StateWatch:
    """Records the state of alert ``name`` in Prometheus (inactive/pending/firing) over
    time, from a background thread, until ``stop()``."""
    prometheus: prom.Prometheus
    name: str
    every: float = 0.25
    clock: Callable[[], float] = time.monotonic
    changes: list[tuple[float, str]] = field(default_factory=list)  # (clock(), new state)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                state = self.prometheus.alert_state(self.name) or "sin regla"
            except (httpx.HTTPError, prom.QueryError, ValueError):
                state = "Prometheus no responde"
            if not self.changes or self.changes[-1][1] != state:
                self.changes.append((self.clock(), state))
            self._stop.wait(self.every)

    def first(self, state: str) -> float | None:
        return next((t for t, s in self.changes if s == state), None)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def send_test_alert(alertmanager_url: str, labels: dict[str, str],
                    annotations: dict[str, str] | None = None) -> None:
    """POST one firing alert to Alertmanager's API v2, as ``amtool alert add`` does: the
    drill that proves the route and the webhook work without waiting for a real failure."""
    response = httpx.post(f"{alertmanager_url}/api/v2/alerts", timeout=5, trust_env=False,
                          json=[{"labels": labels, "annotations": annotations or {}}])
    response.raise_for_status()
