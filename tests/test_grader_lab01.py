"""Lab 01 end to end: the solution scores 100 %, the untouched lab fails cleanly, each
typical mistake is caught by its own check with a Spanish message, and a different but
valid solution also scores 100 %. A typical mistake is graded with only the checks its
test looks at (``only=``): a full grading builds, runs and rebuilds the image for all of
them (up to 94 s each in CI)."""
import re

import nbformat
import pytest

from course import REPO_ROOT, buildkit, images
from course import docker as cdocker
from grader.grade import grade
from tests.conftest import assert_full_marks

SOLUTION = REPO_ROOT / "solutions" / "lab01_dockerfile.ipynb"
LAB = REPO_ROOT / "labs" / "lab01_dockerfile.ipynb"


def solution_text(variable: str) -> str:
    """The DOCKERFILE / DOCKERIGNORE string that the solution notebook writes."""
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        match = re.search(variable + r' = """\\\n(.*?)"""', cell.source, re.S)
        if match:
            return match[1].replace("\\\\\n", "\\\n")
    raise AssertionError(f"{variable} no está en la solución")


DOCKERFILE = solution_text("DOCKERFILE")
DOCKERIGNORE = solution_text("DOCKERIGNORE")




def submit_dir(tmp_path, dockerfile: str, dockerignore: str = DOCKERIGNORE,
               extra: dict[str, str] | None = None):
    folder = tmp_path / "entrega-lab01"
    folder.mkdir()
    (folder / "Dockerfile").write_text(dockerfile)
    (folder / ".dockerignore").write_text(dockerignore)
    for name, text in (extra or {}).items():
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    return folder


DOCKER_CHECKS = ("imagen.sin_compilador", "imagen.no_root", "servicio.sano", "cache.dependencias",
                 "contexto.sin_env", "secretos.ninguno", "imagen.tamano", "proceso.pid1",
                 "imagen.venv", "imagen.uid_1001", "imagen.codigo_de_root",
                 "imagen.healthcheck", "imagen.expose")


@pytest.fixture(scope="module")
def engine(docker_client):
    if not buildkit.available():  # the solution builds as `docker build` does
        pytest.skip("sin el plugin docker buildx (BuildKit), con el que construye la solución")
    images.ensure("python-slim")
    return docker_client


def test_solution_scores_everything(engine, tmp_path):
    result = grade(SOLUTION)
    assert_full_marks(result, "lab01", 8)


def test_untouched_lab_fails_cleanly(engine):
    result = grade(LAB)
    assert result.execution.status == "error_en_celda"
    assert "TU CÓDIGO AQUÍ" in result.execution.message
    assert result.score < 0.2 and not result.success
    assert "error" not in result.statuses().values()  # the grader itself did not break
    assert "No hay Dockerfile" in result.messages()["imagen.construye"]


def test_root_user_is_caught(engine, tmp_path):
    dockerfile = DOCKERFILE.replace("USER 1001:1001\n", "")
    result = grade(submit_dir(tmp_path, dockerfile), "lab01",
                   only=["imagen.no_root", "imagen.uid_1001", "servicio.sano"])
    assert result.statuses()["imagen.no_root"] == "failed"
    assert "como root" in result.messages()["imagen.no_root"]
    assert result.statuses()["imagen.uid_1001"] == "failed"
    assert result.statuses()["servicio.sano"] == "passed"


def test_single_stage_is_caught(engine, tmp_path):
    dockerfile = (
        "FROM python:3.11.13-slim-bookworm\n"
        "ENV PYTHONUNBUFFERED=1\nWORKDIR /srv/service\n"
        "COPY requirements.txt .\nRUN pip install --no-cache-dir -r requirements.txt\n"
        "COPY VERSION ./\nCOPY app ./app\nUSER 1001\nEXPOSE 8000\n"
        'CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]\n')
    result = grade(submit_dir(tmp_path, dockerfile), "lab01",
                   only=["dockerfile.multietapa", "imagen.construye"])
    assert result.statuses()["dockerfile.multietapa"] == "failed"
    assert "1 etapa" in result.messages()["dockerfile.multietapa"]
    assert result.statuses()["imagen.construye"] == "passed"


def test_code_before_dependencies_is_caught(engine, tmp_path):
    dockerfile = DOCKERFILE.replace(
        "COPY requirements.txt /tmp/requirements.txt\n",
        "COPY . /src\nCOPY requirements.txt /tmp/requirements.txt\n", 1)
    result = grade(submit_dir(tmp_path, dockerfile), "lab01",
                   only=["cache.dependencias", "imagen.construye"])
    assert result.statuses()["cache.dependencias"] == "failed"
    assert "se reinstalan las dependencias" in result.messages()["cache.dependencias"]
    assert result.statuses()["imagen.construye"] == "passed"


