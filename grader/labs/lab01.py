"""Lab 01 (15.1): a Dockerfile and a .dockerignore for the course service.

Every check looks at what the submission really produced: the grader builds the
student's Dockerfile itself, runs the image, rebuilds after a code-only change and asks
Docker's own .dockerignore logic what the build context would send."""
from __future__ import annotations

import re
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

from docker.errors import DockerException

from course import docker as cdocker
from course import dockerfile as cdockerfile
from grader.checks import check

SIZE_BUDGET_MB = 60          # what the image may add on top of its final base image
HEALTH_TIMEOUT_S = 45
DEPENDENCY_STEP = re.compile(r"pip3? install|uv (pip install|sync)|poetry install", re.I)
PINNED_BASE = re.compile(r"(@sha256:[0-9a-f]{64}$)|(:\d+\.\d+\.\d+[^:/]*$)")
SLIM_BASE = re.compile(r"^(docker\.io/)?(library/)?python:[^@]*-(slim|alpine)")
SECRET = re.compile(r"\b\w*(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_KEY)\w*=(?!\s|$|\"\"|'')\S+",
                    re.I)
JUNK = {".git/HEAD": "ref: refs/heads/main\n", ".venv/pyvenv.cfg": "home = /usr/bin\n",
        "venv/pyvenv.cfg": "home = /usr/bin\n", "app/__pycache__/main.cpython-311.pyc": "x",
        "tests/test_extra.py": "def test_x():\n    pass\n"}


# --- facts shared by several checks, computed once per grading -----------------------

def _dockerfile(ctx) -> Path:
    path = ctx.service_dir / "Dockerfile"
    assert path.exists(), ("No hay Dockerfile en la carpeta del servicio: el laboratorio "
                           "debe escribirlo en service/Dockerfile.")
    return path


def _image(ctx):
    def build():
        _dockerfile(ctx)
        try:
            return cdocker.build(ctx.service_dir, f"{ctx.run_id}-lab01:corrector",
                                 run=ctx.run_id, quiet=True)
        except cdocker.BuildFailed as exc:
            raise AssertionError(f"La imagen no se construye: {exc}") from None
    return ctx.memo("build", build).image


def _stages(ctx) -> list[dict]:
    return ctx.memo("stages", lambda: cdockerfile.stages(_dockerfile(ctx)))


def _in_container(ctx, script: str, user: str | None = None) -> str:
    try:
        output = cdocker.client().containers.run(
            _image(ctx).id, ["-c", script], entrypoint="sh", remove=True, user=user,
            labels=cdocker.labels(ctx.run_id))
    except DockerException as exc:
        raise AssertionError(f"No se pudo ejecutar `sh` en la imagen: {_first_line(exc)}") from None
    return output.decode(errors="replace").strip()


def _running(ctx):
    """One container of the image, published on a free local port, started once."""
    def start():
        image = _image(ctx)
        try:
            return cdocker.client().containers.run(
                image.id, detach=True, name=cdocker.name("lab01", ctx.run_id),
                labels=cdocker.labels(ctx.run_id), ports={"8000/tcp": ("127.0.0.1", None)})
        except DockerException as exc:
            raise AssertionError(f"El contenedor no arranca: {_first_line(exc)}") from None
    return ctx.memo("container", start)


def _first_line(exc: Exception) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return str(text).splitlines()[0][:300]


# --- checks ---------------------------------------------------------------------------

@check("imagen.construye", points=2, needs=("docker",))
def image_builds(ctx):
    """El Dockerfile construye una imagen."""
    _image(ctx)


@check("dockerfile.multietapa", points=2)
def multi_stage(ctx):
    """Construcción en varias etapas y etapa final sobre una base slim."""
    stages = _stages(ctx)
    assert len(stages) >= 2, (f"El Dockerfile tiene {len(stages)} etapa(s): separa una etapa "
                              "«builder» que instale dependencias y una final que solo las copie.")
    final = stages[-1]
    assert SLIM_BASE.match(final["base"]), (
        f"La etapa final parte de «{final['base']}»: usa una base ligera como "
        "python:3.11.x-slim-bookworm.")
    copies_from = [i for i in final["instructions"]
                   if i["instruction"] in ("COPY", "ADD") and "--from=" in i["value"]]
    assert copies_from, "La etapa final no copia nada de otra etapa (falta COPY --from=…)."


@check("imagen.sin_compilador", points=1, needs=("docker",))
def no_compiler(ctx):
    """La imagen final no incluye compiladores."""
    found = _in_container(ctx, "for c in gcc cc g++ make; do command -v $c; done; true",
                          user="0")
    assert not found, (f"La imagen final contiene herramientas de compilación ({found.split()}): "
                       "instálalas solo en la etapa de construcción.")


@check("imagen.no_root", points=2, needs=("docker",))
def non_root(ctx):
    """El contenedor se ejecuta con un usuario sin privilegios."""
    user = _image(ctx).attrs["Config"].get("User", "")
    assert user.split(":")[0] not in ("", "root", "0"), (
        "La imagen se ejecuta como root: crea un usuario con UID fijo y añade USER.")
    container = _running(ctx)
    uid = _wait_exec(container, ["id", "-u"])
    assert uid not in ("", "0"), f"Dentro del contenedor `id -u` devuelve «{uid}»."


