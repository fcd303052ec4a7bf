"""Lab 02 (15.2): Docker tags for SemVer releases, published to a real registry.

The student's ``release_tags`` (module ``etiquetas.py`` in the work dir) is untrusted
code: it runs in a separate Python process with a timeout, and only its JSON answers come
back. The registry checks ask the registry the grader started (``before_execution``)
through its HTTP API v2: which tags exist, which digest each resolves to and which OCI
labels each image carries; and they run the published image to ask ``app.__version__``.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import git
import semver
from docker.errors import DockerException

from course import docker as cdocker
from course import env
from course import registry as creg
from grader import runner
from grader.checks import NotVerifiable, check

MODULE = "etiquetas.py"
REPOSITORY = "catalogo"
FUNCTION_TIMEOUT_S = 10
SHA = "a1b2c3d"
DOCKER_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")  # Docker's tag grammar
VERSION_LABEL = "org.opencontainers.image.version"
REVISION_LABEL = "org.opencontainers.image.revision"
HEX_SHA = re.compile(r"[0-9a-f]{7,40}")

STABLE = ["1.2.3", "0.4.0", "10.20.30", "v2.0.0"]
PRERELEASE = ["1.0.0-alpha.1", "2.1.0-rc.2", "v3.0.0-beta"]
BUILD_METADATA = ["1.0.0+git.sha.a1b2c3d", "2.3.4+20240501", "1.0.0-rc.1+build.5"]
INVALID = ["1.2", "01.2.3", "1.2.3-", "latest", "", "1.2.3.4", "v", "1.2.x"]
EXTRA_VALID = ["1.2.3-rc.1+build.2024.05", "3.0.0-beta+exp.sha.5114f85", "0.0.1",
               "1.0.0-x-y-z.--"]

NOT_EXECUTED = ("esta comprobación mira lo que el cuaderno publicó en el registro, y una "
                "entrega de ficheros se corrige sin ejecutar nada. "
                "Entrega el cuaderno (curso corregir labs/lab02_semver.ipynb).")

CALLER = r'''
import json, os, sys
sys.path.insert(0, sys.argv[1])
out = sys.argv[3]
results = {}

def save(data):  # atomically: a kill on timeout never leaves half a file
    with open(out + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(out + ".tmp", out)

try:
    import etiquetas
    release_tags = etiquetas.release_tags
except BaseException as exc:
    save({"__import__": f"{type(exc).__name__}: {exc}"[:500]})
    raise SystemExit(0)
save({"__started__": True})
with open(sys.argv[2], encoding="utf-8") as fh:
    cases = json.load(fh)
for version, sha in cases:
    try:
        value = release_tags(version, sha)
        if isinstance(value, (list, tuple)) and all(isinstance(t, str) for t in value):
            results[version] = {"tags": list(value)}
        else:
            results[version] = {"bad": repr(value)[:200]}
    except BaseException as exc:
        results[version] = {"error": type(exc).__name__, "value_error": isinstance(exc, ValueError),
                            "message": str(exc)[:300]}
    save({"__started__": True, **results})
'''


# --- the reference rule (what the lab asks for) ---------------------------------------

def expected_tags(version: str, sha: str = SHA) -> set[str]:
    v = semver.Version.parse(version.removeprefix("v"))
    tags = {str(v).replace("+", "_"), sha}
    if not v.prerelease:
        tags |= {f"{v.major}.{v.minor}", str(v.major), "latest"}
    return tags


def releases(ctx) -> tuple[str, str, str]:
    """The three versions the lab publishes: VERSION of the service, its patch, and the
    release candidate of the next minor version."""
    first = semver.Version.parse((ctx.service_dir / "VERSION").read_text().strip())
    patch = first.bump_patch()
    candidate = patch.bump_minor().replace(prerelease="rc.1")
    return str(first), str(patch), str(candidate)


# --- the student's function, run in a separate process ---------------------------------

def _answers(ctx) -> dict:
    def run_cases():
        module = ctx.workdir / MODULE
        assert module.exists(), (f"No existe {MODULE} en la carpeta de trabajo: la tarea 1 lo "
                                 "escribe con la celda %%writefile (o entrégalo en la raíz de "
                                 "la carpeta).")
        cases = [[v, SHA] for v in STABLE + PRERELEASE + BUILD_METADATA + INVALID + EXTRA_VALID]
        with tempfile.TemporaryDirectory(prefix=f"{ctx.run_id}-funcion-") as tmp:
            caller, cases_file = Path(tmp, "caller.py"), Path(tmp, "cases.json")
            out = Path(tmp, "out.json")
            caller.write_text(CALLER)
            cases_file.write_text(json.dumps(cases))
            timed_out = False
            try:
                subprocess.run([sys.executable, "-I", str(caller), str(ctx.workdir), str(cases_file),
                                str(out)], cwd=tmp, capture_output=True, timeout=FUNCTION_TIMEOUT_S,
                               check=False)
            except subprocess.TimeoutExpired:
                timed_out = True
            try:
                data = json.loads(out.read_text()) if out.exists() else {}
            except ValueError:
                data = {}
        if "__import__" in data:
            raise AssertionError(f"No se puede importar release_tags de {MODULE}: {data['__import__']}")
        if not data:
            raise AssertionError(f"Importar {MODULE} no terminó en {FUNCTION_TIMEOUT_S} s." if timed_out
                                 else f"{MODULE} no se pudo ejecutar.")
        data.pop("__started__", None)
        return {"results": data, "timed_out": timed_out}
    return ctx.memo("funcion", run_cases)


def _result(ctx, version: str) -> dict:
    answers = _answers(ctx)
    if version not in answers["results"]:
        raise AssertionError(f"release_tags({version!r}, {SHA!r}) no terminó en "
                             f"{FUNCTION_TIMEOUT_S} s (¿un bucle infinito?).")
    return answers["results"][version]


def _raised(result: dict) -> str:
    """«NotImplementedError (…)» in words, with a hint for an unfilled gap."""
    text = result["error"] + (f" ({result['message']})" if result["message"].strip() else "")
    if result["error"] == "NotImplementedError":
        text += ", es decir, el hueco «# TU CÓDIGO AQUÍ» sigue sin resolver"
    return text


def _tags_of(ctx, version: str, hint: str) -> list[str]:
    result = _result(ctx, version)
    if "error" in result:
        raise AssertionError(f"release_tags({version!r}, {SHA!r}) lanza {_raised(result)}. {hint}")
    if "bad" in result:
        raise AssertionError(f"release_tags({version!r}, {SHA!r}) debe devolver una lista de "
                             f"cadenas y devuelve {result['bad']}.")
    return result["tags"]


def _compare(ctx, versions: list[str], hint: str) -> None:
    for version in versions:
        tags = _tags_of(ctx, version, hint)
        want = expected_tags(version)
        if len(tags) != len(set(tags)) or set(tags) != want:
            extra, missing = sorted(set(tags) - want), sorted(want - set(tags))
            detail = "; ".join(part for part in (
                f"sobran {extra}" if extra else "", f"faltan {missing}" if missing else "",
                "hay etiquetas repetidas" if len(tags) != len(set(tags)) else "") if part)
            raise AssertionError(f"release_tags({version!r}, {SHA!r}) devuelve {tags}: {detail}. "
                                 f"{hint}")


# --- checks on the function -------------------------------------------------------------

@check("funcion.estables", points=2)
def stable_versions(ctx):
    """Versión estable: etiquetas X.Y.Z, X.Y, X, latest y el commit (también con «v» delante)."""
    _compare(ctx, STABLE, "Una versión estable lleva su versión completa, las flotantes X.Y y X, "
                          "latest y el sha; una «v» inicial (como en v2.0.0) se quita con "
                          "removeprefix(\"v\").")


@check("funcion.prerelease", points=2)
def prereleases(ctx):
    """Una pre-release solo recibe su propia etiqueta y la del commit."""
    _compare(ctx, PRERELEASE, "Una pre-release (1.0.0-rc.1) no es estable: ni X.Y, ni X, ni latest "
                              "deben apuntar a ella; solo su versión completa y el sha.")


@check("funcion.metadatos", points=1)
def build_metadata(ctx):
    """Los metadatos de compilación (+…) se sanean: «+» pasa a «_»."""
    _compare(ctx, BUILD_METADATA, "Docker no admite «+» en una etiqueta: cámbialo por «_» en la "
                                  "versión completa (1.0.0+git.abc → 1.0.0_git.abc). Los metadatos "
                                  "no cambian si la versión es estable o no.")


@check("funcion.invalidas", points=2)
def invalid_versions(ctx):
    """Una versión que no es SemVer se rechaza con ValueError y un mensaje."""
    for version in INVALID:
        result = _result(ctx, version)
        if "tags" in result or "bad" in result:
            raise AssertionError(f"release_tags({version!r}, …) no rechaza una versión inválida "
                                 f"(devuelve {result.get('tags', result.get('bad'))}). Valida con "
                                 "semver.Version.parse, que lanza ValueError.")
        if not result["value_error"]:
            raise AssertionError(f"Con {version!r}, release_tags lanza {_raised(result)}; "
                                 "debe lanzar ValueError.")
        if not result["message"].strip():
            raise AssertionError(f"El ValueError de {version!r} no tiene mensaje: di qué versión "
                                 "es y por qué no vale.")


@check("funcion.etiquetas_docker", points=1)
def valid_docker_tags(ctx):
    """Todas las etiquetas cumplen la gramática de Docker y no se repiten."""
    for version in STABLE + PRERELEASE + BUILD_METADATA + EXTRA_VALID:
        tags = _tags_of(ctx, version, "Es una versión SemVer válida: no debe rechazarse.")
        bad = [t for t in tags if not DOCKER_TAG.fullmatch(t)]
        assert not bad, (f"Para {version!r} hay etiquetas que Docker rechaza: {bad}. Una etiqueta "
                         "solo puede tener letras, dígitos, «_», «.» y «-» (máximo 128, sin empezar "
                         "por «.» o «-»).")
        assert len(tags) == len(set(tags)), f"Para {version!r} hay etiquetas repetidas: {tags}."


# --- checks on the registry ----------------------------------------------------------------

def before_execution(workdir: Path, run_id: str) -> dict:
    """Start the registry the lab publishes to (labelled with the run, so cleanup removes it)."""
    if not env.has("docker"):
        return {"registry": None}
    try:
        return {"registry": creg.start(run_id).host}
    except (creg.RegistryError, DockerException, RuntimeError) as exc:
        return {"registry": None, "registry_error": str(exc).splitlines()[0][:300]}


def _host(ctx) -> str:
    if ctx.execution.status == runner.NOT_EXECUTED:
        raise NotVerifiable(NOT_EXECUTED)
    host = ctx.parameters.get("registry")
    if not host:  # the grader's problem, not the student's: reported as an error
        raise RuntimeError("el corrector no pudo arrancar el registro: "
                           + ctx.parameters.get("registry_error", "motivo desconocido"))
    return host


def _digests(ctx) -> dict[str, str | None]:
    def read():
        host = _host(ctx)
        found = creg.tag_digests(host, REPOSITORY)
        if not found:
            others = creg.catalog(host)
            where = (f" El registro solo tiene los repositorios {others}: publica en "
                     f"{host}/{REPOSITORY}." if others else "")
            raise AssertionError(f"El registro no tiene ninguna etiqueta en «{REPOSITORY}»: el "
                                 "cuaderno no llegó a publicar (¿se ejecutaron las tareas 2 a "
                                 f"4?).{where}")
        return found
    return ctx.memo("registro", read)


def _short(digest: str | None) -> str:
    return digest[:19] if digest else "nada"


@check("registro.etiquetas", points=2, needs=("docker",))
def registry_has_tags(ctx):
    """El registro tiene las etiquetas de las tres versiones publicadas."""
    digests = _digests(ctx)
    first, patch, candidate = releases(ctx)
    wanted = (expected_tags(first) | expected_tags(patch) | expected_tags(candidate)) - {SHA}
    missing = sorted(wanted - set(digests))
    assert not missing, (f"Faltan en el registro las etiquetas {missing} (tiene {sorted(digests)}). "
                         "Cada publicación debe enviar todas las etiquetas de release_tags.")
    shas = [t for t in digests if HEX_SHA.fullmatch(t)]
    assert len(shas) >= 3, (f"Solo hay {len(shas)} etiqueta(s) de commit ({shas}); cada versión "
                            "sale de un commit distinto y publica su sha corto.")


@check("registro.flotantes", points=2, needs=("docker",))
def floating_tags_moved(ctx):
    """Tras el parche, X.Y y X apuntan al digest nuevo y X.Y.Z anterior conserva el suyo."""
    digests = _digests(ctx)
    first, patch, _ = releases(ctx)
    v = semver.Version.parse(patch)
    assert digests.get(first) and digests.get(patch), f"Faltan {first} o {patch} en el registro."
    assert digests[first] != digests[patch], (
        f"{first} y {patch} tienen el mismo digest ({_short(digests[patch])}): el parche debe "
        "ser una imagen nueva (cambia el código y VERSION, y vuelve a construir).")
    for floating in (f"{v.major}.{v.minor}", str(v.major)):
        assert digests.get(floating) == digests[patch], (
            f"«{floating}» apunta a {_short(digests.get(floating))} y {patch} a "
            f"{_short(digests[patch])}: al publicar el parche, las etiquetas flotantes deben "
            "moverse a la imagen nueva (docker tag + docker push).")


@check("registro.latest", points=1, needs=("docker",))
def latest_is_newest_stable(ctx):
    """latest es la última versión estable: la candidata no la mueve ni crea flotantes."""
    digests = _digests(ctx)
    _, patch, candidate = releases(ctx)
    c = semver.Version.parse(candidate)
    assert digests.get("latest") == digests.get(patch), (
        f"latest apunta a {_short(digests.get('latest'))}, no a {patch} "
        f"({_short(digests.get(patch))}), la última versión estable.")
    leaked = [t for t in (f"{c.major}.{c.minor}", str(c.major), "latest")
              if digests.get(t) and digests.get(t) == digests.get(candidate)]
    assert not leaked, (f"La pre-release {candidate} movió {leaked}: una versión candidata solo "
                        "publica su propia etiqueta y la del commit.")


@check("registro.oci", points=2, needs=("docker",))
def oci_labels(ctx):
    """Cada imagen publicada lleva las etiquetas OCI version y revision, coherentes con sus tags."""
    host = _host(ctx)
    digests = _digests(ctx)
    for version in releases(ctx):
        tag = version.replace("+", "_")
        if not digests.get(tag):
            raise AssertionError(f"No está {tag} en el registro.")
        labels = creg.labels(host, REPOSITORY, tag)
        found = labels.get(VERSION_LABEL)
        assert found == version, (
            f"La imagen {tag} tiene {VERSION_LABEL}={found!r}: construye con "
            "buildargs={'VERSION': version, 'VCS_REF': sha} para que la etiqueta OCI diga su versión.")
        revision = labels.get(REVISION_LABEL, "")
        assert HEX_SHA.fullmatch(revision), (
            f"La imagen {tag} tiene {REVISION_LABEL}={revision!r}: pasa el sha corto del commit "
            "como argumento VCS_REF.")
        assert digests.get(revision) == digests[tag], (
            f"La etiqueta del commit «{revision}» (de {REVISION_LABEL} de {tag}) apunta a "
            f"{_short(digests.get(revision))}, no a la imagen {tag} ({_short(digests[tag])}): usa "
            "el mismo sha para VCS_REF y para release_tags.")


@check("imagen.version_alineada", points=1, needs=("docker",))
def app_version_matches(ctx):
    """Dentro de la imagen publicada, `app.__version__` coincide con su etiqueta."""
    host = _host(ctx)
    digests = _digests(ctx)
    _, patch, _ = releases(ctx)
    digest = digests.get(patch)
    assert digest, f"No está {patch} en el registro."
    client = cdocker.client()
    try:
        image = client.images.pull(f"{host}/{REPOSITORY}@{digest}")
        output = client.containers.run(image.id, ["python", "-c", "import app; print(app.__version__)"],
                                       remove=True, labels=cdocker.labels(ctx.run_id))
    except DockerException as exc:
        raise AssertionError(f"No se pudo ejecutar la imagen {patch} del registro: "
                             f"{str(exc).splitlines()[0][:300]}") from None
    found = output.decode(errors="replace").strip()
    assert found == patch, (f"En la imagen {patch}, app.__version__ es {found!r}: escribe la versión "
                            "nueva en VERSION antes de construir (el código la lee de ahí).")


RELEASE_DIR = "publicacion"  # the Git repository the notebook creates in the work dir
# Conventional Commits: type, optional scope, optional "!", colon, space, description.
FIX_COMMIT = re.compile(r"^fix(\([^)\n]+\))?!?: \S", re.I)
NOT_FOUND_TEXT = "No existe ningún artículo con id"  # the 404 message the patch must change


def _release_repo(ctx) -> git.Repo:
    """The notebook's release repository; skipped for a directory (never executed)."""
    if ctx.execution.status == runner.NOT_EXECUTED:
        raise NotVerifiable("esta comprobación mira el repositorio Git que crea el cuaderno "
                            "al ejecutarse, y una entrega de ficheros no se ejecuta.")
    try:
        return git.Repo(ctx.workdir / RELEASE_DIR)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise AssertionError(f"No hay repositorio Git en {RELEASE_DIR}/: ejecuta la celda de "
                             "preparación del cuaderno.") from None


