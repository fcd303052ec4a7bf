"""Service throughput on loopback: the course service with and without its JSON logging
and metrics, as a ratio measured in one run.

The baseline is the service itself (same routes, dependencies and models, same uvicorn
command line) with the request-id middleware and the metrics middleware taken out and its
logs at WARNING. Then
one layer at a time: + MetricsMiddleware; + RequestIdMiddleware with logs at WARNING (the
context is bound, nothing is written); the real service as its Dockerfile runs it (JSON
logs at INFO: one line per request, peticion_terminada); the same with ACCESS_LOG=true
(uvicorn's access line too, a stdlib record through ProcessorFormatter). A minimal
FastAPI app with the same routes and nothing else is the reference for what the
dependencies and models cost. Goal: real / baseline ≥ 0.85.

Run: .venv/bin/python bench/service_throughput.py   (no Docker needed; ~2 minutes)
The JSON goes to bench/results/service_throughput.json; notebooks 07 and 08 plot the
committed copy (they do not run this script: it takes minutes and needs a quiet machine).

Every variant runs as a uvicorn subprocess on a free loopback port with its output going
to a file (as a container's stdout would). The load comes from `wrk` (apt install wrk):
a C load generator that is many times faster than the server, so the server is the
bottleneck and requests per second measure its capacity. Without wrk the script falls
back to a Python httpx loop, which on a small machine is slower than the server: the
throughput ratio then drifts towards 1 and says little (the table warns).

With two CPUs or more (Linux), the servers run on one CPU and wrk on another
(taskset), so the scheduler never makes them take turns on one core.

Rounds alternate (bare, + metrics, …, then the same backwards) after a warm-up. Each
ratio is the median over the rounds of that round's rate over the baseline's rate in the
same pass (paired: a burst of load from other processes affects both sides alike). The
script also reads each server's CPU time (psutil) around every round: CPU per
request is what the instrumentation costs the server itself, whatever the client manages
to send, and is steadier than requests/s on a shared machine.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import json
import shutil

import httpx
import psutil

from course import REPO_ROOT, processes, show
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


SERVICE_BARE_APP = '''\
"""The course service minus the middlewares named in BENCH_WITHOUT (comma-separated class
names); its logs are silenced with LOG_LEVEL=WARNING when the bench wants none."""
import os

from app.main import app

WITHOUT = set(filter(None, os.environ.get("BENCH_WITHOUT", "").split(",")))
# Starlette builds its middleware stack on the first request, from this list.
app.user_middleware = [m for m in app.user_middleware if m.cls.__name__ not in WITHOUT]
'''
BASELINE = "servicio sin logs ni métricas"
METRICS_ONLY = "+ métricas (MetricsMiddleware)"
MIDDLEWARES = "+ request id (sin logs INFO)"
REAL = "servicio real (una línea por petición)"
ACCESS = "+ línea de acceso de uvicorn"
MINIMAL = "FastAPI mínimo (mismas rutas)"


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, None once it is gone."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return times.user + times.system


# With two CPUs or more (Linux), every server runs on the first CPU and wrk on the second:
# otherwise the scheduler moves them around and they take turns on one core now and then,
# which swings a round by ±10 % whatever the variant.
PINNED = (hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) >= 2
          and shutil.which("taskset") is not None)
SERVER_CPU, CLIENT_CPU = (sorted(os.sched_getaffinity(0))[:2] if PINNED else (None, None))


def pinned_to(cpu: int | None) -> list[str]:
    """The command prefix that runs a program on ``cpu`` (nothing when not pinning)."""
    return ["taskset", "-c", str(cpu)] if PINNED else []


def start(name: str, app: str, cwd: Path, extra: list[str], env: dict, log: Path):
    port = processes.free_port()
    out = log.open("w")
    proc = subprocess.Popen([*pinned_to(SERVER_CPU), sys.executable, "-m", "uvicorn", app,
                             "--port", str(port), *extra],
                            cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                            env={**os.environ, **env})
    base = f"http://127.0.0.1:{port}"
    try:  # ready once this very server listens and answers (not another one on its port)
        processes.wait_http(processes.Process(name, proc, log), f"{base}/health/live", timeout=15)
    except processes.NotReady as exc:
        proc.kill()
        raise RuntimeError(f"{name} no arrancó: {exc}") from None
    return proc, base, out


WRK_SCRIPT = """
local paths = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format('{"requests": %%d, "seconds": %%f, "non_2xx_3xx": %%d, "errors": %%d, "p50_ms": %%f, "p99_ms": %%f}\\n',
    summary.requests, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
""" % ", ".join(f'"{path}"' for path in PATHS)


def wrk_round(base: str, seconds: int, concurrency: int, script: Path) -> dict:
    """One wrk run; its Lua `done` hook prints the summary as the last line (JSON)."""
    out = subprocess.run([*pinned_to(CLIENT_CPU), "wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "-s", str(script),
                          base], capture_output=True, text=True, check=True, timeout=seconds + 30)
    return json.loads(out.stdout.strip().splitlines()[-1])


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


def main(seconds: int, rounds: int, concurrency: int, requests: int) -> dict:
    use_wrk = shutil.which("wrk") is not None
    if not use_wrk:
        show.warn("No encuentro wrk (apt install wrk): uso un cliente httpx en Python, que "
                     "en una máquina pequeña es más lento que el servidor. El cociente de "
                     "peticiones por segundo se acercará a 1; mira la columna de CPU.")
    service = REPO_ROOT / "service"
    with tempfile.TemporaryDirectory(prefix="t15-bench-") as tmp:
        tmp = Path(tmp)
        (tmp / "bare_app.py").write_text(BARE_APP)
        (tmp / "service_bare.py").write_text(SERVICE_BARE_APP)
        (tmp / "paths.lua").write_text(WRK_SCRIPT)
        silent = ["--no-access-log", "--log-level", "warning"]
        quiet = {"LOG_LEVEL": "WARNING", "PYTHONPATH": str(service)}
        both = "RequestIdMiddleware,MetricsMiddleware"
        # Each variant adds one layer to the previous one (the minimal app is a reference).
        variants = {
            # The service's variants share uvicorn's command line (the Dockerfile's): only
            # the middlewares and LOG_LEVEL change from one to the next.
            BASELINE: ("service_bare:app", tmp, [], {**quiet, "BENCH_WITHOUT": both}),
            METRICS_ONLY: ("service_bare:app", tmp, [],
                           {**quiet, "BENCH_WITHOUT": "RequestIdMiddleware"}),
            MIDDLEWARES: ("app.main:app", service, [], {"JSON_LOGS": "true", "LOG_LEVEL": "WARNING"}),
            # as the Dockerfile runs it: JSON logs at INFO, one line per request
            REAL: ("app.main:app", service, [], {"JSON_LOGS": "true", "LOG_LEVEL": "INFO"}),
            ACCESS: ("app.main:app", service, [],
                     {"JSON_LOGS": "true", "LOG_LEVEL": "INFO", "ACCESS_LOG": "true"}),
            # Without the service's logging setup, uvicorn's own flags keep it quiet.
            MINIMAL: ("bare_app:app", tmp, silent, {}),
        }
        servers = {name: start(name, app, cwd, extra, env, tmp / f"{i}.log")
                   for i, (name, (app, cwd, extra, env)) in enumerate(variants.items())}

        def one_round(base: str, warm_up: bool = False) -> tuple[int, float, Counter]:
            if use_wrk:
                got = wrk_round(base, 2 if warm_up else seconds, concurrency, tmp / "paths.lua")
                return got["requests"], got["seconds"], Counter(
                    {"no 2xx/3xx": got["non_2xx_3xx"], "errores de socket": got["errors"]})
            n = min(500, requests) if warm_up else requests
            took, statuses = asyncio.run(hammer(base, n, concurrency))
            return n, took, statuses

        try:
            for _, base, _ in servers.values():  # warm-up: imports, caches, connections
                one_round(base, warm_up=True)
            runs: dict[str, list[float]] = {name: [] for name in servers}
            cpu: dict[str, list[float]] = {name: [] for name in servers}
            statuses: dict[str, Counter] = {name: Counter() for name in servers}
            served: Counter = Counter()
            for number in range(rounds):
                # Every other round backwards: no variant always runs right after another.
                order = list(servers) if number % 2 == 0 else list(servers)[::-1]
                for name in order:
                    proc, base, _ = servers[name]
                    before = cpu_seconds(proc.pid)
                    n, took, got = one_round(base)
                    after = cpu_seconds(proc.pid)
                    runs[name].append(n / took)
                    if before is not None and after is not None:
                        cpu[name].append((after - before) / n * 1e6)  # µs per request
                    statuses[name] += got
                    served[name] += n
            log_bytes = {name: (tmp / f"{i}.log").stat().st_size / served[name]
                         for i, name in enumerate(servers)}
        finally:
            for proc, _, out in servers.values():
                proc.terminate()
                proc.wait(timeout=10)
                out.close()
    median = {name: statistics.median(runs[name]) for name in servers}
    cpu_median = {name: statistics.median(cpu[name]) if cpu[name] else None for name in servers}
    # Paired: each round's rate over the baseline's rate in the same round, then the median
    # of those ratios. The rounds of one pass are seconds apart, so a burst of load from
    # other processes hits both sides of a ratio instead of one variant's median.
    ratios = {name: statistics.median(r / b for r, b in zip(runs[name], runs[BASELINE]))
              for name in servers if name != BASELINE}
    capacity = {name: cpu_median[BASELINE] / cpu_median[name] for name in servers
                if name != BASELINE and cpu_median[name] and cpu_median[BASELINE]}
    results = {
        "load_generator": "wrk" if use_wrk else "httpx (client-bound)",
        "seconds_per_round" if use_wrk else "requests_per_round": seconds if use_wrk else requests,
        "rounds": rounds, "concurrency": concurrency, "paths": PATHS, "cpus": os.cpu_count(),
        "rps_rounds": runs, "rps_median": median, "ratio_to_bare": ratios,
        "ratio_method": "mediana de los cocientes por ronda (emparejados con la línea base)",
        "baseline": BASELINE, "real": REAL, "ratio": ratios[REAL], "goal": GOAL,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": sys.version.split()[0], "load_average_1m": os.getloadavg()[0],
        "pinned_cpus": {"servidor": SERVER_CPU, "wrk": CLIENT_CPU} if PINNED else None,
        "meets_goal": ratios[REAL] >= GOAL,
        "server_cpu_us_per_request": cpu, "cpu_capacity_ratio_to_bare": capacity,
        "statuses": {n: dict(c) for n, c in statuses.items()},
        "log_bytes_per_request": log_bytes,
    }
    rows = [(name, " · ".join(f"{r:,.0f}" for r in runs[name]), f"{median[name]:,.0f}",
             f"{ratios[name]:.2f}" if name in ratios else "—",
             f"{cpu_median[name]:,.0f}" if cpu_median[name] else "—",
             f"{log_bytes[name]:,.0f}") for name in servers]
    show.table(f"Servicio en loopback ({results['load_generator']}, {concurrency} conexiones, "
               f"objetivo real / sin logs ni métricas ≥ {GOAL})",
               ["Variante", "Rondas (pet./s)", "Mediana (pet./s)", "/ sin logs ni métricas",
                "CPU del servidor (µs/pet.)", "Bytes de log por petición"], rows)
    save("service_throughput", results)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segundos", type=int, default=3, help="duración de cada ronda con wrk")
    parser.add_argument("--rondas", type=int, default=9)
    parser.add_argument("--concurrencia", type=int, default=16)
    parser.add_argument("--peticiones", type=int, default=3000,
                        help="peticiones por ronda sin wrk (cliente httpx)")
    args = parser.parse_args()
    main(args.segundos, args.rondas, args.concurrencia, args.peticiones)
