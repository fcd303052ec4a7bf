"""Lab 01 (15.1): a Dockerfile and a .dockerignore for the course service.

Every check looks at what the submission really produced: the grader builds the
student's Dockerfile itself, runs the image, rebuilds after a code-only change and asks
Docker's own .dockerignore logic what the build context would send."""
from __future__ import annotations

import fnmatch
import re
import shutil
import tempfile
import urllib.request
from pathlib import Path

from docker.errors import DockerException

from course import buildkit
from course import docker as cdocker
from course import imagebuild
from course import dockerfile as cdockerfile
from course import images
from course.waiting import NotReady, wait_for
from grader import engine_watch, runner
from grader.checks import Blocked, NotVerifiable, check
from grader.context import PreconditionFailed

SIZE_BUDGET_MB = 60          # what the image may add on top of its final base image
HEALTH_TIMEOUT_S = 45
DEPENDENCY_STEP = re.compile(r"pip3? install|uv (pip install|sync)|poetry install", re.I)
PINNED_BASE = re.compile(r"(@sha256:[0-9a-f]{64}$)|(:\d+\.\d+\.\d+[^:/]*$)")
SLIM_BASE = re.compile(r"^(docker\.io/)?(library/)?python:[^@]*-(slim|alpine)")
SECRET = re.compile(r"\b\w*(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_KEY)\w*=(?!\s|$|\"\"|'')\S+",
                    re.I)
JUNK = {".git/HEAD": "ref: refs/heads/main\n", ".venv/pyvenv.cfg": "home = /usr/bin\n",
        "venv/pyvenv.cfg": "home = /usr/bin\n", "app/__pycache__/main.cpython-311.pyc": "x",
        "app/suelto.pyc": "x", "tests/test_extra.py": "def test_x():\n    pass\n",
        ".env": "TEMA15_CLAVE=secreto-del-corrector\n"}
# Task 2 also asks to leave out the Dockerfile and .dockerignore themselves.
SELF_FILES = ("Dockerfile", ".dockerignore")
VENV = "/opt/venv"
APP_UID = APP_GID = "1001"
# Lesson 15.1 teaches these hadolint rules: JSON CMD, pip cache, apt pins/lists/recommends.
TAUGHT_HADOLINT = {"DL3025", "DL3042", "DL3008", "DL3013", "DL3009", "DL3015"}
# Syntax the classic builder rejects but BuildKit (the default of `docker build`) accepts.
BUILDKIT_ONLY = re.compile(r"--(chmod|mount|link|exclude|parents)\b|<<-?[\"']?[A-Za-z_]|"
                           r"^#\s*syntax\s*=", re.M | re.I)
PIN_SPEC = re.compile(r"(==|===|@\s*\S+://|@\s*file:)")


# --- facts shared by several checks, computed once per grading -----------------------

def _dockerfile(ctx) -> Path:
    path = ctx.service_dir / "Dockerfile"
    assert path.exists(), ("No hay Dockerfile en la carpeta del servicio: el laboratorio "
                           "debe escribirlo en service/Dockerfile.")
    return path


def _image(ctx):
    """The image built from the student's Dockerfile. Not verifiable (skipped) when the
    grading machine lacks what the build needs; failed when the submission is the cause."""
    def build():
        path = _dockerfile(ctx)
        _ensure_bases(ctx)
        try:
            return _build(ctx, ctx.service_dir, f"{ctx.run_id}-lab01:corrector")
        except imagebuild.BuildFailed as exc:
            if not buildkit.available() and BUILDKIT_ONLY.search(path.read_text()):
                raise NotVerifiable(
                    "el Dockerfile usa sintaxis de BuildKit (--chmod, --mount, heredocs…) y "
                    "a la máquina del corrector le falta BuildKit (el plugin docker buildx): "
                    "construye con el constructor clásico, que no la entiende. Detalle: "
                    f"{exc}") from None
            raise AssertionError(f"La imagen no se construye: {exc}") from None
    return ctx.memo("build", build).image


