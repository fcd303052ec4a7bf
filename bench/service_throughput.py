"""Service throughput on loopback: a bare FastAPI app with the same routes (no logging
middleware, no JSON logs, no metrics) against the real service (request-id middleware,
structlog JSON logs, Prometheus instrumentation), as a ratio measured in one run.

Run: .venv/bin/python bench/service_throughput.py   (no Docker needed; ~1 minute)

Both run as uvicorn subprocesses on free loopback ports with their output going to a
file (as a container's stdout would), and get the same requests from one bounded async
httpx load loop: a warm-up, then alternating rounds (bare, real, bare, real…). The
table shows every round; the ratio uses the median of each side. Goal: ≥ 0.85.

The load loop is Python too, and on a small machine it can be the bottleneck, which
pushes the throughput ratio towards 1. So the script also reads each server's CPU time
from /proc (Linux) around every round: CPU per request says what the instrumentation
costs the server itself, whatever the client manages to send.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from course import REPO_ROOT, show
from results_io import save  # sibling module (run as a script)

GOAL = 0.85
PATHS = ["/items/1", "/items/2", "/items", "/items/999", "/"]  # 200, 200, 200, 404, 200

BARE_APP = '''\
"""The course service's routes with nothing else: no middleware, no logs, no metrics."""
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

app = FastAPI()


class ItemCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    price: float = Field(gt=0)
    tags: list[str] = Field(default_factory=list)


class Item(ItemCreate):
    id: int


ITEMS = {i: Item(id=i, **seed) for i, seed in enumerate((
    {"name": "Taza de cerámica", "price": 8.5, "tags": ["cocina"]},
    {"name": "Cuaderno de notas", "price": 4.25, "tags": ["papelería"]},
    {"name": "Auriculares inalámbricos", "price": 59.9, "tags": ["electrónica", "audio"]},
), start=1)}


@app.get("/")
async def root() -> dict[str, str]:
    return {"servicio": "catalogo", "version": "1.0.0", "entorno": "production"}


@app.get("/version")
async def version() -> dict[str, str]:
    return {"version": "1.0.0", "servicio": "catalogo", "python": "3"}


@app.get("/health/live")
async def live() -> dict[str, str]:
    return {"estado": "ok"}


@app.get("/health/ready")
async def ready() -> dict[str, str]:
    return {"estado": "ok"}


@app.get("/items")
async def list_items() -> list[Item]:
    return list(ITEMS.values())


@app.post("/items", status_code=201)
async def create_item(data: ItemCreate) -> Item:
    item = Item(id=len(ITEMS) + 1, **data.model_dump())
    ITEMS[item.id] = item
    return item


@app.get("/items/{item_id}")
async def get_item(item_id: int) -> Item:
    if item_id not in ITEMS:
        raise HTTPException(status_code=404, detail=f"No existe ningún artículo con id {item_id}.")
    return ITEMS[item_id]
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(name: str, app: str, cwd: Path, extra: list[str], env: dict, log: Path):
    port = free_port()
    out = log.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", app, "--port", str(port), *extra],
                            cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                            env={**os.environ, **env})
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            if httpx.get(f"{base}/health/live", timeout=1, trust_env=False).status_code == 200:
                return proc, base, out
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{name} no arrancó:\n{log.read_text()[-2000:]}")


