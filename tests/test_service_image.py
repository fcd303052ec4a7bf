"""The reference service image: builds on the course base, runs as non-root, becomes
healthy, answers readiness and metrics, stays small, and talks to real PostgreSQL and
Redis containers."""
import json
import time
import urllib.request

import pytest

from course import REPO_ROOT, images, lockfile
from course import docker as cdocker
from course import imagebuild

SERVICE_DIR = REPO_ROOT / "service"
VERSION = (SERVICE_DIR / "VERSION").read_text().strip()
SECOND = 1_000_000_000  # Docker healthcheck durations are in nanoseconds


def get(port: int, path: str, *, method: str = "GET", body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture(scope="module")
def base(docker_client):
    return docker_client.images.get(images.ensure("python-slim"))


@pytest.fixture(scope="module")
def image(docker_client, run_id, base):
    report = imagebuild.build(SERVICE_DIR, f"{run_id}-catalogo:{VERSION}", run=run_id,
                           buildargs={"VERSION": VERSION}, quiet=True)
    return report.image


@pytest.fixture(scope="module")
def service(image, run_id):
    container = cdocker.run_until_healthy(image.id, suffix="catalogo", run=run_id,
                                          ports={"8000/tcp": ("127.0.0.1", None)})
    return container, cdocker.host_port(container)


def test_runs_as_fixed_non_root_user(docker_client, image, run_id):
    assert image.attrs["Config"]["User"] not in ("", "root", "0")
    out = docker_client.containers.run(image.id, ["id", "-u"], remove=True,
                                       labels=cdocker.labels(run_id)).decode().strip()
    assert out == "1001"


def test_metadata(image):
    config = image.attrs["Config"]
    assert "PYTHONUNBUFFERED=1" in config["Env"]
    assert config["Cmd"][0] == "uvicorn" and "app.main:app" in config["Cmd"]
    assert "8000/tcp" in config["ExposedPorts"]
    assert config["Labels"]["org.opencontainers.image.version"] == VERSION
    assert config["Healthcheck"]["Test"][0] == "CMD"


def test_own_layers_are_small(image, base):
    added = image.attrs["Size"] - base.attrs["Size"]
    assert added <= 40e6, f"la imagen añade {added / 1e6:.1f} MB a su base (máximo 40 MB)"


def test_no_compiler_and_no_pip_cache(docker_client, image, run_id):
    script = "command -v gcc || true; ls -d /root/.cache/pip 2>/dev/null || true"
    out = docker_client.containers.run(image.id, ["sh", "-c", script], remove=True, user="0",
                                       labels=cdocker.labels(run_id))
    assert out.decode().strip() == ""


def test_installed_packages_are_exactly_the_lock(docker_client, image, run_id):
    # What `pip freeze` reads (the installed distributions' metadata), asked to the image's own
    # Python: the final stage has no pip. Lock lines with a marker count if it holds there.
    script = ("import importlib.metadata as m, platform\n"
              "print(platform.python_version())\n"
              "for d in m.distributions(): print(d.metadata['Name'] + '==' + d.version)")
    version, *frozen = docker_client.containers.run(
        image.id, ["python", "-c", script], remove=True,
        labels=cdocker.labels(run_id)).decode().split()
    assert lockfile.pins("\n".join(frozen)) == \
        lockfile.read(SERVICE_DIR / "requirements.lock", version)


def test_healthy_and_answers_ready_and_metrics(service):
    container, port = service
    status, body = get(port, "/health/ready")
    assert status == 200, body
    status, body = get(port, "/metrics")
    assert status == 200
    assert "# TYPE http_requests_total counter" in body or "http_request" in body
    assert "catalogo_build_info" in body
    status, body = get(port, "/version")
    assert json.loads(body)["version"] == VERSION


def test_logs_are_json_lines(service):
    container, port = service
    get(port, "/items")
    time.sleep(0.5)
    lines = [l for l in container.logs(stdout=True, stderr=True).decode().splitlines() if l]
    assert lines
    records = [json.loads(line) for line in lines]
    assert all({"timestamp", "level", "event"} <= set(r) for r in records)


@pytest.fixture(scope="module")
def backing(docker_client, run_id):
    """PostgreSQL and Redis on a labelled network, both healthy."""
    network = docker_client.networks.create(cdocker.name("red", run_id),
                                            labels=cdocker.labels(run_id))
    common = {"network": network.name, "run": run_id, "timeout": 90}
    pg = cdocker.run_until_healthy(
        images.ensure("postgres"), suffix="postgres",
        environment={"POSTGRES_USER": "catalogo", "POSTGRES_PASSWORD": "secreto",
                     "POSTGRES_DB": "catalogo"},
        healthcheck={"test": ["CMD", "pg_isready", "-U", "catalogo", "-d", "catalogo"],
                     "interval": SECOND, "timeout": 3 * SECOND, "retries": 60},
        **common)
    redis = cdocker.run_until_healthy(
        images.ensure("redis"), suffix="redis",
        healthcheck={"test": ["CMD", "redis-cli", "ping"], "interval": SECOND,
                     "timeout": 3 * SECOND, "retries": 60},
        **common)
    return network, pg, redis


def test_ready_with_postgres_and_redis_and_data_persists(image, run_id, backing):
    network, pg, redis = backing
    env = {"DATABASE_URL": f"postgresql://catalogo:secreto@{pg.name}:5432/catalogo",
           "REDIS_URL": f"redis://{redis.name}:6379/0"}

    def start():
        c = cdocker.run_until_healthy(image.id, suffix="catalogo-db", run=run_id,
                                      network=network.name, environment=env,
                                      ports={"8000/tcp": ("127.0.0.1", None)})
        return c, cdocker.host_port(c)

    container, port = start()
    status, body = get(port, "/health/ready")
    assert status == 200, body
    assert set(json.loads(body)["dependencias"]) == {"postgresql", "redis"}
    status, body = get(port, "/items", method="POST", body={"name": "Tornillo", "price": 0.25})
    assert status == 201, body
    item_id = json.loads(body)["id"]
    status, body = get(port, f"/items/{item_id}")
    assert json.loads(body)["vistas"] == 1
    container.remove(force=True)

    container, port = start()  # a new container: the data lives in PostgreSQL and Redis
    status, body = get(port, f"/items/{item_id}")
    assert status == 200 and json.loads(body)["name"] == "Tornillo"
    assert json.loads(body)["vistas"] == 2

    pg.stop(timeout=5)
    status, body = get(port, "/health/ready")
    assert status == 503 and "postgres" in body
    status, _ = get(port, "/health/live")
    assert status == 200  # liveness does not depend on the database