def _build(ctx, path: Path, tag: str) -> imagebuild.BuildReport:
    """As the student's `docker build` does: BuildKit when the grading machine has it."""
    if buildkit.available():
        return buildkit.build(path, tag, run=ctx.run_id)
    return imagebuild.build(path, tag, run=ctx.run_id, quiet=True)


def _ensure_bases(ctx) -> None:
    """Every external base image must be here before building (there is no registry on a
    grading machine): a missing one is the grader's lack, not the student's mistake."""
    names = {s["name"] for s in _stages(ctx) if s["name"]}
    known = {img.reference: key for key, img in images.CATALOG.items()}
    for stage in _stages(ctx):
        ref = stage["base"]
        if ref in names or ref == "scratch":
            continue
        try:
            cdocker.client().images.get(ref)
            continue
        except DockerException:
            pass
        if ref in known:
            try:
                images.ensure(known[ref])
                continue
            except images.ImageUnavailable as exc:
                raise NotVerifiable(f"al corrector le falta la imagen base «{ref}»: {exc}") from None
        raise NotVerifiable(
            f"al corrector le falta la imagen base «{ref}» (esta máquina no descarga de Docker "
            "Hub y no tiene un sustituto local para ella). Usa la base que pide la tarea "
            "(python:3.11.13-slim-bookworm) o pide al profesor que la cargue.")


def _built(ctx):
    """The image, for checks that build on it: if the submission does not build, they are
    blocked with one shared message (the cause is reported by imagen.construye)."""
    try:
        return _image(ctx)
    except PreconditionFailed:
        raise Blocked("Bloqueada: la imagen no se construye (el motivo está en "
                      "imagen.construye).") from None


def _stages(ctx) -> list[dict]:
    try:
        return ctx.memo("stages", lambda: cdockerfile.stages(_dockerfile(ctx)))
    except PreconditionFailed as exc:
        raise Blocked(f"Bloqueada: {exc}") from None


def _in_container(ctx, script: str, user: str | None = None) -> str:
    try:
        output = cdocker.client().containers.run(
            _built(ctx).id, ["-c", script], entrypoint="sh", remove=True, user=user,
            labels=cdocker.labels(ctx.run_id))
    except DockerException as exc:
        raise AssertionError(f"No se pudo ejecutar `sh` en la imagen: {_first_line(exc)}") from None
    return output.decode(errors="replace").strip()


def _running(ctx):
    """One container of the image, published on a free local port, started once."""
    image = _built(ctx)  # outside the memo: a build failure blocks, it is not "failed"

    def start():
        try:
            return cdocker.client().containers.run(
                image.id, detach=True, name=cdocker.name("lab01", ctx.run_id),
                labels=cdocker.labels(ctx.run_id), ports={"8000/tcp": ("127.0.0.1", None)})
        except DockerException as exc:
            raise AssertionError(f"El contenedor no arranca: {_first_line(exc)}") from None
    try:
        return ctx.memo("container", start)
    except PreconditionFailed as exc:
        raise Blocked(f"Bloqueada: {exc}") from None


def _started(ctx):
    """The running container, for checks that inspect it (not the one judging startup)."""
    container = _running(ctx)
    try:
        _wait_running(container)
    except NotReady as exc:
        if exc.gave_up == "terminado":
            raise Blocked("Bloqueada: el contenedor termina al arrancar (el motivo está en "
                          "servicio.sano).") from None
        raise Blocked("Bloqueada: el contenedor no llegó a estar en marcha (ver "
                      "servicio.sano).") from None
    return container


def _wait_running(container, timeout: float = 20) -> None:
    """Until Docker reports the container running; NotReady if it exits first."""
    def state() -> str:
        container.reload()
        return container.status
    wait_for(state, until=lambda status: status == "running", timeout=timeout, interval=0.5,
             alive=lambda: container.status != "exited")


