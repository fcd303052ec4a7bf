"""Synthetic log lines shaped like the service's (15.7) and the cardinality experiment of
15.9, shared by notebook 09 and bench/log_store.py: the same lines are ingested into two
VictoriaLogs stores that differ only in their stream fields (bounded labels vs request_id
as a label), and the cost of each is measured on the real store."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from course import logstore

PATHS = ("/items", "/items/1", "/items/2", "/items/3", "/items/424242")
SERVICES = ("catalogo-1", "catalogo-2")
BOUNDED = "service,level"
UNBOUNDED = "service,level,request_id"


def lines(n: int, *, seed: int = 15, errors: float = 0.05) -> list[dict]:
    """``n`` request lines of the last minutes, 32-hex request ids, some 5xx."""
    rng = random.Random(seed)
    start = datetime.now(timezone.utc) - timedelta(minutes=3)
    out = []
    for i in range(n):
        status = 500 if rng.random() < errors else rng.choice((200, 200, 200, 404))
        out.append({
            "timestamp": (start + timedelta(milliseconds=i * 5)).isoformat().replace("+00:00", "Z"),
            "service": rng.choice(SERVICES), "level": "error" if status >= 500 else "info",
            "event": "peticion_terminada", "request_id": f"{rng.getrandbits(128):032x}",
            "http_method": "GET", "http_path": rng.choice(PATHS), "status_code": status,
            "duracion_ms": round(rng.lognormvariate(1.5, 0.6), 3), "logger": "app.middleware",
        })
    return out


@dataclass
class Cost:
    stream_fields: str
    streams: int
    ingest_s: float
    lines_per_s: float
    query_id_ms: float
    query_stats_ms: float
    disk_bytes: int


def _timed(fn, repeat: int = 5) -> float:
    """Best of ``repeat`` runs, in milliseconds (the first one warms caches)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def measure(store: logstore.Store, records: list[dict], stream_fields: str,
            batch: int = 2000) -> Cost:
    """Ingest ``records`` with ``stream_fields`` and measure streams, ingest rate, two
    query latencies and the bytes on disk. Stops the store at the end: a graceful stop
    writes its in-memory parts, so the disk figure counts everything."""
    started = time.perf_counter()
    for i in range(0, len(records), batch):
        answer = store.jsonline(records[i:i + batch], stream_fields=stream_fields)
        answer.raise_for_status()
    store.flush()
    ingest = time.perf_counter() - started
    needle = records[len(records) // 2]["request_id"]
    query_id = _timed(lambda: store.query(f'request_id:="{needle}"'))
    query_stats = _timed(lambda: store.query(
        "_time:10m status_code:>=500 | stats by (http_path) count() errores"))
    streams = len(store.streams())
    store.close()
    return Cost(stream_fields, streams, ingest, len(records) / ingest, query_id, query_stats,
                store.disk_bytes())