def test_secret_in_env_is_caught(engine, tmp_path):
    dockerfile = DOCKERFILE.replace("ENV PYTHONDONTWRITEBYTECODE=1",
                                    "ENV API_KEY=sk-live-1234567890 PYTHONDONTWRITEBYTECODE=1")
    result = grade(submit_dir(tmp_path, dockerfile), "lab01", only=["secretos.ninguno"])
    assert result.statuses()["secretos.ninguno"] == "failed"
    assert "API_KEY=sk-live" in result.messages()["secretos.ninguno"]


def test_leaky_dockerignore_is_caught(engine, tmp_path):
    result = grade(submit_dir(tmp_path, DOCKERFILE, ".git\n"), "lab01", only=["contexto.dockerignore"])
    assert result.statuses()["contexto.dockerignore"] == "failed"
    message = result.messages()["contexto.dockerignore"]
    assert ".venv" in message and "tests" in message and ".git," not in message


ALTERNATIVE = """\
# Different but valid choices: the full image to build, a named user (UID/GID 1001), a
# shell-form HEALTHCHECK, an entrypoint script that ends in exec "$@", python -m pip.
FROM python:3.11.13-bookworm AS build
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/req.txt
RUN /opt/venv/bin/python -m pip install --no-cache-dir --requirement /tmp/req.txt

FROM python:3.11.13-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN groupadd --gid 1001 catalogo && useradd --no-log-init --uid 1001 --gid 1001 catalogo
COPY --from=build /opt/venv /opt/venv
WORKDIR /usr/src/catalogo
COPY VERSION entrypoint.sh ./
COPY app/ ./app/
USER catalogo
EXPOSE 8000/tcp
HEALTHCHECK --interval=3s CMD python -c "import urllib.request as u; u.urlopen('http://localhost:8000/health/live')"
ENTRYPOINT ["./entrypoint.sh"]
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
"""
ENTRYPOINT_EXEC = '#!/bin/sh\nset -e\necho "arrancando $*"\nexec "$@"\n'
ENTRYPOINT_NO_EXEC = '#!/bin/sh\necho "arrancando $*"\n"$@"\n'


def test_alternative_solution_scores_everything(engine, tmp_path):
    images.ensure("python")
    ignore = "**/.git\n**/.venv/\n**/venv/\n**/__pycache__/\n**/*.pyc\ntests/\n.env*\nDockerfile*\n.dockerignore\n"
    result = grade(submit_dir(tmp_path, ALTERNATIVE, ignore, {"entrypoint.sh": ENTRYPOINT_EXEC}),
                   "lab01")
    assert result.score == 1.0, result.to_markdown()
    assert result.execution.status == "no_ejecutado"


NOTEBOOK_ONLY = ("cuaderno.imagen_etiquetada", "cuaderno.contenedor_local")


def test_course_service_scores_everything(engine):
    """The course's own service/ is a valid lab 01 submission. Only the notebook's own SDK
    calls (Tareas 3 and 4) cannot be seen in a directory of files, and the report says so."""
    result = grade(REPO_ROOT / "service", "lab01")
    assert result.score == 1.0, result.to_markdown()
    skipped = {c.id: c.message for c in result.checks if c.status == "skipped"}
    assert set(skipped) == set(NOTEBOOK_ONLY), result.to_markdown()
    assert all("no ejecuta el cuaderno" in m for m in skipped.values()), skipped
    assert result.verifiable_points == result.total_points - sum(
        c.points for c in result.checks if c.id in NOTEBOOK_ONLY)


def notebook_with(tmp_path, *replacements: tuple[str, str]):
    """The solution notebook with some of its code changed, as a student would submit it."""
    nb = nbformat.read(SOLUTION, as_version=4)
    for old, new in replacements:
        cells = [c for c in nb.cells if old in c.source]
        assert len(cells) == 1, old
        cells[0].source = cells[0].source.replace(old, new)
    path = tmp_path / SOLUTION.name
    nbformat.write(nb, path)
    return path