def _rebuild(ctx):
    """A rebuild after a code-only change, in a copy of the context that also holds the
    files a careless context would send (.env with a secret, .git, venvs, tests…)."""
    _built(ctx)  # outside the memo: a build failure blocks, it is not "failed"

    def build():
        with tempfile.TemporaryDirectory(prefix=f"{ctx.run_id}-cache-") as tmp:
            copy = Path(tmp) / "service"
            shutil.copytree(ctx.service_dir, copy)
            main = copy / "app" / "main.py"
            # Unique per grading: BuildKit keeps its cache after the run, and a change seen
            # before would come from that cache even when the Dockerfile orders it badly.
            main.write_text(main.read_text() + f"\n# cambio del corrector {ctx.run_id}: solo código\n")
            for rel, text in JUNK.items():
                (copy / rel).parent.mkdir(parents=True, exist_ok=True)
                (copy / rel).write_text(text)
            try:
                return _build(ctx, copy, f"{ctx.run_id}-lab01:cambio")
            except imagebuild.BuildFailed as exc:
                raise AssertionError(f"La imagen no se vuelve a construir tras cambiar solo "
                                     f"app/main.py: {exc}") from None
    return ctx.memo("rebuild", build)


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
    """Varias etapas: la final parte de una base slim y copia de otra (COPY --from) lo que se instaló."""
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
    user = _built(ctx).attrs["Config"].get("User", "")
    assert user.split(":")[0] not in ("", "root", "0"), (
        "La imagen se ejecuta como root: crea un usuario con UID fijo y añade USER.")
    container = _started(ctx)
    uid = _wait_exec(container, ["id", "-u"])
    assert uid not in ("", "0"), f"Dentro del contenedor `id -u` devuelve «{uid}»."


@check("servicio.sano", points=2, needs=("docker",))
def becomes_healthy(ctx):
    """El servicio arranca, queda sano y responde en /health/live."""
    container = _running(ctx)

    def live_and_healthy() -> str:
        """«ok», or what is missing (HTTP status and healthcheck), for the message."""
        container.reload()
        health = container.attrs["State"].get("Health", {}).get("Status")
        try:
            port = container.ports["8000/tcp"][0]["HostPort"]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=3) as r:
                ok = r.status == 200 and health in (None, "healthy")
                return "ok" if ok else f"HTTP {r.status}, healthcheck {health}"
        except (OSError, KeyError, IndexError, TypeError) as exc:
            return f"{exc.__class__.__name__}, healthcheck {health}"

    try:
        wait_for(live_and_healthy, until=lambda seen: seen == "ok", timeout=HEALTH_TIMEOUT_S,
                 interval=1, alive=lambda: container.status != "exited")
    except NotReady as exc:
        if exc.gave_up == "terminado":
            logs = container.logs(tail=15).decode(errors="replace")
            raise AssertionError(f"El contenedor terminó al arrancar. Últimas líneas:\n{logs}") from None
        raise AssertionError(
            f"El servicio no quedó sano en {HEALTH_TIMEOUT_S} s ({exc.last or 'sin respuesta'}). "
            "¿Expones el puerto 8000 y arrancas `uvicorn app.main:app --host 0.0.0.0`?") from None


@check("cache.dependencias", points=2, needs=("docker",))
def dependency_layers_cached(ctx):
    """Cambiar solo el código reutiliza de la caché las capas de dependencias."""
    rebuild = _rebuild(ctx)
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
    """`.dockerignore` deja fuera `.git`, entornos virtuales, `__pycache__`, `.pyc`, tests, `.env`, el Dockerfile y el propio `.dockerignore`."""
    assert (ctx.service_dir / ".dockerignore").exists(), "Falta el fichero .dockerignore."
    with tempfile.TemporaryDirectory(prefix=f"{ctx.run_id}-ctx-") as tmp:
        copy = Path(tmp) / "service"
        shutil.copytree(ctx.service_dir, copy)
        for rel, text in JUNK.items():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            (copy / rel).write_text(text)
        sent = cdockerfile.context_files(copy)
    leaked = sorted({_junk_label(rel) for rel in JUNK if rel in sent})
    leaked += [rel for rel in SELF_FILES if not _ignores(ctx.service_dir / ".dockerignore", rel)]
    assert not leaked, ("El contexto de construcción incluiría: " + ", ".join(leaked)
                        + ". Añádelos a .dockerignore.")


