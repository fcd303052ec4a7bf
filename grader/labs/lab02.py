"""Lab 02 (15.2): a tagging policy for SemVer releases and branch builds, published to a
real registry.

The student's ``release_tags`` (module ``etiquetas.py``) and ``push_tags`` (module
``publicar.py``) are untrusted code: each runs in a separate Python process with a timeout,
and only its JSON answers come back. ``push_tags`` is called against a registry in
read-only maintenance mode (it must raise) and against the grader's registry (it must
publish). The registry checks ask the registry the grader started (``before_execution``)
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
from course import env, imagebuild
from course import registry as creg
from grader import runner
from grader.checks import NotVerifiable, check

MODULE = "etiquetas.py"
PUSH_MODULE = "publicar.py"
REPOSITORY = "catalogo"
FUNCTION_TIMEOUT_S = 10
PUSH_TIMEOUT_S = 60
SHA = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"   # a full commit id, not the table's
DOCKER_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")  # Docker's tag grammar
VERSION_LABEL = "org.opencontainers.image.version"
REVISION_LABEL = "org.opencontainers.image.revision"
FULL_SHA = re.compile(r"[0-9a-f]{40}")
BRANCH_BUILD = "Feature/Filtro-por-nombre"  # the branch the notebook publishes (Tarea 4)

# The hidden battery: (version, sha, keyword arguments), grouped by what they exercise.
STABLE = [("1.2.3", {}), ("10.20.30", {}), ("v2.0.0", {}), ("v3.1.4", {})]
ZERO = [("0.4.0", {}), ("v0.12.7", {}), ("0.0.1", {})]
PRERELEASE = [("1.0.0-alpha.1", {}), ("2.1.0-rc.2", {}), ("v3.0.0-beta", {}),
              ("0.5.0-rc.1", {}), ("1.0.0-x-y-z.--", {})]
BUILD_METADATA = [("1.0.0+git.sha.a1b2c3d", {}), ("2.3.4+20240501", {}),
                  ("1.0.0-rc.1+build.5", {}), ("0.3.0+exp.sha.5114f85", {})]
POLICY = [("1.3.6", {"latest": False}), ("0.8.2", {"latest": False}),
          ("2.0.0-rc.1", {"latest": False}), ("4.5.6+b.1", {"latest": False})]
BRANCHES = [("1.2.3", {"branch": "main"}), ("1.2.3", {"branch": "feature/Nuevo-Checkout"}),
            ("2.0.0-rc.1", {"branch": "fix/ISSUE-42_timeout"}),
            ("1.2.3", {"branch": "-.arreglo//urgente.-"}), ("1.2.3", {"branch": "Año nuevo/ñandú"}),
            ("1.2.3", {"branch": "release/1.x"}), ("1.2.3", {"branch": "3.0"}),
            ("1.2.3", {"branch": "LATEST"}), ("1.2.3", {"branch": "sha-prueba"}),
            ("1.2.3", {"branch": "latest-ui"}), ("1.2.3", {"branch": "feature/" + "x" * 200}),
            ("0.4.0", {"branch": "dev", "latest": False})]
INVALID = ["1.2", "01.2.3", "1.2.3-", "latest", "", "1.2.3.4", "v", "1.2.x"]
BAD_SHAS = ["a1b2c3d", "0F1E2D3C4B5A69788796A5B4C3D2E1F00F1E2D3C", "g" * 40, SHA + "0", ""]
BAD_BRANCHES = ["///", "-.-", "ñ"]


def case_key(version: str, sha: str = SHA, kwargs: dict | None = None) -> str:
    return json.dumps([version, sha, kwargs or {}], ensure_ascii=False, sort_keys=True)


def _cases() -> list[tuple[str, str, dict]]:
    good = STABLE + ZERO + PRERELEASE + BUILD_METADATA + POLICY + BRANCHES
    return ([(v, SHA, kw) for v, kw in good] + [(v, SHA, {}) for v in INVALID]
            + [("1.2.3", s, {}) for s in BAD_SHAS] + [("1.2.3", s, {"branch": "dev"}) for s in BAD_SHAS[:1]]
            + [("1.2.3", SHA, {"branch": b}) for b in BAD_BRANCHES]
            + [("1.2", SHA, {"branch": "dev"})])


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
for key, version, sha, kwargs in cases:
    try:
        value = release_tags(version, sha, **kwargs)
        if isinstance(value, (list, tuple)) and all(isinstance(t, str) for t in value):
            results[key] = {"tags": list(value)}
        else:
            results[key] = {"bad": repr(value)[:200]}
    except BaseException as exc:
        results[key] = {"error": type(exc).__name__, "value_error": isinstance(exc, ValueError),
                        "message": str(exc)[:300]}
    save({"__started__": True, **results})
'''


# --- the reference policy (what the lab asks for) ---------------------------------------

def branch_slug(branch: str) -> str:
    slug = re.sub(r"[^a-z0-9_.-]+", "-", branch.lower()).strip(".-")
    if slug and (slug[0].isdigit() or slug == "latest" or slug.startswith("sha-")):
        slug = f"rama-{slug}"
    return slug[:128].rstrip(".-")


def expected_tags(version: str, sha: str = SHA, *, branch: str | None = None,
                  latest: bool = True) -> set[str]:
    commit = {f"sha-{sha[:7]}", f"sha-{sha}"}
    if branch is not None:
        return {branch_slug(branch)} | commit
    v = semver.Version.parse(version.removeprefix("v"))
    tags = {str(v).replace("+", "_")} | commit
    if not v.prerelease:
        tags.add(f"{v.major}.{v.minor}")
        if v.major > 0:
            tags.add(str(v.major))
        if latest:
            tags.add("latest")
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
        cases = [[case_key(v, s, kw), v, s, kw] for v, s, kw in _cases()]
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


def _call(version: str, sha: str, kwargs: dict) -> str:
    args = [repr(version), "S" if sha == SHA else repr(sha)]
    args += [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"release_tags({', '.join(args)})"


def _result(ctx, version: str, sha: str = SHA, kwargs: dict | None = None) -> dict:
    answers = _answers(ctx)
    key = case_key(version, sha, kwargs)
    if key not in answers["results"]:
        raise AssertionError(f"{_call(version, sha, kwargs or {})} no terminó en "
                             f"{FUNCTION_TIMEOUT_S} s (¿un bucle infinito?).")
    return answers["results"][key]


def _raised(result: dict) -> str:
    """«NotImplementedError (…)» in words, with a hint for an unfilled gap."""
    text = result["error"] + (f" ({result['message']})" if result["message"].strip() else "")
    if result["error"] == "NotImplementedError":
        text += ", es decir, el hueco «# TU CÓDIGO AQUÍ» sigue sin resolver"
    return text


def _tags_of(ctx, version: str, kwargs: dict, hint: str) -> list[str]:
    result = _result(ctx, version, SHA, kwargs)
    call = _call(version, SHA, kwargs)
    if "error" in result:
        raise AssertionError(f"{call} lanza {_raised(result)}. {hint} (S = {SHA!r})")
    if "bad" in result:
        raise AssertionError(f"{call} debe devolver una lista de cadenas y devuelve "
                             f"{result['bad']}.")
    return result["tags"]


def _compare(ctx, cases: list[tuple[str, dict]], hint: str) -> None:
    for version, kwargs in cases:
        tags = _tags_of(ctx, version, kwargs, hint)
        want = expected_tags(version, **kwargs)
        if len(tags) != len(set(tags)) or set(tags) != want:
            extra, missing = sorted(set(tags) - want), sorted(want - set(tags))
            detail = "; ".join(part for part in (
                f"sobran {extra}" if extra else "", f"faltan {missing}" if missing else "",
                "hay etiquetas repetidas" if len(tags) != len(set(tags)) else "") if part)
            raise AssertionError(f"{_call(version, SHA, kwargs)} devuelve {tags}: {detail}. "
                                 f"{hint} (S = {SHA!r})")


def _rejected(ctx, version: str, sha: str, kwargs: dict, why: str) -> None:
    result = _result(ctx, version, sha, kwargs)
    call = _call(version, sha, kwargs)
    if "tags" in result or "bad" in result:
        raise AssertionError(f"{call} no rechaza {why} (devuelve "
                             f"{result.get('tags', result.get('bad'))}): lanza ValueError.")
    if not result["value_error"]:
        raise AssertionError(f"{call} lanza {_raised(result)}; debe lanzar ValueError.")
    if not result["message"].strip():
        raise AssertionError(f"El ValueError de {call} no tiene mensaje: di qué valor es y por "
                             "qué no vale.")


# --- checks on the function -------------------------------------------------------------

COMMIT_HINT = ("Toda compilación lleva «sha-» con los 7 primeros caracteres del commit y «sha-» "
               "con el commit entero.")


@check("funcion.estables", points=2)
def stable_versions(ctx):
    """Versión estable: X.Y.Z, X.Y, X, latest y las dos etiquetas del commit (también con «v» delante)."""
    _compare(ctx, STABLE, "Una versión estable lleva su versión completa, las flotantes X.Y y X, "
                          "latest y las dos etiquetas del commit; una «v» inicial (como en v2.0.0) "
                          "se quita con removeprefix(\"v\"). " + COMMIT_HINT)


@check("funcion.cero", points=1)
def zero_major(ctx):
    """Una 0.Y.Z estable no lleva la etiqueta «0»: la serie 0.x no promete compatibilidad."""
    _compare(ctx, ZERO, "En la serie 0.x cualquier versión puede romper la compatibilidad "
                        "(SemVer §4): una etiqueta «0» saltaría de una 0.Y a otra incompatible. "
                        "Lleva 0.Y, latest y el commit, pero no «0».")


@check("funcion.prerelease", points=2)
def prereleases(ctx):
    """Una pre-release solo recibe su propia etiqueta y las del commit."""
    _compare(ctx, PRERELEASE, "Una pre-release (1.0.0-rc.1) no es estable: ni X.Y, ni X, ni latest "
                              "deben apuntar a ella; solo su versión completa y las del commit.")


@check("funcion.metadatos", points=1)
def build_metadata(ctx):
    """Los metadatos de compilación (+…) se sanean: «+» pasa a «_»."""
    _compare(ctx, BUILD_METADATA, "Docker no admite «+» en una etiqueta: cámbialo por «_» en la "
                                  "versión completa (1.0.0+git.abc → 1.0.0_git.abc). Los metadatos "
                                  "no cambian si la versión es estable o no.")


@check("funcion.politica", points=1)
def latest_policy(ctx):
    """Con latest=False no se produce «latest»; el resto de la política no cambia."""
    _compare(ctx, POLICY, "latest=False es publicar un parche de una línea antigua: todo igual "
                          "(X.Y, X si no es 0.x, el commit) salvo «latest», que sigue en la "
                          "versión más nueva.")


@check("funcion.ramas", points=2)
def branch_builds(ctx):
    """Una compilación de rama lleva el nombre saneado de la rama y las del commit, nada de la versión."""
    _compare(ctx, BRANCHES, "Con branch, solo el nombre de la rama saneado (minúsculas; cada tramo "
                            "de caracteres fuera de a-z, 0-9, «_», «.», «-» pasa a un «-»; sin «.» "
                            "ni «-» en los extremos; 128 como mucho; «rama-» delante si empieza "
                            "por un dígito, es latest o empieza por sha-) y las del commit.")
    for branch in BAD_BRANCHES:
        _rejected(ctx, "1.2.3", SHA, {"branch": branch}, "una rama sin ningún carácter válido")
    _rejected(ctx, "1.2", SHA, {"branch": "dev"}, "una versión inválida en una compilación de rama")
    _rejected(ctx, "1.2.3", BAD_SHAS[0], {"branch": "dev"},
              "un commit abreviado en una compilación de rama")


@check("funcion.invalidas", points=2)
def invalid_inputs(ctx):
    """Una versión que no es SemVer o un commit que no es completo se rechazan con ValueError y un mensaje."""
    for version in INVALID:
        _rejected(ctx, version, SHA, {}, "una versión inválida; valida con semver.Version.parse")
    for sha in BAD_SHAS:
        _rejected(ctx, "1.2.3", sha, {}, "un commit que no son 40 caracteres hexadecimales en "
                                         "minúscula")


@check("funcion.etiquetas_docker", points=1)
def valid_docker_tags(ctx):
    """Todas las etiquetas cumplen la gramática de Docker y no se repiten."""
    for version, kwargs in STABLE + ZERO + PRERELEASE + BUILD_METADATA + POLICY + BRANCHES:
        tags = _tags_of(ctx, version, kwargs, "Son datos válidos: no deben rechazarse.")
        bad = [t for t in tags if not DOCKER_TAG.fullmatch(t)]
        assert not bad, (f"Para {_call(version, SHA, kwargs)} hay etiquetas que Docker rechaza: "
                         f"{bad}. Una etiqueta solo puede tener letras, dígitos, «_», «.» y «-» "
                         "(máximo 128, sin empezar por «.» o «-»).")
        assert len(tags) == len(set(tags)), (f"Para {_call(version, SHA, kwargs)} hay etiquetas "
                                             f"repetidas: {tags}.")


# --- the student's push_tags, against a registry that rejects pushes and one that accepts

PUSH_CALLER = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
try:
    import publicar
    publicar.push_tags(sys.argv[2], json.loads(sys.argv[3]))
except BaseException as exc:
    print(json.dumps({"raised": type(exc).__name__, "message": str(exc)[:300]}))
else:
    print(json.dumps({"raised": None}))
'''
PROBE_REPOSITORY = "sonda-publicar"


def _push_with_student_code(ctx, repository: str, tags: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"{ctx.run_id}-publicar-") as tmp:
        caller = Path(tmp, "caller.py")
        caller.write_text(PUSH_CALLER)
        try:
            done = subprocess.run([sys.executable, "-I", str(caller), str(ctx.workdir), repository,
                                   json.dumps(tags)], cwd=tmp, capture_output=True, text=True,
                                  timeout=PUSH_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"push_tags({repository!r}, {tags}) no terminó en "
                                 f"{PUSH_TIMEOUT_S} s.") from None
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise AssertionError(f"push_tags no se pudo ejecutar: {done.stderr.strip()[-300:]}")
    return json.loads(lines[-1])


def _probe_image(ctx, references: list[str]) -> None:
    """A tiny image (one small file on scratch), labelled with the run, under each name."""
    with tempfile.TemporaryDirectory(prefix=f"{ctx.run_id}-sonda-") as tmp:
        Path(tmp, "sonda.txt").write_text(f"{ctx.run_id}\n")
        Path(tmp, "Dockerfile").write_text("FROM scratch\nCOPY sonda.txt /\n")
        report = imagebuild.build(tmp, references[0], run=ctx.run_id, quiet=True)
    for reference in references[1:]:
        repository, tag = reference.rsplit(":", 1)
        report.image.tag(repository, tag=tag)


@check("publicar.rechazo", points=2, needs=("docker",))
def push_fails_loudly(ctx):
    """push_tags publica cada etiqueta y lanza una excepción si el registro rechaza el push."""
    host = _host(ctx, executed=False)
    if not (ctx.workdir / PUSH_MODULE).exists():
        raise AssertionError(f"No existe {PUSH_MODULE} en la carpeta de trabajo: la tarea 2 lo "
                             "escribe con la celda %%writefile (o entrégalo en la raíz).")
    try:
        read_only = creg.start(ctx.run_id, suffix="registro-solo-lectura", read_only=True).host
    except (creg.RegistryError, DockerException) as exc:
        raise RuntimeError(f"el corrector no pudo arrancar el registro de solo lectura: {exc}") from None
    good, bad = f"{host}/{PROBE_REPOSITORY}", f"{read_only}/{PROBE_REPOSITORY}"
    _probe_image(ctx, [f"{good}:uno", f"{good}:dos", f"{bad}:uno"])
    accepted = _push_with_student_code(ctx, good, ["uno", "dos"])
    assert accepted["raised"] is None, (
        f"push_tags({good!r}, ['uno', 'dos']) lanza {accepted['raised']} ({accepted['message']}) "
        "con un registro que acepta los push.")
    published = creg.tags(host, PROBE_REPOSITORY)
    assert published == ["dos", "uno"], (
        f"Tras push_tags(…, ['uno', 'dos']) el registro tiene {published}: publica cada etiqueta.")
    rejected = _push_with_student_code(ctx, bad, ["uno"])
    assert rejected["raised"], (
        f"El registro {read_only} está en solo lectura y rechaza el push, pero push_tags termina "
        "sin error: la CI creería publicada una imagen que no está. El SDK no lanza nada: revisa "
        "cada evento del push y lanza una excepción si trae la clave «error» (o usa docker push "
        "con check=True).")
# --- checks on the registry ----------------------------------------------------------------

def before_execution(workdir: Path, run_id: str) -> dict:
    """Start the registry the lab publishes to (labelled with the run, so cleanup removes it)."""
    if not env.has("docker"):
        return {"registry": None}
    try:
        return {"registry": creg.start(run_id).host}
    except (creg.RegistryError, DockerException, RuntimeError) as exc:
        return {"registry": None, "registry_error": str(exc).splitlines()[0][:300]}


def _host(ctx, *, executed: bool = True) -> str:
    if executed and ctx.execution.status == runner.NOT_EXECUTED:
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
            others = [r for r in creg.catalog(host) if r != PROBE_REPOSITORY]
            where = (f" El registro solo tiene los repositorios {others}: publica en "
                     f"{host}/{REPOSITORY}." if others else "")
            raise AssertionError(f"El registro no tiene ninguna etiqueta en «{REPOSITORY}»: el "
                                 "cuaderno no llegó a publicar (¿se ejecutaron las tareas 2 a "
                                 f"4?).{where}")
        return found
    return ctx.memo("registro", read)


def _short(digest: str | None) -> str:
    return digest[:19] if digest else "nada"


def _commit_of(ctx, ref: str) -> str:
    """The full commit id behind a Git tag or branch of the notebook's release repository."""
    repo = _release_repo(ctx)
    try:
        return repo.commit(ref).hexsha
    except (git.BadName, ValueError):
        raise AssertionError(f"El repositorio {RELEASE_DIR}/ no tiene «{ref}».") from None