async def hammer(base: str, n: int, concurrency: int) -> tuple[float, Counter]:
    """Send exactly ``n`` GETs with ``concurrency`` workers; return (seconds, statuses)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    statuses: Counter = Counter()
    numbers = iter(range(n))
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10,
                                 trust_env=False) as client:
        async def worker() -> None:
            for i in numbers:
                statuses[(await client.get(PATHS[i % len(PATHS)])).status_code] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, statuses


def main(requests: int, rounds: int, concurrency: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="t15-bench-") as tmp:
        tmp = Path(tmp)
        (tmp / "bare_app.py").write_text(BARE_APP)
        servers = {
            "sin instrumentar": start("bare", "bare_app:app", tmp,
                                      ["--no-access-log", "--log-level", "warning"], {},
                                      tmp / "bare.log"),
            # the service as its Dockerfile runs it: JSON logs at INFO, access log on
            "servicio real": start("real", "app.main:app", REPO_ROOT / "service", [],
                                   {"JSON_LOGS": "true", "LOG_LEVEL": "INFO"}, tmp / "real.log"),
            # for attribution only: the same service with its INFO logs switched off
            "real sin logs INFO": start("quiet", "app.main:app", REPO_ROOT / "service", [],
                                        {"JSON_LOGS": "true", "LOG_LEVEL": "WARNING"},
                                        tmp / "quiet.log"),
        }
        try:
            for _, base, _ in servers.values():  # warm-up: imports, caches, connections
                asyncio.run(hammer(base, min(500, requests), concurrency))
            runs: dict[str, list[float]] = {name: [] for name in servers}
            cpu: dict[str, list[float]] = {name: [] for name in servers}
            statuses: dict[str, Counter] = {name: Counter() for name in servers}
            for _ in range(rounds):
                for name, (proc, base, _) in servers.items():
                    before = cpu_seconds(proc.pid)
                    seconds, got = asyncio.run(hammer(base, requests, concurrency))
                    after = cpu_seconds(proc.pid)
                    runs[name].append(requests / seconds)
                    if before is not None and after is not None:
                        cpu[name].append((after - before) / requests * 1e6)  # µs per request
                    statuses[name] += got
            log_bytes = {name: (tmp / f).stat().st_size for name, f in
                         zip(servers, ("bare.log", "real.log", "quiet.log"), strict=True)}
        finally:
            for proc, _, out in servers.values():
                proc.terminate()
                proc.wait(timeout=10)
                out.close()
    bare, real, quiet = (statistics.median(runs[n]) for n in servers)
    cpu_bare, cpu_real, cpu_quiet = (statistics.median(cpu[n]) if cpu[n] else None for n in servers)
    results = {
        "requests_per_round": requests, "rounds": rounds, "concurrency": concurrency,
        "paths": PATHS,
        "bare_rps_rounds": runs["sin instrumentar"], "real_rps_rounds": runs["servicio real"],
        "quiet_rps_rounds": runs["real sin logs INFO"],
        "bare_rps_median": bare, "real_rps_median": real, "quiet_rps_median": quiet,
        "ratio": real / bare, "quiet_ratio": quiet / bare, "goal": GOAL,
        "meets_goal": real / bare >= GOAL,
        "statuses": {n: dict(c) for n, c in statuses.items()},
        "log_bytes_per_request": {n: b / (requests * (rounds + 1)) for n, b in log_bytes.items()},
        "server_cpu_us_per_request": {n: cpu[n] for n in servers},
        "cpu_capacity_ratio": cpu_bare / cpu_real if cpu_bare and cpu_real else None,
        "cpu_capacity_ratio_quiet": cpu_bare / cpu_quiet if cpu_bare and cpu_quiet else None,
        "cpus": os.cpu_count(),
    }
    rows = [(name, " · ".join(f"{r:,.0f}" for r in runs[name]), f"{statistics.median(runs[name]):,.0f}",
             f"{statistics.median(cpu[name]):,.0f}" if cpu[name] else "—",
             f"{results['log_bytes_per_request'][name]:,.0f}") for name in servers]
    for label, ratio, capacity in (
            ("real / sin instrumentar", results["ratio"], results["cpu_capacity_ratio"]),
            ("real sin logs INFO / sin instrumentar", results["quiet_ratio"],
             results["cpu_capacity_ratio_quiet"])):
        rows.append((label, "", f"{ratio:.2f}" + (f" (objetivo ≥ {GOAL})" if "sin logs" not in label else ""),
                     f"capacidad {capacity:.2f}" if capacity else "—", ""))
    show.table(f"Servicio en loopback ({requests} peticiones por ronda, {concurrency} a la vez)",
               ["Variante", "Rondas (pet./s)", "Mediana (pet./s)", "CPU del servidor (µs/pet.)",
                "Bytes de log por petición"], rows)
    save("service_throughput", results)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peticiones", type=int, default=3000)
    parser.add_argument("--rondas", type=int, default=3)
    parser.add_argument("--concurrencia", type=int, default=16)
    args = parser.parse_args()
    main(args.peticiones, args.rondas, args.concurrencia)
