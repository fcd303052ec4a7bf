"""The log pipeline of section 15.9 as local processes: VictoriaLogs (the store; it
speaks Loki's push API and Elasticsearch's bulk API and answers LogsQL), syslog-ng (the
shipper: it tails the services' log files, parses JSON, drops and posts), and copies of
the course's service writing their JSON logs to files, as `docker logs` would show them.

Everything runs as processes of the run (``course.processes``), so ``processes.cleanup(run)``
stops it even after a crash; the binaries come from ``scripts/install_logs.sh`` (cached in
``~/.cache/tema15``) or the PATH. The LogsQL, the shipper's configuration and the HTTP
calls being taught stay in the cells; this module hides waiting, ports and folders.

    with logstore.Pipeline(run) as p:
        store = p.store(retention="7d")
        p.service("catalogo-1"); p.shipper(config)
        store.query('request_id:="abc" | sort by (_time)')
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import httpx

from course import REPO_ROOT, processes, waiting
from course import docker as cdocker

VLOGS_VERSION = "v1.52.1"
SYSLOGNG_SUITE = "bookworm"
CACHE = Path(os.environ.get("TEMA15_CACHE", Path.home() / ".cache" / "tema15"))
BINARIES = {
    "victoria-logs": CACHE / "victorialogs" / VLOGS_VERSION / "bin" / "victoria-logs",
    "syslog-ng": CACHE / "syslog-ng" / SYSLOGNG_SUITE / "bin" / "syslog-ng",
}
HOW_TO = ("`bash scripts/install_logs.sh` compila VictoriaLogs desde su módulo de Go "
          f"({VLOGS_VERSION}) y desempaqueta syslog-ng de Debian en {CACHE} (necesita Go ≥ 1.25 "
          "y apt); en un portátil con Docker puedes usar además los perfiles de deploy/logs/.")
# The service's settings a demo or a grading must not inherit from the caller's shell.
SERVICE_VARIABLES = ("SERVICE_NAME", "ENVIRONMENT", "LOG_LEVEL", "JSON_LOGS", "ACCESS_LOG",
                     "DATABASE_URL", "REDIS_URL", "FAULT_ERROR_RATE", "FAULT_EXTRA_LATENCY_MS",
                     "FAULT_READINESS_FAIL")


class Unavailable(RuntimeError):
    """A binary of the pipeline is missing (the message says how to get it)."""


class QueryError(RuntimeError):
    """The store rejected a LogsQL query (its own message included)."""


def binary(name: str) -> str | None:
    """The cached build (scripts/install_logs.sh) first, else the PATH."""
    cached = BINARIES[name]
    if cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    return shutil.which(name)


def missing() -> list[str]:
    return [name for name in BINARIES if binary(name) is None]


def syntax_check(config: str, environment: Mapping[str, str] | None = None) -> tuple[int, str]:
    """``syslog-ng --syntax-only`` on ``config``: (exit code, output)."""
    path = _need("syslog-ng")
    with tempfile.TemporaryDirectory(prefix="t15-syslog-ng-") as folder:
        cfg = Path(folder) / "syslog-ng.conf"
        cfg.write_text(config)
        done = subprocess.run([path, "--syntax-only", f"--cfgfile={cfg}"], capture_output=True,
                              text=True, timeout=60, check=False,
                              env={**os.environ, **(environment or {})})
    return done.returncode, (done.stdout + done.stderr).strip()


def _need(name: str) -> str:
    path = binary(name)
    if path is None:
        raise Unavailable(f"No encuentro «{name}». {HOW_TO}")
    return path


class Store:
    """A running VictoriaLogs: ingestion (Loki, Elasticsearch, JSON lines) and LogsQL."""

    def __init__(self, process: processes.Process, url: str, data: Path) -> None:
        self.process, self.url, self.data = process, url, data
        self.restart: Callable[[], Store] | None = None  # set by Pipeline.store
        self.http = httpx.Client(base_url=url, timeout=30, trust_env=False)

    # --- ingestion ------------------------------------------------------------------
    def push_loki(self, streams: Sequence[dict]) -> httpx.Response:
        """POST the Loki push API's JSON body: {"streams": [{"stream": {...}, "values": [...]}]}."""
        return self.http.post("/insert/loki/api/v1/push", json={"streams": list(streams)})

    def bulk_es(self, documents: Iterable[dict], *, stream_fields: str = "service",
                msg_field: str = "message", time_field: str = "@timestamp") -> httpx.Response:
        """POST Elasticsearch's _bulk API (one "create" action per document)."""
        body = "".join(json.dumps({"create": {}}) + "\n" + json.dumps(doc) + "\n"
                       for doc in documents)
        return self.http.post("/insert/elasticsearch/_bulk", content=body, params={
            "_msg_field": msg_field, "_time_field": time_field,
            "_stream_fields": stream_fields})

    def jsonline(self, records: Iterable[dict], *, stream_fields: str = "service",
                 msg_field: str = "event", time_field: str = "timestamp") -> httpx.Response:
        body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        return self.http.post("/insert/jsonline", content=body.encode(), params={
            "_stream_fields": stream_fields, "_msg_field": msg_field, "_time_field": time_field})

    def flush(self) -> None:
        """Make what was ingested searchable now (VictoriaLogs otherwise waits ~1 s)."""
        self.http.get("/internal/force_flush")

    # --- queries --------------------------------------------------------------------
    def query(self, logsql: str, *, limit: int | None = None, start: str | None = None) -> list[dict]:
        """Rows of a LogsQL query (one dict per line or per stats group)."""
        params = {"query": logsql}
        if limit is not None:
            params["limit"] = str(limit)
        if start is not None:
            params["start"] = start
        response = self.http.post("/select/logsql/query", data=params)
        if response.status_code != 200:
            raise QueryError(f"HTTP {response.status_code}: {response.text.strip()[:400]}")
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]

    def count(self, logsql: str) -> int:
        rows = self.query(f"{logsql} | stats count() n")
        return int(rows[0]["n"]) if rows else 0

    def streams(self, logsql: str = "*") -> list[str]:
        """The stream label sets (``{service="…",…}``) of the lines ``logsql`` matches."""
        response = self.http.post("/select/logsql/streams", data={"query": logsql})
        if response.status_code != 200:
            raise QueryError(f"HTTP {response.status_code}: {response.text.strip()[:400]}")
        return [v["value"] for v in response.json().get("values", [])]

    def wait_count(self, logsql: str, at_least: int, timeout: float = 15) -> int:
        """Poll until ``logsql`` matches ``at_least`` lines or the time runs out."""
        def flushed_count() -> int:
            self.flush()
            return self.count(logsql)
        try:
            return waiting.wait_for(flushed_count, until=lambda found: found >= at_least,
                                    timeout=timeout, interval=0.3)
        except waiting.NotReady as exc:
            return exc.last  # fewer than asked: the caller compares and explains

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.data.rglob("*") if p.is_file())

    def close(self) -> None:
        self.http.close()
        self.process.stop()