@check("registro.etiquetas", points=2, needs=("docker",))
def registry_has_tags(ctx):
    """El registro tiene las etiquetas de las tres versiones publicadas, con las de su commit."""
    digests = _digests(ctx)
    wanted = set()
    for version in releases(ctx):
        wanted |= expected_tags(version, _commit_of(ctx, f"v{version}"))
    missing = sorted(wanted - set(digests))
    assert not missing, (f"Faltan en el registro las etiquetas {missing} (tiene {sorted(digests)}). "
                         "Cada publicación debe enviar todas las etiquetas de release_tags, con el "
                         "commit completo del tag de Git (git rev-parse HEAD).")


@check("registro.rama", points=1, needs=("docker",))
def branch_build_published(ctx):
    """La compilación de la rama publica su nombre saneado y su commit, sin tocar las etiquetas de versión."""
    host = _host(ctx)
    digests = _digests(ctx)
    slug, sha = branch_slug(BRANCH_BUILD), _commit_of(ctx, BRANCH_BUILD)
    assert digests.get(slug), (f"No está la etiqueta de la rama «{slug}» en el registro (tiene "
                               f"{sorted(digests)}): publica la rama {BRANCH_BUILD} con "
                               "publish(rama, branch=rama).")
    assert digests.get(f"sha-{sha}") == digests[slug], (
        f"«sha-{sha}» apunta a {_short(digests.get(f'sha-{sha}'))} y «{slug}» a "
        f"{_short(digests[slug])}: la imagen de la rama lleva también las etiquetas de su commit.")
    revision = creg.labels(host, REPOSITORY, slug).get(REVISION_LABEL)
    assert revision == sha, (f"La imagen «{slug}» tiene {REVISION_LABEL}={revision!r}, no el commit "
                             f"de la rama ({sha}).")
    versions = {t for v in releases(ctx) for t in expected_tags(v, "0" * 40)} - {f"sha-{'0' * 7}",
                                                                                  f"sha-{'0' * 40}"}
    leaked = sorted(t for t in versions if digests.get(t) == digests[slug])
    assert not leaked, (f"Las etiquetas de versión {leaked} apuntan a la imagen de la rama: una "
                        "compilación de rama no publica ninguna etiqueta de versión.")


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
    floating = [f"{v.major}.{v.minor}"] + ([str(v.major)] if v.major > 0 else [])
    for tag in floating:
        assert digests.get(tag) == digests[patch], (
            f"«{tag}» apunta a {_short(digests.get(tag))} y {patch} a "
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
                        "publica su propia etiqueta y las de su commit.")