def _ignores(dockerignore: Path, top_level_file: str) -> bool:
    """Whether .dockerignore excludes a top-level file from what COPY sees (Docker always
    sends the Dockerfile and .dockerignore to the engine, and docker-py's matcher does not
    apply rules to them, so the rules are read as Docker does: the last match wins)."""
    ignored = False
    for line in dockerignore.read_text().splitlines():
        rule = line.strip()
        if not rule or rule.startswith("#"):
            continue
        negated = rule.startswith("!")
        rule = rule.lstrip("!").strip().lstrip("/")
        while rule.startswith(("**/", "./")):
            rule = rule[3:] if rule.startswith("**/") else rule[2:]
        if fnmatch.fnmatchcase(top_level_file, rule.rstrip("/")):
            ignored = not negated
    return ignored


def _junk_label(rel: str) -> str:
    if rel.endswith(".pyc"):
        return "__pycache__" if "__pycache__" in rel else "*.pyc"
    return rel.split("/")[0]


@check("contexto.sin_env", points=1, needs=("docker",))
def env_file_not_in_image(ctx):
    """Un fichero `.env` junto al código no llega a la imagen."""
    rebuilt = _rebuild(ctx).image
    try:
        output = cdocker.client().containers.run(
            rebuilt.id, ["-c", "find / -xdev \\( -path /proc -o -path /sys \\) -prune -o "
                         "-name .env -type f -print 2>/dev/null; true"],
            entrypoint="sh", remove=True, user="0", labels=cdocker.labels(ctx.run_id))
    except DockerException as exc:
        raise AssertionError(f"No se pudo ejecutar `sh` en la imagen: {_first_line(exc)}") from None
    found = output.decode(errors="replace").split()
    assert not found, (f"Con un .env en la carpeta, la imagen lo contiene ({', '.join(found)}): "
                       "añade .env a .dockerignore (y no copies la carpeta entera sin filtrar).")


@check("versiones.fijadas", points=1)
def versions_pinned(ctx):
    """Imagen base y dependencias (las que instala tu Dockerfile) con versión fijada."""
    names = {s["name"] for s in _stages(ctx) if s["name"]}
    loose = [s["base"] for s in _stages(ctx)
             if s["base"] not in names and s["base"] != "scratch" and not PINNED_BASE.search(s["base"])]
    assert not loose, (f"Base sin versión completa: {', '.join(loose)}. Fija MAYOR.MENOR.PARCHE "
                       "(p. ej. python:3.11.13-slim-bookworm) o un digest @sha256.")
    unpinned = unpinned_dependencies(ctx.service_dir, _stages(ctx))
    assert not unpinned, f"Dependencias sin fijar con ==: {', '.join(unpinned)}."


def unpinned_dependencies(service_dir: Path, stages: list[dict]) -> list[str]:
    """Requirements the Dockerfile's pip installs leave unpinned: packages named on the
    command line and lines of the requirement files it passes with -r (the student's own
    files, found in the build context by name)."""
    unpinned: list[str] = []
    seen_files: set[str] = set()
    for stage in stages:
        for instr in stage["instructions"]:
            if instr["instruction"] != "RUN":
                continue
            for command in re.split(r"&&|\|\||;", instr["value"]):
                words = command.replace("\\\n", " ").split()
                if not _is_pip_install(words):
                    continue
                args = words[words.index("install") + 1:]
                skip_next = False
                for i, word in enumerate(args):
                    if skip_next:
                        skip_next = False
                        continue
                    if word in ("-r", "--requirement", "-c", "--constraint"):
                        if word in ("-r", "--requirement") and i + 1 < len(args):
                            seen_files.add(args[i + 1])
                        skip_next = True
                    elif word.startswith(("--requirement=", "-r")) and len(word) > 2:
                        seen_files.add(word.split("=", 1)[-1] if "=" in word else word[2:])
                    elif word in ("-i", "--index-url", "--extra-index-url", "-f",
                                  "--find-links", "--target", "-t", "--prefix", "--root"):
                        skip_next = True
                    elif not word.startswith("-") and word not in (".", "./") \
                            and not PIN_SPEC.search(word):
                        unpinned.append(word.strip("'\""))
    for name in sorted(seen_files):
        local = service_dir / Path(name).name
        if not local.is_file():
            continue  # generated in the image: nothing of the student's to read
        for line in local.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-") and not PIN_SPEC.search(line):
                unpinned.append(f"{line} ({local.name})")
    return unpinned