@check("git.etiqueta_anotada", points=1)
def patch_tag_is_annotated(ctx):
    """La etiqueta Git de la versión parche es anotada y apunta al commit que la publica."""
    repo = _release_repo(ctx)
    _, patch, _ = releases(ctx)
    names = [t.name for t in repo.tags]
    assert f"v{patch}" in names, (f"No existe la etiqueta Git v{patch} (hay: "
                                  f"{', '.join(names) or 'ninguna'}): crea la de la versión parche.")
    tag = repo.tags[f"v{patch}"]
    assert tag.tag is not None, (
        f"v{patch} es una etiqueta ligera (solo un nombre para un commit, sin autor, fecha ni "
        f"mensaje): créala anotada, con repo.create_tag('v{patch}', message='…') o "
        f"git tag -a v{patch} -m '…'.")
    version = repo.git.show(f"{tag.commit.hexsha}:VERSION").strip()
    assert version == patch, (f"v{patch} apunta a un commit cuyo VERSION dice {version!r}: "
                              "etiqueta el commit que cambia VERSION.")


@check("git.commit_fix", points=1)
def patch_has_fix_commit(ctx):
    """Entre la versión inicial y el parche hay un commit `fix` (Conventional Commits) que cambia el mensaje del 404 en app/main.py."""
    repo = _release_repo(ctx)
    first, patch, _ = releases(ctx)
    names = {t.name for t in repo.tags}
    missing = [f"v{v}" for v in (first, patch) if f"v{v}" not in names]
    assert not missing, (f"No existen las etiquetas Git {', '.join(missing)} (hay: "
                         f"{', '.join(sorted(names)) or 'ninguna'}).")
    commits = list(repo.iter_commits(f"v{first}..v{patch}"))
    fixes = [c for c in commits if FIX_COMMIT.match(c.message)]
    subjects = "; ".join(f"«{c.summary}»" for c in commits) or "ninguno"
    assert fixes, (f"Entre v{first} y v{patch} no hay ningún commit de tipo fix (hay: {subjects}). "
                   "Un parche corrige un fallo: su commit empieza por «fix: …» o «fix(ámbito): …».")
    touching = [c for c in fixes if "app/main.py" in c.stats.files]
    assert touching, (f"Los commits fix ({', '.join(c.hexsha[:7] for c in fixes)}) no cambian "
                      "app/main.py: el commit del arreglo debe llevar el cambio del código.")
    before = repo.git.show(f"v{first}:app/main.py")
    after = repo.git.show(f"v{patch}:app/main.py")
    assert NOT_FOUND_TEXT not in before or NOT_FOUND_TEXT not in after, (
        f"En v{patch}, app/main.py sigue diciendo «{NOT_FOUND_TEXT} …»: cambia el mensaje del 404.")


