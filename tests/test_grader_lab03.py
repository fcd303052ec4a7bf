"""Lab 03 end to end, and the repository's own docker-compose.yml: the solution scores
100 %, the untouched lab fails cleanly, each typical mistake (in the file or in how the
notebook drives ``docker compose``) is caught by its own check with a Spanish message, a
notebook that drives Compose differently passes, and the repository's file (a different
valid solution once its debug ports are gone) is valid for Compose and for the
compose-spec schema and scores 100 % too."""
import json
import re
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from course import REPO_ROOT, compose, env, images
from course import docker as cdocker
from grader.grade import GradingError, grade

SOLUTION = REPO_ROOT / "solutions" / "lab03_compose.ipynb"
LAB = REPO_ROOT / "labs" / "lab03_compose.ipynb"
REPO_COMPOSE = REPO_ROOT / "docker-compose.yml"
RUNTIME_CHECKS = ("arranque.orden", "api.dependencias", "puerto.variable",
                  "recarga.en_caliente", "datos.persisten", "volumen.down_v")


def solution_compose() -> str:
    """The COMPOSE string that the solution notebook writes."""
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        match = re.search(r'COMPOSE = """\\\n(.*?)"""', cell.source, re.S)
        if match:
            return match[1]
    raise AssertionError("COMPOSE no está en la solución")


COMPOSE = solution_compose()


def repo_compose_without_debug_ports() -> dict:
    """docker-compose.yml without its `include:` (the observability stack of 15.8) and
    without the debug ports of postgres and redis, which the lab forbids."""
    raw = yaml.safe_load(REPO_COMPOSE.read_text())
    del raw["include"]
    for name in ("postgres", "redis"):
        del raw["services"][name]["ports"]
    return raw


def notebook_variant(tmp_path, *replacements: tuple[str, str]) -> Path:
    nb = nbformat.read(SOLUTION, as_version=4)
    for old, new in replacements:
        found = [cell for cell in nb.cells if old in cell.source]
        assert found, f"la solución ya no contiene {old!r}"
        for cell in found:
            cell.source = cell.source.replace(old, new)
    path = tmp_path / "lab03_entrega.ipynb"
    nbformat.write(nb, path)
    return path




def submit_dir(tmp_path, text: str, name: str = "compose.yaml") -> Path:
    folder = tmp_path / "entrega-lab03"
    folder.mkdir()
    (folder / name).write_text(text)
    return folder


def edit(text: str, old: str, new: str) -> str:
    assert old in text, f"la solución ya no contiene {old!r}"
    return text.replace(old, new, 1)


@pytest.fixture(scope="module")
def engine(docker_client):
    if not env.has("compose"):
        pytest.skip(f"sin Docker Compose v2 ({env.get('compose').detail})")
    for key in ("python-slim", "postgres", "redis"):
        images.ensure(key)
    return docker_client


# --- the repository's docker-compose.yml ----------------------------------------------

