"""`curso` speaks Spanish, never shows a traceback, and tells the truth about the engine."""
import os
import subprocess
import sys

import pytest

from curso import cli
from tests.conftest import engine_or_skip

NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/tema15/docker.sock"}


def curso(*args: str, extra_env: dict | None = None, timeout: float = 120):
    env = {**os.environ, "COLUMNS": "200", **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "curso", *args], capture_output=True,
                          text=True, env=env, timeout=timeout, check=False)


def assert_no_traceback(done):
    assert "Traceback" not in done.stdout + done.stderr


def test_unknown_subcommand_is_explained_in_spanish():
    done = curso("desplegar")
    assert done.returncode == 2
    assert "opción no válida: 'desplegar'" in done.stderr
    assert "curso --ayuda" in done.stderr
    assert_no_traceback(done)


COMMANDS = ("doctor", "imagenes", "lab", "corregir", "cluster", "limpiar")
ENGLISH = ("usage:", "options:", "positional arguments", "show this help")


def test_help_is_spanish():
    done = curso("--ayuda")
    assert done.returncode == 0
    assert done.stdout.startswith("uso: curso")
    for command in COMMANDS:
        assert command in done.stdout
    assert not [word for word in ENGLISH if word in done.stdout]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself_in_spanish(command, capsys, monkeypatch):
    # In this process (the parser is the one `curso` runs; test_help_is_spanish starts the
    # real command): six more Python processes cost ~4 s of the fast subset.
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--ayuda"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert out.startswith(f"uso: curso {command}"), out[:200]
    assert "--ayuda" in out and "muestra esta ayuda" in out
    assert not [word for word in ENGLISH if word in out], out


@pytest.mark.parametrize("command", [("imagenes",), ("imagenes", "--offline")])
def test_commands_needing_docker_fail_clearly_without_engine(command):
    done = curso(*command, extra_env=NO_ENGINE)
    assert done.returncode == 1
    assert "No hay un motor Docker disponible" in done.stdout
    assert "docker info" in done.stdout
    assert_no_traceback(done)


def test_clean_without_engine_stops_local_processes_and_says_why():
    done = curso("limpiar", "--run", "t15-sinmotor0", extra_env=NO_ENGINE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Procesos locales del curso detenidos: 0" in done.stdout
    assert "Sin motor Docker no hay contenedores que borrar" in done.stdout
    assert_no_traceback(done)


def test_doctor_without_engine():
    done = curso("doctor", extra_env=NO_ENGINE)
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if "Motor Docker" in line)
    assert "│ no " in row and "no responde" in row
    assert "Instala Docker Desktop" in done.stdout
    assert "modo estático" in done.stdout
    assert "Imágenes del curso" not in done.stdout  # no engine, nothing to list
    assert_no_traceback(done)


def test_doctor_with_engine():
    engine_or_skip()
    done = curso("doctor")
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if "Motor Docker" in line)
    assert "│ sí " in row and "API" in row
    images = next(line for line in done.stdout.splitlines() if "python-slim" in line)
    assert "sustituto local" in images or "imagen oficial" in images
    assert_no_traceback(done)


def test_unknown_image_name():
    engine_or_skip()
    done = curso("imagenes", "nginx")
    assert done.returncode == 2
    assert "Imagen desconocida: nginx" in done.stdout
