"""Instructions per request of the course service, layer by layer, counted by callgrind.

`service_throughput.py` measures what matters (requests per second under `wrk`), but on a
shared 2-core machine its rounds swing by ±30 % with the load of other processes. This
script answers the question that guides optimisation, "what does each layer cost?", with a
number that does not depend on the load: the CPU instructions each request executes, counted
by valgrind's callgrind. The app runs in-process, driven through its ASGI interface (no
uvicorn, no socket), with the same variants as the throughput bench:

  bare      the service without its request-id and metrics middlewares
  metrics   + MetricsMiddleware
  id        + RequestIdMiddleware with its logger at WARNING (context bound, nothing written)
  real      the service as it runs: one JSON line per request at INFO

Run: .venv/bin/python bench/service_instructions.py   (needs valgrind; ~3 minutes)
Instructions are not time (cache misses and system calls such as the log's write() are not
in them), so the ratio here complements the throughput bench's; it does not replace it.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from course import REPO_ROOT, show
from results_io import save  # sibling module (run as a script)
from service_throughput import BASELINE, METRICS_ONLY, MIDDLEWARES, PATHS, REAL

VARIANTS = ("real", "id", "metrics", "bare")  # each one layer less than the previous
# The throughput bench's names for the same variants, so both results read alike.
LABELS = {"bare": BASELINE, "metrics": METRICS_ONLY, "id": MIDDLEWARES, "real": REAL}


def _dump(tag: str) -> None:
    """Ask callgrind (which runs this process) to write its counters so far, tagged."""
    subprocess.run(["callgrind_control", "-d", tag, str(os.getpid())],
                   check=True, capture_output=True)


def inner(requests: int) -> None:
    """Runs under callgrind: each variant's requests between two tagged dumps."""
    sys.path.insert(0, str(REPO_ROOT / "service"))
    os.environ.update(LOG_LEVEL="INFO", JSON_LOGS="true")
    import logging

    import structlog
    from app.main import app
    from app.metrics import MetricsMiddleware
    from app.middleware import RequestIdMiddleware

    sys.stdout = open(os.devnull, "w")  # the log lines are written, to nowhere

    async def request(path: str) -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "root_path": "", "headers": [(b"host", b"bench")],
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(_: dict) -> None:
            pass

        await app(scope, receive, send)

    async def measure(tag: str) -> None:
        for path in PATHS * 2:  # warm: the series, caches and the rebuilt stack exist
            await request(path)
        _dump("antes-" + tag)
        for i in range(requests):
            await request(PATHS[i % len(PATHS)])
        _dump(tag)

    def without(cls: type) -> None:
        app.user_middleware = [m for m in app.user_middleware if m.cls is not cls]
        app.middleware_stack = app.build_middleware_stack()

    async def main() -> None:
        async with app.router.lifespan_context(app):
            await request("/")  # Starlette builds the middleware stack on the first request
            await measure("real")
            layer = app.middleware_stack
            while not isinstance(layer, RequestIdMiddleware):
                layer = layer.app
            layer.log = structlog.make_filtering_bound_logger(logging.WARNING)(
                structlog.BytesLogger(sys.stdout.buffer), [], {})
            await measure("id")
            without(RequestIdMiddleware)
            await measure("metrics")
            without(MetricsMiddleware)
            await measure("bare")

    asyncio.run(main())


def _totals(out_dir: Path) -> dict[str, int]:
    """Instructions of each tagged dump (the `summary:` line of each callgrind file)."""
    totals: dict[str, int] = {}
    for path in out_dir.glob("callgrind.out.*"):
        tag = total = None
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("desc: Trigger:"):
                tag = line.rsplit(" ", 1)[-1]
            elif line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
                break
        if tag in VARIANTS and total is not None:
            totals[tag] = total
    return totals


def main(requests: int) -> dict:
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        raise SystemExit("Este banco necesita valgrind (apt install valgrind).")
    with tempfile.TemporaryDirectory(prefix="t15-callgrind-") as tmp:
        show.info(f"Contando instrucciones con callgrind ({requests} peticiones por variante; "
                  "unos minutos: valgrind ejecuta Python unas 50 veces más despacio)…")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/callgrind.out.%p",
                        sys.executable, __file__, "--dentro", str(requests)],
                       check=True, capture_output=True, cwd=REPO_ROOT)
        totals = _totals(Path(tmp))
    missing = [v for v in VARIANTS if v not in totals]
    if missing:
        raise SystemExit(f"callgrind no dejó el recuento de: {', '.join(missing)}.")
    per_request = {LABELS[v]: totals[v] / requests for v in reversed(VARIANTS)}
    bare = per_request[LABELS["bare"]]
    results = {
        "requests_per_variant": requests, "paths": PATHS,
        "instructions_per_request": per_request,
        "ratio_to_bare": {name: bare / n for name, n in per_request.items()},
        "cost_of_each_layer": {LABELS[v]: (totals[v] - totals[prev]) / requests
                               for v, prev in zip(VARIANTS, VARIANTS[1:])},
        "python": sys.version.split()[0],
    }
    show.table("Instrucciones por petición (callgrind, en proceso, sin uvicorn)",
               ["Variante", "Instrucciones", "Sin logs ni métricas / variante"],
               [(name, f"{n:,.0f}", f"{bare / n:.3f}") for name, n in per_request.items()])
    save("service_instructions", results)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peticiones", type=int, default=300)
    parser.add_argument("--dentro", type=int, help=argparse.SUPPRESS)  # the run under callgrind
    args = parser.parse_args()
    if args.dentro:
        inner(args.dentro)
    else:
        main(args.peticiones)