def test_repo_compose_is_valid_for_compose_and_schema(tmp_path):
    if not env.has("compose"):
        pytest.skip(f"sin Docker Compose v2 ({env.get('compose').detail})")
    raw = yaml.safe_load(REPO_COMPOSE.read_text())
    assert "version" not in raw
    project = compose.Project(REPO_COMPOSE, name="t15-validacion", echo=False)
    project.run("config", "-q")
    config = project.config(env={"API_PORT": "18123", "POSTGRES_PORT": "18124",
                                 "REDIS_PORT": "18125"})
    services = config["services"]
    assert set(services) == {"api", "postgres", "redis"}
    api = services["api"]
    assert api["build"]["args"]["PYTHON_IMAGE"] == images.CATALOG["python-slim"].reference
    assert services["postgres"]["image"] == images.CATALOG["postgres"].reference
    assert services["redis"]["image"] == images.CATALOG["redis"].reference
    assert api["init"] is True and api["pull_policy"] == "build"
    assert api["command"][:2] == ["uvicorn", "app.main:app"] and "--reload" in api["command"]
    assert api["environment"]["DATABASE_URL"] == "postgresql://user:pass@postgres:5432/db"
    assert api["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert {dep: spec["condition"] for dep, spec in api["depends_on"].items()} == {
        "postgres": "service_healthy", "redis": "service_healthy"}
    assert all(services[s]["healthcheck"]["test"] for s in services)
    published = {name: [(p["host_ip"], p["published"]) for p in svc["ports"]]
                 for name, svc in services.items()}
    assert published == {"api": [("127.0.0.1", "18123")], "postgres": [("127.0.0.1", "18124")],
                         "redis": [("127.0.0.1", "18125")]}  # every host port is a variable
    mounts = {(v["type"], v["target"]) for svc in services.values() for v in svc["volumes"]}
    assert {("bind", "/srv/service/app"), ("volume", "/var/lib/postgresql/data"),
            ("volume", "/data")} <= mounts
    assert set(config["volumes"]) == {"postgres_data", "redis_data"}
    # The observability stack is included but sits behind profiles.
    assert [item["path"] if isinstance(item, dict) else item for item in raw["include"]] == [
        "deploy/compose/observabilidad.yml"]
    observed = project.config(env={"COMPOSE_PROFILES": "grafana", "PROMETHEUS_PORT": "18126",
                                   "ALERTMANAGER_PORT": "18127", "GRAFANA_PORT": "18128"})
    assert set(observed["services"]) == {"api", "postgres", "redis", "prometheus",
                                         "alertmanager", "grafana"}
    assert {name: [(p["host_ip"], p["published"]) for p in observed["services"][name]["ports"]]
            for name in ("prometheus", "alertmanager", "grafana")} == {
        "prometheus": [("127.0.0.1", "18126")], "alertmanager": [("127.0.0.1", "18127")],
        "grafana": [("127.0.0.1", "18128")]}
    # Images are overridable too.
    other = project.config(env={"POSTGRES_IMAGE": "postgres:15.15-bookworm"})
    assert other["services"]["postgres"]["image"] == "postgres:15.15-bookworm"
    checker = Path(sys.executable).with_name("check-jsonschema")
    done = subprocess.run([str(checker), "--builtin-schema", "vendor.compose-spec",
                           str(REPO_COMPOSE)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_env_example_covers_every_variable():
    included = [REPO_ROOT / path for path in yaml.safe_load(REPO_COMPOSE.read_text())["include"]]
    used = {name for path in (REPO_COMPOSE, *included)
            for name in re.findall(r"\$\{(\w+)(?::-[^}]*)?\}", path.read_text())}
    documented = set(re.findall(r"^(\w+)=", (REPO_ROOT / ".env.example").read_text(), re.M))
    assert used == documented, f"sin documentar: {used - documented}; sobran: {documented - used}"


# --- lab 03 ---------------------------------------------------------------------------

def test_solution_scores_everything(engine):
    result = grade(SOLUTION)
    assert result.execution.status == "ok", result.execution.message
    assert result.score == 1.0, result.to_markdown()
    assert result.success
    assert len(result.checks) >= 11
    assert result.verifiable_points == result.total_points
    assert json.loads(result.to_json())["lab"] == "lab03"


def test_untouched_lab_fails_cleanly(engine):
    result = grade(LAB)
    assert result.execution.status == "error_en_celda"
    assert "TU CÓDIGO AQUÍ" in result.execution.message
    assert result.score == 0 and not result.success
    assert "error" not in result.statuses().values()
    assert "No hay compose.yaml" in result.messages()["compose.valido"]


def test_invalid_file_is_reported_without_starting_anything(engine, tmp_path):
    typo = edit(COMPOSE, "    environment:\n", "    enviroment:\n")
    result = grade(submit_dir(tmp_path, typo), "lab03")
    assert result.statuses()["compose.valido"] == "failed"
    assert "enviroment" in result.messages()["compose.valido"]
    assert "error" not in result.statuses().values()
    assert result.passed_points == 0


def test_order_port_and_reload_mistakes_are_caught(engine, tmp_path):
    fixed = compose.free_port()
    text = edit(COMPOSE, "    depends_on:\n      postgres:\n        condition: service_healthy\n"
                "      redis:\n        condition: service_healthy\n",
                "    depends_on: [postgres, redis]\n")  # short syntax: only service_started
    text = edit(text, '"${API_PORT:-8000}:8000"', f'"{fixed}:8000"')
    text = edit(text, '"--port", "8000", "--reload"]', '"--port", "8000"]')
    text = edit(text, "    volumes:\n      - ./service/app:/srv/service/app:ro\n", "")
    result = grade(submit_dir(tmp_path, text), "lab03")
    status, message = result.statuses(), result.messages()
    assert status["arranque.orden"] == "failed"
    assert re.search(r"arrancó [\d.]+ s antes de que (postgres|redis) estuviera sano",
                     message["arranque.orden"]), message["arranque.orden"]
    assert status["puerto.variable"] == "failed"
    assert f"se publicó en el puerto {fixed}" in message["puerto.variable"]
    assert status["recarga.en_caliente"] == "failed"
    assert "no tiene un bind mount" in message["recarga.en_caliente"]
    for passing in ("compose.valido", "compose.init", "api.dependencias", "datos.persisten",
                    "volumen.down_v"):
        assert status[passing] == "passed", (passing, message[passing])


def test_lost_data_obsolete_version_and_no_init_are_caught(engine, tmp_path):
    text = "version: '3.8'\n" + COMPOSE
    text = edit(text, "    init: true\n", "")
    text = edit(text, "    volumes:\n      - postgres_data:/var/lib/postgresql/data\n", "")
    text = edit(text, "\nvolumes:\n  postgres_data:\n", "\n")
    result = grade(submit_dir(tmp_path, text), "lab03")
    status, message = result.statuses(), result.messages()
    assert status["compose.valido"] == "failed" and "version" in message["compose.valido"]
    assert status["compose.init"] == "failed" and "init: true" in message["compose.init"]
    assert status["datos.persisten"] == "failed"
    assert "ya no existe" in message["datos.persisten"]
    assert status["volumen.down_v"] == "failed"
    assert "volumen con nombre" in message["volumen.down_v"]
    for passing in ("arranque.orden", "api.dependencias", "puerto.variable", "recarga.en_caliente"):
        assert status[passing] == "passed", (passing, message[passing])


def test_repo_compose_is_an_alternative_solution(engine, tmp_path, monkeypatch):
    """Different but valid: docker-compose.yml as the name, interpolated credentials,
    a 127.0.0.1 binding, env_file and a redis volume."""
    raw = repo_compose_without_debug_ports()
    result = grade(submit_dir(tmp_path, yaml.safe_dump(raw, sort_keys=False), "docker-compose.yml"),
                   "lab03")
    assert result.score == 1.0, result.to_markdown()
    assert result.execution.status == "no_ejecutado"
    assert {c.id for c in result.checks} >= set(RUNTIME_CHECKS)
    assert result.statuses()["cuaderno.compose"] == "skipped"  # a folder runs no notebook


def test_a_port_taken_after_it_was_chosen_is_not_the_students_fault(engine, tmp_path,
                                                                    monkeypatch):
    """Something else starts listening on the API_PORT the grader chose before ``up``
    publishes it (seen in CI under parallel tests): the grader starts again with another
    port instead of failing every runtime check of a correct file."""
    taken = socket.socket()
    taken.bind(("", 0))  # the wildcard address: Docker's proxy cannot bind it either
    taken.listen()
    ports = iter([taken.getsockname()[1], compose.free_port()])
    monkeypatch.setattr(compose, "free_port", lambda: next(ports))
    with taken:
        result = grade(submit_dir(tmp_path, COMPOSE), "lab03", only=["puerto.variable"])
    (check,) = result.checks
    assert check.status == "passed", check.message


def test_published_dependencies_are_caught(engine, tmp_path):
    """The repository's file as it is publishes postgres and redis for debugging: the lab
    forbids it. Read from the resolved file: nothing is started (the check also looks at
    the running containers, so it needs the engine)."""
    raw = yaml.safe_load(REPO_COMPOSE.read_text())
    del raw["include"]
    result = grade(submit_dir(tmp_path, yaml.safe_dump(raw, sort_keys=False), "docker-compose.yml"),
                   "lab03", only=["dependencias.no_publicadas"])
    (check,) = result.checks
    assert check.status == "failed", check
    assert "El servicio postgres publica [" in check.message and "Quita sus ports" in check.message


# --- how the notebook drives docker compose (executed, only the check that reads it) ----

def test_notebook_without_down_v_is_caught(engine, tmp_path):
    variant = notebook_variant(tmp_path, ('dc("down", "-v")', 'dc("down")'))
    result = grade(variant, only=["cuaderno.compose"])
    assert result.execution.status == "error_en_celda"  # the task's own assert says so first
    (check,) = result.checks
    assert check.status == "failed", check
    assert "siguen existiendo los volúmenes" in check.message and "down" in check.message


def test_notebook_with_its_own_project_name_is_caught_and_torn_down(engine, tmp_path):
    name = f"catalogo-{secrets.token_hex(3)}"
    variant = notebook_variant(tmp_path, ('"-p", PROJECT', f'"-p", "{name}"'))
    result = grade(variant, only=["cuaderno.compose"])
    (check,) = result.checks
    assert check.status == "failed", check
    assert f"levantó el proyecto Compose {name}" in check.message
    left = {"label": f"{compose.PROJECT_LABEL}={name}"}
    client = cdocker.client()
    assert not client.containers.list(all=True, filters=left)
    assert not client.volumes.list(filters=left)
    assert not cdocker.list_images(client, filters=left)


ALTERNATIVE_DC = '''
def dc(*args: str) -> str:
    # Compose's own variables instead of -p/-f, and the CLI's error text as it comes.
    variables = {**os.environ, "COMPOSE_PROJECT_NAME": PROJECT, "COMPOSE_FILE": str(compose_file),
                 "API_PORT": str(api_port)}
    return subprocess.run(["docker", "compose", *args], env=variables, capture_output=True,
                          text=True, check=True, timeout=600).stdout
'''
ALTERNATIVE_PS = '''
health = {}
for line in dc("ps", "--all", "--format", "json").splitlines():
    for row in (lambda data: data if isinstance(data, list) else [data])(json.loads(line)):
        health[row["Service"]] = row["Health"]
'''


def test_notebook_driving_compose_differently_passes(engine, tmp_path):
    """COMPOSE_PROJECT_NAME/COMPOSE_FILE instead of -p/-f, `check=True`, `ps --all` parsed
    line by line (an array on one line, or one object per line)."""
    nb = nbformat.read(SOLUTION, as_version=4)
    source = "".join(c.source for c in nb.cells)
    dc_old = source[source.index("def dc("):source.index("resolved = json.loads")]
    ps_old = source[source.index("out = dc(\"ps\""):source.index("### END SOLUTION\nprint(f\"Entorno")]
    variant = notebook_variant(tmp_path, (dc_old, ALTERNATIVE_DC.lstrip() + "\n\n"),
                               (ps_old, ALTERNATIVE_PS.lstrip()))
    result = grade(variant, only=["cuaderno.compose", "compose.valido"])
    assert result.execution.status == "ok", result.execution.message
    assert result.score == 1.0, result.to_markdown()


def test_checks_with_side_effects_do_not_depend_on_their_order(engine):
    """`down -v` first, then the checks that need the stack: they start it again
    (ctx.forget) instead of finding it torn down."""
    order = ["volumen.down_v", "datos.persisten", "api.dependencias"]
    result = grade(SOLUTION, only=order)
    assert [c.id for c in result.checks] == order
    assert {c.id: c.status for c in result.checks} == dict.fromkeys(order, "passed"), \
        result.to_markdown()


def test_only_unknown_checks_is_refused_in_spanish():
    with pytest.raises(GradingError) as caught:
        grade(SOLUTION, only=["volumen.no_existe"])
    assert "no tiene las comprobaciones volumen.no_existe" in str(caught.value)


# --- images and pull policy: read from the resolved file, nothing is started ------------

def only_images(tmp_path, text: str, name: str = "compose.yaml"):
    if not env.has("compose"):
        pytest.skip(f"sin Docker Compose v2 ({env.get('compose').detail})")
    result = grade(submit_dir(tmp_path, text, name), "lab03", only=["compose.imagenes"])
    (check,) = result.checks
    return check


def test_pinned_images_and_build_policy_pass(tmp_path):
    assert only_images(tmp_path, COMPOSE).status == "passed"


def test_repo_compose_images_pass(tmp_path):
    raw = repo_compose_without_debug_ports()
    check = only_images(tmp_path, yaml.safe_dump(raw, sort_keys=False), "docker-compose.yml")
    assert check.status == "passed", check.message


@pytest.mark.parametrize("old,new,word", [
    ("    pull_policy: build\n", "", "pull_policy"),
    ("image: postgres:15.14-bookworm", "image: postgres:15", "postgres:15.14-bookworm"),
    ("image: redis:7.0.15-bookworm", "image: redis:latest", "redis:7.0.15-bookworm"),
], ids=["sin_pull_policy", "postgres_sin_fijar", "redis_latest"])
def test_unpinned_image_or_pulled_api_is_caught(tmp_path, old, new, word):
    check = only_images(tmp_path, edit(COMPOSE, old, new))
    assert check.status == "failed", check
    assert word in check.message, check.message