def _is_pip_install(words: list[str]) -> bool:
    if "install" not in words:
        return False
    before = words[:words.index("install")]
    return any(Path(w).name in ("pip", "pip3") or w == "pip" for w in before) or (
        "-m" in before and "pip" in before)


@check("secretos.ninguno", points=2, needs=("docker",))
def no_secrets(ctx):
    """Ningún secreto en el historial ni en las variables de la imagen."""
    image = _built(ctx)
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
    errors = [f for f in cdockerfile.hadolint(_dockerfile_or_block(ctx)) if f.level == "error"]
    assert not errors, "hadolint: " + "; ".join(f"línea {f.line} {f.code}: {f.message}"
                                               for f in errors)


@check("hadolint.avisos_del_tema", points=1)
def hadolint_taught_rules(ctx):
    """Ningún aviso de hadolint de los que explica la lección (DL3025, DL3042, DL3008, DL3013, DL3009, DL3015)."""
    path = _dockerfile_or_block(ctx)
    # hadolint also reports DL3025 for a shell-form HEALTHCHECK CMD, which Docker's own
    # documentation uses: the lesson's rule is about the container's main process.
    healthcheck_lines = {line + 1 for i in cdockerfile.parse(path).structure
                         if i["instruction"] == "HEALTHCHECK"
                         for line in range(i["startline"], i["endline"] + 1)}
    found = [f for f in cdockerfile.hadolint(path) if f.code in TAUGHT_HADOLINT
             and not (f.code == "DL3025" and f.line in healthcheck_lines)]
    assert not found, "hadolint: " + "; ".join(f"línea {f.line} {f.code}: {f.message}"
                                               for f in found)


def _dockerfile_or_block(ctx) -> Path:
    _stages(ctx)  # blocks with the shared message when there is no Dockerfile
    return _dockerfile(ctx)


@check("imagen.tamano", points=1, needs=("docker",))
def size_budget(ctx):
    """La imagen añade poco a su imagen base."""
    image = _built(ctx)
    base_ref = _stages(ctx)[-1]["base"]
    try:
        base = cdocker.client().images.get(base_ref)
    except Exception:
        raise AssertionError(f"No encuentro la imagen base final «{base_ref}».") from None
    added = (image.attrs["Size"] - base.attrs["Size"]) / 1e6
    assert added <= SIZE_BUDGET_MB, (
        f"La imagen añade {added:.0f} MB a su base (máximo {SIZE_BUDGET_MB} MB): ¿cachés de pip, "
        "herramientas de compilación o ficheros que .dockerignore debería excluir?")


@check("dockerfile.cmd_exec", points=1)
def cmd_exec_form(ctx):
    """`CMD` (y `ENTRYPOINT`, si lo hay) en forma exec, una lista JSON."""
    final = _stages(ctx)[-1]["instructions"]
    starts = [i for i in final if i["instruction"] in ("CMD", "ENTRYPOINT")]
    assert any(i["instruction"] == "CMD" for i in starts) or any(
        i["instruction"] == "ENTRYPOINT" for i in starts), (
        "La etapa final no tiene CMD: la imagen no sabe qué proceso arrancar.")
    shell = [i for i in starts if not i["value"].lstrip().startswith("[")]
    assert not shell, (
        f"{shell[0]['instruction']} en forma shell («{shell[0]['value'][:70]}»): Docker lo "
        "envuelve en `/bin/sh -c` y las señales llegan a sh, no a uvicorn. Escríbelo como "
        'lista: CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"].')