def test_notebook_image_and_container_are_observed(engine, tmp_path):
    """Tareas 3 and 4 as the notebook ran them, seen in the engine's events: an image built
    with BuildKit without the run label, and a container published on every interface
    without it. The grader removes that unlabelled container itself (the run's cleanup
    finds labels)."""
    submission = notebook_with(
        tmp_path,
        ('"--label", f"tema15.run={run}", str(service_dir)]', "str(service_dir)]"),
        ('ports={"8000/tcp": ("127.0.0.1", None)},\n                                  '
         'labels={"tema15.run": run})', 'ports={"8000/tcp": None})'))
    result = grade(submission)
    got, says = result.statuses(), result.messages()
    # The notebook's own cleanup (by label) misses the container and cannot remove the image.
    assert "is using its referenced image" in result.execution.message, result.execution.message
    assert got["cuaderno.imagen_etiquetada"] == "failed"
    assert "no lleva la etiqueta (label) tema15.run" in says["cuaderno.imagen_etiquetada"]
    assert got["cuaderno.contenedor_local"] == "failed"
    message = says["cuaderno.contenedor_local"]
    assert "publica el 8000 en 0.0.0.0" in message and "no lleva la etiqueta" in message
    assert {c for c, s in got.items() if s != "passed"} == set(NOTEBOOK_ONLY), result.to_markdown()
    left = cdocker.client().containers.list(all=True, filters={"name": result.run_id})
    assert not left, f"contenedores sin borrar: {[c.name for c in left]}"


def test_notebook_building_with_the_sdk_scores_everything(engine, tmp_path):
    """Tarea 3 done the other correct way: the Docker SDK (classic builder, a «tag» event)
    instead of `docker buildx build`. Nothing is lost, only the grader's cache reuse."""
    submission = notebook_with(tmp_path, (
        'build = subprocess.run(["docker", "buildx", "build", "--load", "--tag", tag,\n'
        '                        "--label", f"tema15.run={run}", str(service_dir)],\n'
        '                       capture_output=True, text=True, check=False)\n'
        'if build.returncode != 0:\n'
        '    raise RuntimeError(f"docker buildx build falló:\\n{build.stderr[-3000:]}")\n'
        'image = client.images.get(tag)',
        'image, _ = client.images.build(path=str(service_dir), tag=tag, rm=True,\n'
        '                               labels={"tema15.run": run})'))
    assert_full_marks(grade(submission), "lab01", 8)


# One submission that ignores many task items at once; every other check still passes,
# so each failure below is that item's own check catching that item's mistake.
SLOPPY = """\
FROM python:3.11.13-slim-bookworm AS builder
RUN python -m venv /venv
WORKDIR /build
COPY requirements.txt .
RUN . /venv/bin/activate && pip install -r requirements.txt fastapi

FROM python:3.11.13-slim-bookworm
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PATH=/venv/bin:$PATH
RUN useradd --create-home --uid 1500 catalogo
COPY --from=builder /venv /venv
WORKDIR /home/catalogo/svc
COPY --chown=catalogo:catalogo . .
USER catalogo
ENTRYPOINT ["./entrypoint.sh"]
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
"""
SLOPPY_IGNORE = ".git\n.venv\nvenv\n**/__pycache__\n**/*.pyc\ntests\nDockerfile\n.dockerignore\n"
SLOPPY_FAILS = {
    "proceso.pid1": "no uvicorn",
    "imagen.venv": "/opt/venv",
    "imagen.variables": "empieza por «/venv/bin»",
    "imagen.uid_1001": "1500:1500",
    "imagen.codigo_de_root": "puede modificar",
    "imagen.healthcheck": "no tiene HEALTHCHECK",
    "imagen.expose": "EXPOSE 8000",
    "contexto.dockerignore": ".env",
    "contexto.sin_env": "la imagen lo contiene",
    "versiones.fijadas": "fastapi",
    "hadolint.avisos_del_tema": "DL3042",
}


def test_sloppy_dockerfile_fails_each_item_it_ignores(engine, tmp_path):
    result = grade(submit_dir(tmp_path, SLOPPY, SLOPPY_IGNORE,
                              {"entrypoint.sh": ENTRYPOINT_NO_EXEC}), "lab01")
    statuses, messages = result.statuses(), result.messages()
    for check_id, fragment in SLOPPY_FAILS.items():
        assert statuses[check_id] == "failed", (check_id, messages[check_id])
        assert fragment in messages[check_id], (check_id, messages[check_id])
    others = {c: s for c, s in statuses.items() if c not in SLOPPY_FAILS and c not in NOTEBOOK_ONLY}
    assert set(others.values()) == {"passed"}, result.to_markdown()
    assert {statuses[c] for c in NOTEBOOK_ONLY} == {"skipped"}  # a directory: no notebook ran


