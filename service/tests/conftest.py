import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import asyncpg
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.logging_config import configure_logging
from app.main import create_app

SETTINGS_VARIABLES = (
    "SERVICE_NAME",
    "ENVIRONMENT",
    "LOG_LEVEL",
    "JSON_LOGS",
    "ACCESS_LOG",
    "DATABASE_URL",
    "REDIS_URL",
    "APP_VERSION",
    "FAULT_READINESS_FAIL",
    "FAULT_ERROR_RATE",
    "FAULT_EXTRA_LATENCY_MS",
)
CONTRACT_FUZZING = "test_contract_fuzz.py"


def pytest_configure(config: pytest.Config) -> None:
    # schemathesis' pytest plugin is blocked in pyproject.toml (it imports Hypothesis and
    # GraphQL on every start); the contract fuzzing needs it for @schema.parametrize().
    # Only a run of named files that leaves that module out goes without it, e.g. the
    # CI pipelines' test jobs.
    if any(not arg.endswith(".py") or arg.endswith(CONTRACT_FUZZING) for arg in config.args):
        config.pluginmanager.import_plugin("schemathesis.pytest.plugin")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Isolate every test from the caller's environment and from earlier log setups."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    yield
    # A test may have bound the log handler to its own captured stdout.
    configure_logging()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """Build an app from Settings overrides and start it (lifespan included)."""
    with ExitStack() as stack:

        def factory(**overrides: object) -> TestClient:
            return stack.enter_context(TestClient(create_app(Settings(**overrides))))

        yield factory


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


class PostgresServer:
    """A throwaway PostgreSQL cluster in a temp dir, listening on 127.0.0.1 only."""

    def __init__(self) -> None:
        # PostgreSQL refuses to run as root.
        self.owner = "nobody" if os.geteuid() == 0 else None
        self.base = Path(tempfile.mkdtemp(prefix="catalogo-pg-"))
        if self.owner:
            shutil.chown(self.base, user=self.owner)
        self.data = self.base / "data"
        self.port = free_port()
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self.owner, "--"] if self.owner else []
        subprocess.run(
            [*prefix, *command], check=True, capture_output=True, cwd=self.base, timeout=60
        )

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.base} -c fsync=off"
        log = str(self.base / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if not shutil.which("initdb") or not shutil.which("pg_ctl"):
        pytest.skip(
            "initdb/pg_ctl de PostgreSQL no están instalados; "
            "se omiten las pruebas con PostgreSQL real."
        )
    if os.geteuid() == 0 and not shutil.which("runuser"):
        pytest.skip("Se necesita runuser para ejecutar PostgreSQL sin ser root.")
    server = PostgresServer()
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.is_running():
            server.stop()
        shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database for one test."""
    name = f"test_{request.node.name}".lower().replace("[", "_").replace("]", "")[:60]

    async def recreate() -> None:
        connection = await asyncpg.connect(postgres_server.admin_url)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(recreate())
    return postgres_server.admin_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throwaway redis-server on a free port, or skip when it is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server no está instalado; se omiten las pruebas con Redis real.")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("redis-server no arrancó")
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