@check("proceso.pid1", points=2, needs=("docker",))
def uvicorn_is_pid1(ctx):
    """uvicorn es el proceso 1 del contenedor en marcha (recibe SIGTERM al pararlo)."""
    container = _started(ctx)
    code, out = container.exec_run(["cat", "/proc/1/cmdline"])
    assert code == 0, "No se pudo leer /proc/1/cmdline dentro del contenedor (¿no hay `cat`?)."
    argv = [a for a in out.decode(errors="replace").split("\0") if a]
    assert _serves_as_pid1(argv), (
        f"El proceso 1 del contenedor es «{' '.join(argv)[:120]}», no uvicorn: al parar el "
        "contenedor, SIGTERM no llega a la aplicación. Usa CMD en forma exec y, si tienes un "
        'script de entrada, termínalo con `exec "$@"` (o `exec uvicorn …`).')


def _serves_as_pid1(argv: list[str]) -> bool:
    """uvicorn itself (also as `python -m uvicorn`), or an init that forwards signals."""
    if not argv:
        return False
    names = [Path(a).name for a in argv]
    if names[0].startswith("uvicorn"):
        return True
    if names[0].startswith("python") and len(argv) > 1:
        return argv[1:3] == ["-m", "uvicorn"] or names[1].startswith("uvicorn")
    return names[0] in ("tini", "tini-static", "dumb-init", "docker-init") and any(
        n.startswith("uvicorn") for n in names[1:])


@check("imagen.venv", points=1, needs=("docker",))
def venv_path(ctx):
    """Las dependencias viven en el entorno virtual /opt/venv de la imagen final."""
    found = _in_container(ctx, f"{VENV}/bin/python -c 'import fastapi, uvicorn; "
                               "print(uvicorn.__file__)' 2>&1 || true")
    assert found.startswith(f"{VENV}/"), (
        f"En la imagen final no funciona `{VENV}/bin/python -c 'import uvicorn'` con uvicorn "
        f"dentro de {VENV} (salida: «{found[-150:]}»). La tarea pide crear el entorno "
        f"virtual en {VENV} en la etapa builder y copiarlo a la final con COPY --from=builder.")


@check("imagen.variables", points=1, needs=("docker",))
def python_variables(ctx):
    """PYTHONDONTWRITEBYTECODE=1, PYTHONUNBUFFERED=1 y /opt/venv/bin al principio del PATH, con `ENV CLAVE=valor`."""
    legacy = [i["value"] for s in _stages(ctx) for i in s["instructions"]
              if i["instruction"] == "ENV" and "=" not in i["value"].split()[0]]
    assert not legacy, (f"ENV en la forma antigua «ENV {legacy[0][:50]}»: escribe "
                        "ENV CLAVE=valor (BuildKit avisa con LegacyKeyValueFormat).")
    env = dict(e.split("=", 1) for e in _built(ctx).attrs["Config"].get("Env") or [] if "=" in e)
    wrong = [f"{k}={env.get(k, '(sin definir)')}" for k in ("PYTHONDONTWRITEBYTECODE",
                                                            "PYTHONUNBUFFERED")
             if env.get(k) != "1"]
    assert not wrong, (f"En la imagen final: {', '.join(wrong)}; la tarea pide las dos a 1 en "
                       "la etapa final.")
    first = env.get("PATH", "").split(":")[0]
    assert first == f"{VENV}/bin", (f"El PATH de la imagen empieza por «{first}»: pon "
                                    f"{VENV}/bin delante (ENV PATH={VENV}/bin:$PATH).")


@check("imagen.uid_1001", points=1, needs=("docker",))
def fixed_ids(ctx):
    """El proceso corre con UID y GID 1001."""
    container = _started(ctx)
    ids = [_wait_exec(container, ["id", flag]) for flag in ("-u", "-g")]
    assert ids == [APP_UID, APP_GID], (
        f"Dentro del contenedor UID:GID es {ids[0] or '?'}:{ids[1] or '?'}; la tarea pide un "
        f"usuario con UID y GID fijos {APP_UID} (groupadd --gid 1001, useradd --uid 1001, "
        "USER 1001:1001).")