def test_missing_base_image_is_not_verifiable_and_static_checks_still_grade(engine, tmp_path):
    dockerfile = (DOCKERFILE.replace("python:3.11.13-slim-bookworm", "python:3.12.99-slim-bookworm")
                  .replace("ENV PYTHONDONTWRITEBYTECODE=1 \\\n", "ENV PYTHONDONTWRITEBYTECODE 1\nENV ")
                  .replace('CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]',
                           "CMD uvicorn app.main:app --host 0.0.0.0 --port 8000"))
    result = grade(submit_dir(tmp_path, dockerfile), "lab01")
    statuses, messages = result.statuses(), result.messages()
    assert statuses["imagen.construye"] == "skipped"
    assert "le falta la imagen base «python:3.12.99-slim-bookworm»" in messages["imagen.construye"]
    for check_id in DOCKER_CHECKS:
        assert statuses[check_id] == "skipped", (check_id, messages[check_id])
    assert statuses["dockerfile.cmd_exec"] == "failed"
    assert "forma shell" in messages["dockerfile.cmd_exec"]
    assert statuses["hadolint.avisos_del_tema"] == "failed"
    assert "DL3025" in messages["hadolint.avisos_del_tema"]
    assert statuses["imagen.variables"] == "failed"
    assert "forma antigua" in messages["imagen.variables"]
    assert statuses["dockerfile.multietapa"] == statuses["versiones.fijadas"] == "passed"
    assert "error" not in statuses.values()


def test_unbuildable_submission_blocks_dependent_checks_once(engine, tmp_path):
    dockerfile = DOCKERFILE.replace("WORKDIR /srv/service\n",
                                    "WORKDIR /srv/service\nRUN ls /no-existe\n")
    result = grade(submit_dir(tmp_path, dockerfile), "lab01")
    statuses, messages = result.statuses(), result.messages()
    assert statuses["imagen.construye"] == "failed"
    assert "no se construye" in messages["imagen.construye"]
    blocked = {messages[c] for c in DOCKER_CHECKS}
    assert all(statuses[c] == "blocked" for c in DOCKER_CHECKS), statuses
    assert len(blocked) == 1 and "imagen.construye" in blocked.pop()
    markdown = result.to_markdown()
    assert markdown.count("Bloqueada") == 1  # one line names the cause for all of them
    assert result.score < 0.5


BUILDKIT_DOCKERFILE = DOCKERFILE.replace("COPY VERSION ./", "COPY --chmod=0644 VERSION ./").replace(
    "RUN /opt/venv/bin/pip install --no-cache-dir",
    "RUN --mount=type=cache,target=/root/.cache/pip /opt/venv/bin/pip install --no-cache-dir")


@pytest.mark.skipif(not buildkit.available(), reason="sin el plugin docker buildx (BuildKit)")
def test_buildkit_syntax_builds_as_docker_build_does(engine, tmp_path):
    result = grade(submit_dir(tmp_path, BUILDKIT_DOCKERFILE), "lab01")
    assert result.score == 1.0, result.to_markdown()


def test_buildkit_syntax_without_buildkit_is_not_verifiable(engine, tmp_path, monkeypatch):
    monkeypatch.setattr(buildkit, "available", lambda: False)
    result = grade(submit_dir(tmp_path, BUILDKIT_DOCKERFILE), "lab01")
    status, message = result.statuses()["imagen.construye"], result.messages()["imagen.construye"]
    assert status == "skipped" and "le falta BuildKit" in message, message
    assert all(result.statuses()[c] == "skipped" for c in DOCKER_CHECKS)
    assert "failed" not in {result.statuses()[c] for c in DOCKER_CHECKS}


def test_pins_are_read_from_the_students_own_files(tmp_path):
    from course import dockerfile as cdockerfile
    from grader.labs.lab01 import unpinned_dependencies
    (tmp_path / "requisitos.txt").write_text("fastapi==0.115.0\nuvicorn>=0.30  # suelto\n")
    stages = cdockerfile.stages(
        "FROM python:3.11.13-slim-bookworm\nCOPY requisitos.txt .\n"
        "RUN pip install --no-cache-dir -r requisitos.txt \\\n && pip install httpx==0.27.2 rich\n")
    assert unpinned_dependencies(tmp_path, stages) == ["rich", "uvicorn>=0.30 (requisitos.txt)"]
    pinned = cdockerfile.stages("FROM python:3.11.13-slim-bookworm\n"
                                "RUN python -m pip install --no-cache-dir -r requisitos.txt\n")
    (tmp_path / "requisitos.txt").write_text("fastapi==0.115.0\n")
    assert unpinned_dependencies(tmp_path, pinned) == []