# --- task items → checks (format in CONTRIBUTING.md; tests/test_task_items.py keeps it in sync)
TASK_ITEMS: dict[str, tuple[str, ...]] = {
    "1.1": ("funcion.invalidas", "funcion.estables"),          # SemVer, optional "v", ValueError
    "1.2": ("funcion.estables", "funcion.prerelease", "funcion.metadatos",
            "funcion.etiquetas_docker"),                       # full version, "+" → "_"
    "1.3": ("funcion.estables", "funcion.prerelease", "funcion.metadatos"),
    "1.4": ("funcion.estables", "funcion.prerelease"),         # the sha, always
    "2.1": ("registro.etiquetas",),
    "2.2": ("registro.oci", "registro.flotantes"),             # one build: one digest, OCI labels
    "2.3": ("registro.etiquetas", "registro.flotantes"),
    "2.4": ("registro.etiquetas",),
    "3.1": ("git.commit_fix",),
    "3.2": ("registro.etiquetas", "registro.flotantes"),
    "3.3": ("git.etiqueta_anotada", "imagen.version_alineada"),
    "3.4": ("registro.flotantes",),
    "4": ("registro.latest",),
}
UNTASKED: dict[str, str] = {}
KNOWN_GAPS: dict[str, str] = {
    "2.4": "Que publish() lance un error si el registro rechaza un push no se prueba: el "
           "registro del corrector acepta todo y provocar un rechazo exige otro registro.",
}
