"""A bounded HTTP load on loopback for the lessons that need real traffic (15.8, 15.10):
GET requests round-robin over a few services at a fixed rate, counted per status."""
from __future__ import annotations

import itertools
import math
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from course import show


@dataclass
class LoadResult:
    counts: Counter = field(default_factory=Counter)   # (target name, status) → requests
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def errors(self) -> int:
        return sum(n for (_, status), n in self.counts.items() if status >= 500)

    @property
    def error_ratio(self) -> float:
        return self.errors / self.total if self.total else math.nan

    def merge(self, other: LoadResult) -> LoadResult:
        return LoadResult(self.counts + other.counts, self.seconds + other.seconds,
                          self.latencies + other.latencies)

    def show(self, title: str = "Peticiones enviadas") -> None:
        rows = [(name, status, n) for (name, status), n in sorted(self.counts.items())]
        rows.append(("total", f"{self.errors} con 5xx ({self.error_ratio:.1%})", self.total))
        show.table(f"{title} en {self.seconds:.1f} s", ["Destino", "Estado HTTP", "Peticiones"],
                   rows)


def load(targets: Mapping[str, str], paths: Sequence[str], *, seconds: float,
         rate: float = 60, workers: int = 4, max_requests: int = 10_000) -> LoadResult:
    """Send GET requests round-robin over ``targets`` (name → base URL) × ``paths``,
    about ``rate`` per second in total, for ``seconds`` or ``max_requests``, whichever
    comes first. Loopback only; returns the counts per (target, HTTP status)."""
    plan = itertools.cycle([(name, base, path) for name, base in targets.items()
                            for path in paths])
    lock = threading.Lock()
    result = LoadResult()
    sent = itertools.count()
    started = time.monotonic()
    deadline = started + seconds
    interval = workers / rate

    def worker() -> None:
        with httpx.Client(timeout=10, trust_env=False) as client:
            next_at = time.monotonic()
            while time.monotonic() < deadline:
                with lock:
                    if next(sent) >= max_requests:
                        return
                    name, base, path = next(plan)
                t0 = time.monotonic()
                try:
                    status = client.get(base + path).status_code
                except httpx.HTTPError:
                    status = 0  # connection refused, timeout…: counted apart from HTTP codes
                elapsed = time.monotonic() - t0
                with lock:
                    result.counts[(name, status)] += 1
                    result.latencies.append(elapsed)
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(worker) for _ in range(workers)]:
            future.result()
    result.seconds = time.monotonic() - started
    return result