@check("imagen.codigo_de_root", points=1, needs=("docker",))
def code_owned_by_root(ctx):
    """El usuario de la aplicación no puede modificar el código."""
    script = ("for f in $(find / -xdev \\( -path /proc -o -path /sys -o -path /usr/lib "
              f"-o -path /usr/local/lib -o -path {VENV} \\) -prune -o -path '*/app/main.py' -type f -print "
              "2>/dev/null); do echo \"F $f\"; [ -w \"$f\" ] && echo \"W $f\"; "
              "[ -w \"$(dirname \"$f\")\" ] && echo \"W $(dirname \"$f\")\"; done; true")
    lines = _in_container(ctx, script).splitlines()
    assert any(line.startswith("F ") for line in lines), (
        "No encuentro app/main.py en la imagen final: ¿copias la carpeta app?")
    writable = [line[2:] for line in lines if line.startswith("W ")]
    assert not writable, (
        f"El usuario de la aplicación puede modificar {', '.join(writable)}: copia el código "
        "sin --chown, que quede propiedad de root.")


@check("imagen.healthcheck", points=1, needs=("docker",))
def healthcheck(ctx):
    """La imagen define un HEALTHCHECK contra /health/live y el contenedor queda healthy."""
    test = (_built(ctx).attrs["Config"].get("Healthcheck") or {}).get("Test") or []
    assert test and test[0] != "NONE", (
        "La imagen no tiene HEALTHCHECK: añade uno que pida /health/live (en la imagen slim "
        "no hay curl: usa python -c con urllib.request).")
    assert "/health/live" in " ".join(test), (
        f"El HEALTHCHECK no consulta /health/live: {' '.join(test)[:120]}")
    container = _started(ctx)

    def health() -> str | None:
        container.reload()
        return container.attrs["State"].get("Health", {}).get("Status")
    try:
        status = wait_for(health, until=lambda s: s in ("healthy", "unhealthy"),
                          timeout=HEALTH_TIMEOUT_S, interval=1)
    except NotReady as exc:
        status = exc.last
    assert status == "healthy", (f"Docker marca el contenedor como «{status}» tras "
                                 f"{HEALTH_TIMEOUT_S} s: revisa la orden del HEALTHCHECK.")


@check("imagen.expose", points=1, needs=("docker",))
def exposes_port(ctx):
    """La imagen declara EXPOSE 8000."""
    ports = _built(ctx).attrs["Config"].get("ExposedPorts") or {}
    assert "8000/tcp" in ports, (f"La imagen no declara EXPOSE 8000 (declara: "
                                 f"{', '.join(ports) or 'ninguno'}).")


def _wait_exec(container, cmd: list[str], timeout: float = 20) -> str:
    try:
        _wait_running(container, timeout)
    except NotReady as exc:
        raise AssertionError("El contenedor terminó antes de poder inspeccionarlo."
                             if exc.gave_up == "terminado" else
                             "El contenedor no llegó a estar en marcha.") from None
    code, out = container.exec_run(cmd)
    return out.decode(errors="replace").strip() if code == 0 else ""


# --- what the notebook itself did with the engine (Tareas 3 and 4) --------------------

def _seen(ctx):
    """The images and containers the notebook asked the engine for, as recorded while it
    ran (``while_executing``); NotVerifiable for a directory of files."""
    seen = ctx.parameters.get("seen")
    if seen is None or ctx.execution.status == runner.NOT_EXECUTED:
        raise NotVerifiable("una entrega de ficheros no ejecuta el cuaderno: no hay llamadas al "
                            "SDK que observar")
    if seen.problem:
        raise NotVerifiable(seen.problem)
    return seen


