"""Lab 01 end to end: the solution scores 100 %, the untouched lab fails cleanly, each
typical mistake is caught by its own check with a Spanish message, and a different but
valid solution also scores 100 %."""
import re

import nbformat
import pytest

from course import REPO_ROOT, images
from tests.conftest import assert_full_marks
from grader.grade import grade

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




def submit_dir(tmp_path, dockerfile: str, dockerignore: str = DOCKERIGNORE):
    folder = tmp_path / "entrega-lab01"
    folder.mkdir()
    (folder / "Dockerfile").write_text(dockerfile)
    (folder / ".dockerignore").write_text(dockerignore)
    return folder


@pytest.fixture(scope="module")
def engine(docker_client):
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
    result = grade(submit_dir(tmp_path, dockerfile), "lab01")
    assert result.statuses()["imagen.no_root"] == "failed"
    assert "como root" in result.messages()["imagen.no_root"]
    assert result.statuses()["servicio.sano"] == "passed"


def test_single_stage_is_caught(engine, tmp_path):
    dockerfile = (
        "FROM python:3.11.13-slim-bookworm\n"
        "ENV PYTHONUNBUFFERED=1\nWORKDIR /srv/service\n"
        "COPY requirements.txt .\nRUN pip install --no-cache-dir -r requirements.txt\n"
        "COPY VERSION ./\nCOPY app ./app\nUSER 1001\nEXPOSE 8000\n"
        'CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]\n')
    result = grade(submit_dir(tmp_path, dockerfile), "lab01")
    assert result.statuses()["dockerfile.multietapa"] == "failed"
    assert "1 etapa" in result.messages()["dockerfile.multietapa"]
    assert result.statuses()["imagen.construye"] == "passed"


def test_code_before_dependencies_is_caught(engine, tmp_path):
    dockerfile = DOCKERFILE.replace(
        "COPY requirements.txt /tmp/requirements.txt\n",
        "COPY . /src\nCOPY requirements.txt /tmp/requirements.txt\n", 1)
    result = grade(submit_dir(tmp_path, dockerfile), "lab01")
    assert result.statuses()["cache.dependencias"] == "failed"
    assert "se reinstalan las dependencias" in result.messages()["cache.dependencias"]
    assert result.statuses()["imagen.construye"] == "passed"


def test_secret_in_env_is_caught(engine, tmp_path):
    dockerfile = DOCKERFILE.replace("ENV PYTHONDONTWRITEBYTECODE=1",
                                    "ENV API_KEY=sk-live-1234567890 PYTHONDONTWRITEBYTECODE=1")
    result = grade(submit_dir(tmp_path, dockerfile), "lab01")
    assert result.statuses()["secretos.ninguno"] == "failed"
    assert "API_KEY=sk-live" in result.messages()["secretos.ninguno"]


def test_leaky_dockerignore_is_caught(engine, tmp_path):
    result = grade(submit_dir(tmp_path, DOCKERFILE, ".git\n"), "lab01")
    assert result.statuses()["contexto.dockerignore"] == "failed"
    message = result.messages()["contexto.dockerignore"]
    assert ".venv" in message and "tests" in message and ".git," not in message


ALTERNATIVE = """\
# Different but valid choices: the full image to build, another venv path, a named
# user, no HEALTHCHECK, code owned by the user, ENTRYPOINT plus CMD.
FROM python:3.11.13-bookworm AS build
RUN python -m venv /venv
COPY requirements.txt .
RUN /venv/bin/pip install --no-cache-dir -r requirements.txt

FROM python:3.11.13-slim-bookworm AS runtime
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PATH=/venv/bin:$PATH
RUN useradd --create-home --uid 1500 catalogo
COPY --from=build /venv /venv
WORKDIR /home/catalogo/svc
COPY --chown=catalogo:catalogo VERSION ./
COPY --chown=catalogo:catalogo app/ ./app/
USER catalogo
EXPOSE 8000
ENTRYPOINT ["uvicorn", "app.main:app"]
CMD ["--host", "0.0.0.0", "--port", "8000"]
"""


def test_alternative_solution_scores_everything(engine, tmp_path):
    images.ensure("python")
    ignore = "**/.git\n**/.venv/\n**/venv/\n**/__pycache__/\ntests/\n.env\n"
    result = grade(submit_dir(tmp_path, ALTERNATIVE, ignore), "lab01")
    assert result.score == 1.0, result.to_markdown()
    assert result.execution.status == "no_ejecutado"