@check("servicio.sano", points=2, needs=("docker",))
def becomes_healthy(ctx):
    """El servicio arranca, queda sano y responde en /health/live."""
    container = _running(ctx)
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    last = "sin respuesta"
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            logs = container.logs(tail=15).decode(errors="replace")
            raise AssertionError(f"El contenedor terminó al arrancar. Últimas líneas:\n{logs}")
        health = container.attrs["State"].get("Health", {}).get("Status")
        try:
            port = container.ports["8000/tcp"][0]["HostPort"]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=3) as r:
                if r.status == 200 and health in (None, "healthy"):
                    return
                last = f"HTTP {r.status}, healthcheck {health}"
        except (OSError, KeyError, IndexError, TypeError) as exc:
            last = f"{exc.__class__.__name__}, healthcheck {health}"
        time.sleep(1)
    raise AssertionError(f"El servicio no quedó sano en {HEALTH_TIMEOUT_S} s ({last}). "
                         "¿Expones el puerto 8000 y arrancas `uvicorn app.main:app --host 0.0.0.0`?")


@check("cache.dependencias", points=2, needs=("docker",))
def dependency_layers_cached(ctx):
    """Cambiar solo el código reutiliza de la caché las capas de dependencias."""
    _image(ctx)
    with tempfile.TemporaryDirectory(prefix=f"{ctx.run_id}-cache-") as tmp:
        copy = Path(tmp) / "service"
        shutil.copytree(ctx.service_dir, copy)
        main = copy / "app" / "main.py"
        main.write_text(main.read_text() + "\n# cambio del corrector: solo código\n")
        rebuild = cdocker.build(copy, f"{ctx.run_id}-lab01:cambio", run=ctx.run_id, quiet=True)
    dependency_steps = [(instr, cached) for instr, cached in rebuild.step_cache
                        if DEPENDENCY_STEP.search(instr)]
    assert dependency_steps, "No encuentro el paso que instala las dependencias (pip install)."
    rebuilt = [instr for instr, cached in dependency_steps if not cached]
    assert not rebuilt, (
        "Tras cambiar solo app/main.py se reinstalan las dependencias "
        f"(«{rebuilt[0][:80]}» no sale de la caché): copia requirements.txt e instala "
        "antes de copiar el código.")


@check("contexto.dockerignore", points=1)
def dockerignore_excludes_junk(ctx):
    """`.dockerignore` deja fuera `.git`, entornos virtuales, `__pycache__` y tests."""
    assert (ctx.service_dir / ".dockerignore").exists(), "Falta el fichero .dockerignore."
    with tempfile.TemporaryDirectory(prefix=f"{ctx.run_id}-ctx-") as tmp:
        copy = Path(tmp) / "service"
        shutil.copytree(ctx.service_dir, copy)
        for rel, text in JUNK.items():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            (copy / rel).write_text(text)
        sent = cdockerfile.context_files(copy)
    leaked = sorted({rel.split("/")[0] if not rel.startswith("app/") else "__pycache__"
                     for rel in JUNK if rel in sent})
    assert not leaked, ("El contexto de construcción incluiría: " + ", ".join(leaked)
                        + ". Añádelos a .dockerignore.")


@check("versiones.fijadas", points=1)
def versions_pinned(ctx):
    """Imagen base y dependencias con versión fijada."""
    names = {s["name"] for s in _stages(ctx) if s["name"]}
    loose = [s["base"] for s in _stages(ctx)
             if s["base"] not in names and s["base"] != "scratch" and not PINNED_BASE.search(s["base"])]
    assert not loose, (f"Base sin versión completa: {', '.join(loose)}. Fija MAYOR.MENOR.PARCHE "
                       "(p. ej. python:3.11.13-slim-bookworm) o un digest @sha256.")
    requirements = ctx.service_dir / "requirements.txt"
    unpinned = [line for line in requirements.read_text().splitlines()
                if line.strip() and not line.startswith("#") and "==" not in line]
    assert not unpinned, f"Dependencias sin fijar con ==: {', '.join(unpinned)}."


@check("secretos.ninguno", points=2, needs=("docker",))
def no_secrets(ctx):
    """Ningún secreto en el historial ni en las variables de la imagen."""
    image = _image(ctx)
    places = [("historial", h.get("CreatedBy", "")) for h in image.history()]
    places += [("ENV", e) for e in image.attrs["Config"].get("Env") or []]
    leaks = [f"{where}: {m.group(0)[:60]}" for where, text in places
             for m in [SECRET.search(text)] if m]
    assert not leaks, ("La imagen guarda algo que parece un secreto → " + "; ".join(leaks)
                       + ". Pásalo en tiempo de ejecución (docker run -e) o como secreto de "
                       "BuildKit, nunca con ENV ni ARG.")


@check("hadolint.sin_errores", points=1)
def hadolint_clean(ctx):
    """hadolint no encuentra errores en el Dockerfile."""
    errors = [f for f in cdockerfile.hadolint(_dockerfile(ctx)) if f.level == "error"]
    assert not errors, "hadolint: " + "; ".join(f"línea {f.line} {f.code}: {f.message}"
                                               for f in errors)


@check("imagen.tamano", points=1, needs=("docker",))
def size_budget(ctx):
    """La imagen añade poco a su imagen base."""
    image = _image(ctx)
    base_ref = _stages(ctx)[-1]["base"]
    try:
        base = cdocker.client().images.get(base_ref)
    except Exception:
        raise AssertionError(f"No encuentro la imagen base final «{base_ref}».") from None
    added = (image.attrs["Size"] - base.attrs["Size"]) / 1e6
    assert added <= SIZE_BUDGET_MB, (
        f"La imagen añade {added:.0f} MB a su base (máximo {SIZE_BUDGET_MB} MB): ¿cachés de pip, "
        "herramientas de compilación o ficheros que .dockerignore debería excluir?")


def _wait_exec(container, cmd: list[str], timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "running":
            code, out = container.exec_run(cmd)
            return out.decode(errors="replace").strip() if code == 0 else ""
        if container.status == "exited":
            raise AssertionError("El contenedor terminó antes de poder inspeccionarlo.")
        time.sleep(0.5)
    raise AssertionError("El contenedor no llegó a estar en marcha.")