@check("registro.oci", points=2, needs=("docker",))
def oci_labels(ctx):
    """Cada imagen publicada lleva las etiquetas OCI version y revision (el commit completo), coherentes con sus tags."""
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
        assert FULL_SHA.fullmatch(revision), (
            f"La imagen {tag} tiene {REVISION_LABEL}={revision!r}: pasa el commit completo "
            "(40 caracteres, git rev-parse HEAD) como argumento VCS_REF.")
        commit = _commit_of(ctx, f"v{version}")
        assert revision == commit, (f"La imagen {tag} tiene {REVISION_LABEL}={revision}, pero el tag "
                                    f"de Git v{version} es el commit {commit}.")
        assert digests.get(f"sha-{revision}") == digests[tag], (
            f"La etiqueta del commit «sha-{revision}» (de {REVISION_LABEL} de {tag}) apunta a "
            f"{_short(digests.get(f'sha-{revision}'))}, no a la imagen {tag} "
            f"({_short(digests[tag])}): usa el mismo commit para VCS_REF y para release_tags.")


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
    "1.1": ("funcion.invalidas", "funcion.estables", "funcion.ramas"),  # SemVer, "v", full sha
    "1.2": ("funcion.estables", "funcion.prerelease", "funcion.ramas"),  # sha-<short>, sha-<full>
    "1.3": ("funcion.ramas", "funcion.etiquetas_docker"),              # branch slug, no collisions
    "1.4": ("funcion.estables", "funcion.prerelease", "funcion.metadatos",
            "funcion.etiquetas_docker"),                               # "+" → "_", floating
    "1.5": ("funcion.cero",),                                          # no "0" for 0.x
    "1.6": ("funcion.politica",),                                      # latest=False
    "2.1": ("publicar.rechazo",),                                      # raises on a rejected push
    "2.2": ("registro.etiquetas", "registro.oci", "registro.flotantes"),
    "3.1": ("git.commit_fix",),
    "3.2": ("registro.etiquetas", "registro.flotantes"),
    "3.3": ("git.etiqueta_anotada", "imagen.version_alineada"),
    "3.4": ("registro.flotantes",),
    "4": ("registro.latest", "registro.rama"),
}
UNTASKED: dict[str, str] = {}
KNOWN_GAPS: dict[str, str] = {}