@check("cuaderno.imagen_etiquetada", points=1, needs=("docker",))
def notebook_image_tagged(ctx):
    """El cuaderno construye su imagen como «{run}-catalogo:1.0.0» con la etiqueta tema15.run del run."""
    seen = _seen(ctx)
    tag = f"{ctx.run_id}-catalogo:1.0.0"
    image = seen.images.get(tag)
    assert image is not None, (
        f"Mientras se ejecutaba tu cuaderno no se etiquetó ninguna imagen {tag} "
        f"(etiquetas vistas: {sorted(seen.images) or 'ninguna'}). Construye con "
        "docker buildx build --load --tag {run}-catalogo:1.0.0 (o, con el SDK, "
        "client.images.build(..., tag=f\"{run}-catalogo:1.0.0\")).")
    label = image["labels"].get(cdocker.RUN_LABEL)
    assert label == ctx.run_id, (
        f"La imagen {tag} no lleva la etiqueta (label) {cdocker.RUN_LABEL}={ctx.run_id} "
        f"(lleva {label!r}): pásala con --label {cdocker.RUN_LABEL}={{run}} (con el SDK, "
        f"labels={{\"{cdocker.RUN_LABEL}\": run}}) para que curso limpiar la encuentre.")


@check("cuaderno.contenedor_local", points=1, needs=("docker",))
def notebook_container_local(ctx):
    """El contenedor del cuaderno publica el 8000 solo en 127.0.0.1 y lleva la etiqueta tema15.run."""
    seen = _seen(ctx)
    assert seen.containers, ("Mientras se ejecutaba tu cuaderno no se creó ningún contenedor de "
                             "tu imagen: arráncalo con client.containers.run(image.id, ...).")
    problems = []
    for container in seen.containers:
        bindings = container["ports"].get("8000/tcp") or []
        if not bindings:
            problems.append(f"{container['name']} no publica el puerto 8000")
        public = sorted({b.get("HostIp") or "0.0.0.0" for b in bindings} - {"127.0.0.1"})
        if public:
            problems.append(f"{container['name']} publica el 8000 en {', '.join(public)} (todas "
                            "las interfaces de la máquina), no solo en 127.0.0.1")
        if container["labels"].get(cdocker.RUN_LABEL) != ctx.run_id:
            problems.append(f"{container['name']} no lleva la etiqueta {cdocker.RUN_LABEL}={ctx.run_id}")
    assert not problems, ("; ".join(problems) + ". Usa ports={\"8000/tcp\": (\"127.0.0.1\", None)} "
                          f"y labels={{\"{cdocker.RUN_LABEL}\": run}}.")


def while_executing(workdir: Path, run_id: str):
    """Grader hook: follow the engine's events while the notebook runs (see
    grader.engine_watch); what it records is ``ctx.parameters["seen"]``."""
    return engine_watch.EngineWatch(run_id)


# --- task items → checks (format in CONTRIBUTING.md; tests/test_task_items.py keeps it in sync)
# Key "k.i": item i of "## Tarea k" in the solution (all its lists in one sequence); "k": a
# Tarea without a list. Value: the checks that verify the item on the artifact.
TASK_ITEMS: dict[str, tuple[str, ...]] = {
    "1.1": ("dockerfile.multietapa", "imagen.venv", "imagen.sin_compilador", "imagen.tamano",
            "hadolint.avisos_del_tema"),     # two stages, /opt/venv, pip --no-cache-dir (DL3042)
    "1.2": ("dockerfile.multietapa", "versiones.fijadas"),   # slim base, full version
    "1.3": ("cache.dependencias",),
    "1.4": ("imagen.variables",),
    "1.5": ("imagen.no_root", "imagen.uid_1001", "imagen.codigo_de_root"),
    "1.6": ("imagen.expose", "imagen.healthcheck", "dockerfile.cmd_exec", "proceso.pid1",
            "servicio.sano"),
    "1.7": ("secretos.ninguno",),
    "2": ("contexto.dockerignore", "contexto.sin_env"),
    "3": ("imagen.construye", "cuaderno.imagen_etiquetada"),
    "4": ("servicio.sano", "cuaderno.contenedor_local"),
}
# Checks no single item asks for, and why they are graded anyway.
UNTASKED: dict[str, str] = {
    "hadolint.sin_errores": "«Cómo se corrige» anuncia que se pasa hadolint; un error de hadolint "
                            "es un fallo del Dockerfile aunque ningún punto lo nombre.",
}
# Items (or parts of them) with no check on the artifact yet: shown as warnings by the test.
KNOWN_GAPS: dict[str, str] = {}