class Pipeline:
    """Store, services and shipper of one run; ``close()`` (or ``with``) stops them all
    and removes the scratch folder it created."""

    def __init__(self, run: str | None = None, scratch: Path | None = None,
                 service_dir: Path | None = None) -> None:
        self.run = run or cdocker.run_id()
        self.service_dir = Path(service_dir or REPO_ROOT / "service")
        self._own_scratch = scratch is None
        self.scratch = Path(scratch or tempfile.mkdtemp(prefix=f"{self.run}-logs-"))
        self.logs_dir = self.scratch / "servicios"        # what the shipper tails
        self._internal = self.scratch / "procesos"          # the pipeline's own output
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self._processes: list[processes.Process] = []
        self.services: dict[str, str] = {}

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self, name: str, command: Sequence[str], ready: str | None, timeout: float,
               **kwargs) -> processes.Process:
        process = processes.spawn(name, command, run=self.run, **kwargs)
        self._processes.append(process)
        if ready:
            processes.wait_http(process, ready, timeout=timeout)
        return process

    def store(self, retention: str = "7d", *, name: str = "victoria-logs",
              extra: Sequence[str] = (), timeout: float = 30, port: int | None = None) -> Store:
        """Start VictoriaLogs with ``-retentionPeriod=retention`` on a free port (or
        ``port``: the same store again after a stop, with the same data)."""
        port = port or processes.free_port()
        data = self.scratch / name
        url = f"http://127.0.0.1:{port}"
        process = self._start(name, [
            _need("victoria-logs"), f"-storageDataPath={data}", f"-retentionPeriod={retention}",
            f"-httpListenAddr=127.0.0.1:{port}", "-loggerLevel=WARN", *extra],
            f"{url}/health", timeout, log_dir=self._internal)
        store = Store(process, url, data)
        store.restart = lambda: self.store(retention, name=name, extra=extra, timeout=timeout,
                                           port=port)
        return store

    def service(self, alias: str, environment: Mapping[str, str] | None = None,
                timeout: float = 60) -> str:
        """Start one copy of the service (uvicorn) whose stdout and stderr go to
        ``logs_dir/<alias>.log``, as a container's json-file log would; return its URL."""
        port = processes.free_port()
        url = f"http://127.0.0.1:{port}"
        clean = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
        # ACCESS_LOG: 15.9 also ships uvicorn's access line (the service's default is off).
        settings = {"SERVICE_NAME": alias, "JSON_LOGS": "true", "ACCESS_LOG": "true",
                    **(environment or {})}
        process = processes.spawn(alias, [
            sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
            "--port", str(port)], log_dir=self.logs_dir, run=self.run, cwd=self.service_dir,
            environment={**clean, **settings})
        self._processes.append(process)
        processes.wait_http(process, f"{url}/health/ready", timeout=timeout)
        self.services[alias] = url
        return url

    def shipper(self, config: str, store: Store, *, name: str = "syslog-ng",
                timeout: float = 20) -> processes.Process:
        """Start syslog-ng in the foreground with ``config``; the configuration reads the
        folder to tail and the store's URL from `LOGS_DIR` and `VLOGS_URL` (backticks)."""
        folder = self.scratch / name
        folder.mkdir(parents=True, exist_ok=True)
        cfg = folder / "syslog-ng.conf"
        cfg.write_text(config)
        process = self._start(name, [
            _need("syslog-ng"), "-F", "-e", "--no-caps", f"--cfgfile={cfg}",
            f"--persist-file={folder / 'syslog-ng.persist'}", f"--pidfile={folder / 'pid'}",
            f"--control={folder / 'ctl'}"], None, timeout, log_dir=self._internal,
            environment=self.variables(store))
        try:
            waiting.wait_for((folder / "pid").exists, alive=process.alive, timeout=timeout,
                             interval=0.1)
        except waiting.NotReady:
            pass  # no pid file yet is not fatal; a dead process is
        if not process.alive():
            raise processes.NotReady(f"syslog-ng terminó nada más arrancar:\n{process.tail()}")
        return process

    def variables(self, store: Store) -> dict[str, str]:
        return {"LOGS_DIR": str(self.logs_dir), "VLOGS_URL": store.url}

    def log_lines(self, alias: str) -> list[str]:
        path = self.logs_dir / f"{alias}.log"
        return path.read_text(errors="replace").splitlines() if path.exists() else []

    def close(self) -> None:
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()
        if self._own_scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
