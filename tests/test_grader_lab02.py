"""Lab 02 end to end: the solution scores 100 %, the untouched lab fails cleanly, each
typical mistake in ``release_tags`` (the team's tagging policy), in ``push_tags`` or in the
publishing is caught by its own check with a Spanish message, and a different but valid
pair of modules passes every check that a folder can be graded on. A mistake in the
function is graded with only the checks its test looks at (`only=`): a full grading of a
folder also pushes to a registry (publicar.rechazo)."""

import nbformat
import pytest

from course import REPO_ROOT, images
from course import docker as cdocker
from tests.conftest import assert_full_marks
from grader.grade import grade
from grader.labs import lab02

SOLUTION = REPO_ROOT / "solutions" / "lab02_semver.ipynb"
LAB = REPO_ROOT / "labs" / "lab02_semver.ipynb"
FUNCTION_CHECKS = ["funcion.estables", "funcion.cero", "funcion.prerelease", "funcion.metadatos",
                   "funcion.politica", "funcion.ramas", "funcion.invalidas",
                   "funcion.etiquetas_docker"]
REGISTRY_CHECKS = ["registro.etiquetas", "registro.rama", "registro.flotantes", "registro.latest",
                   "registro.oci", "imagen.version_alineada"]


def solution_module(variable: str = "MODULE") -> str:
    """A module that the solution's %%writefile cells write (markers removed)."""
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        if cell.source.startswith(f'%%writefile "{{{variable}}}"'):
            lines = cell.source.splitlines()[1:]
            return "\n".join(l for l in lines if "### " not in l) + "\n"
    raise AssertionError(f"la solución no tiene la celda %%writefile de {variable}")


MODULE = solution_module()
PUSH_MODULE = solution_module("PUSH_MODULE")
FLOATING = '    if not parsed.prerelease:\n'
ZERO_RULE = '        if parsed.major > 0:\n            tags.append(str(parsed.major))\n'
LATEST_RULE = '        if latest:\n            tags.append("latest")\n'
COLLISION = '        if slug[0].isdigit() or slug == "latest" or slug.startswith("sha-"):\n'
SHA_RULE = '    if not re.fullmatch(r"[0-9a-f]{40}", sha):\n'
for fragment in (FLOATING, ZERO_RULE, LATEST_RULE, COLLISION, SHA_RULE):
    assert fragment in MODULE, fragment
PUSH_CHECK = '            if "error" in event:\n'
assert PUSH_CHECK in PUSH_MODULE


def submit_module(tmp_path, source: str, push_source: str = PUSH_MODULE):
    folder = tmp_path / "entrega-lab02"
    folder.mkdir()
    (folder / "etiquetas.py").write_text(source)
    (folder / "publicar.py").write_text(push_source)
    return folder


def assert_leaves_nothing(result) -> None:
    flt = {"label": f"tema15.run={result.run_id}"}
    client = cdocker.client()
    assert not client.containers.list(all=True, ignore_removed=True, filters=flt)
    assert not cdocker.list_images(client, filters=flt)


@pytest.fixture(scope="module")
def engine(docker_client):
    images.ensure("python-slim")
    images.ensure("registry")
    return docker_client


def test_solution_scores_everything(engine):
    result = grade(SOLUTION)
    assert_full_marks(result, "lab02", 17)
    assert_leaves_nothing(result)  # the registry the hook started is gone too


def test_untouched_lab_fails_cleanly(engine):
    result = grade(LAB)
    assert result.execution.status == "error_en_celda"
    assert "TU CÓDIGO AQUÍ" in result.execution.message
    assert result.score < 0.2 and not result.success
    assert "error" not in result.statuses().values()  # the grader itself did not break
    assert "TU CÓDIGO AQUÍ" in result.messages()["funcion.estables"]
    assert "ninguna etiqueta" in result.messages()["registro.etiquetas"]
    assert result.statuses()["publicar.rechazo"] == "failed"
    assert_leaves_nothing(result)


def test_latest_on_prerelease_and_short_revision_are_caught(engine, tmp_path):
    """Executed: the candidate also takes `latest` (the source's CI script did that), the
    build passes the short commit as VCS_REF, the patch release gets a lightweight Git tag
    and the branch tip is published as a release (without branch=…). Each fault fails its
    own check; the rest still passes."""
    nb = nbformat.read(SOLUTION, as_version=4)
    for cell in nb.cells:
        if cell.source.startswith('%%writefile "{MODULE}"'):
            cell.source = cell.source.replace("    return tags + commit\n",
                                              '    if parsed.prerelease:\n'
                                              '        tags.append("latest")\n'
                                              '    return tags + commit\n')
        cell.source = cell.source.replace('buildargs={"VERSION": version, "VCS_REF": sha}',
                                          'buildargs={"VERSION": version, "VCS_REF": sha[:7]}')
        cell.source = cell.source.replace(
            'repo.create_tag(f"v{patch_version}", message=f"Versión {patch_version}")',
            'repo.create_tag(f"v{patch_version}")')
        cell.source = cell.source.replace('publish("Feature/Filtro-por-nombre", '
                                          'branch="Feature/Filtro-por-nombre")',
                                          'publish("Feature/Filtro-por-nombre")')
    source = "".join(c.source for c in nb.cells)
    assert 'repo.create_tag(f"v{patch_version}")' in source and "sha[:7]" in source
    assert 'publish("Feature/Filtro-por-nombre")' in source
    variant = tmp_path / "lab02_entrega.ipynb"
    nbformat.write(nb, variant)
    result = grade(variant)
    assert result.execution.status == "ok", result.execution.message
    state, text = result.statuses(), result.messages()
    assert state["registro.latest"] == "failed"
    assert "latest apunta a" in text["registro.latest"] and "1.0.1" in text["registro.latest"]
    assert state["funcion.prerelease"] == "failed"
    assert state["registro.oci"] == "failed"
    assert "commit completo" in text["registro.oci"] and "VCS_REF" in text["registro.oci"]
    assert state["registro.rama"] == "failed"
    assert "No está la etiqueta de la rama «feature-filtro-por-nombre»" in text["registro.rama"]
    assert state["git.etiqueta_anotada"] == "failed"
    assert "v1.0.1 es una etiqueta ligera" in text["git.etiqueta_anotada"]
    for passing in ("registro.etiquetas", "registro.flotantes", "imagen.version_alineada",
                    "funcion.estables", "funcion.invalidas", "funcion.ramas", "publicar.rechazo"):
        assert state[passing] == "passed", f"{passing}: {text[passing]}"
    assert_leaves_nothing(result)


def test_directory_with_the_solution_module(engine, tmp_path):
    """A folder is graded without executing: the function is checked, the registry is not."""
    result = grade(submit_module(tmp_path, MODULE), "lab02")
    assert result.execution.status == "no_ejecutado"
    state = result.statuses()
    assert all(state[c] == "passed" for c in FUNCTION_CHECKS), result.to_markdown()
    assert state["publicar.rechazo"] == "passed"  # push_tags is called on a folder too
    for check_id in REGISTRY_CHECKS:
        assert state[check_id] == "skipped"  # not verifiable without executing: never passed
        assert "entrega de ficheros" in result.messages()[check_id]
    assert result.verifiable_points < result.total_points


def test_floating_tags_on_prerelease_are_caught(engine, tmp_path):
    source = MODULE.replace(FLOATING, "    if True:\n")
    result = grade(submit_module(tmp_path, source), "lab02",
                   only=["funcion.prerelease", "funcion.estables", "funcion.ramas"])
    state, text = result.statuses(), result.messages()
    assert state["funcion.prerelease"] == "failed"
    assert "sobran ['1', '1.0', 'latest']" in text["funcion.prerelease"]
    assert "pre-release" in text["funcion.prerelease"]
    assert state["funcion.estables"] == state["funcion.ramas"] == "passed"


def test_major_tag_for_zero_series_is_caught(engine, tmp_path):
    source = MODULE.replace(ZERO_RULE, "        tags.append(str(parsed.major))\n")
    result = grade(submit_module(tmp_path, source), "lab02",
                   only=["funcion.cero", "funcion.estables", "funcion.prerelease"])
    state, text = result.statuses(), result.messages()
    assert state["funcion.cero"] == "failed"
    assert "sobran ['0']" in text["funcion.cero"] and "SemVer §4" in text["funcion.cero"]
    assert state["funcion.estables"] == state["funcion.prerelease"] == "passed"


def test_latest_policy_ignored_is_caught(engine, tmp_path):
    source = MODULE.replace(LATEST_RULE, '        tags.append("latest")\n')
    result = grade(submit_module(tmp_path, source), "lab02",
                   only=["funcion.politica", "funcion.estables", "funcion.cero"])
    state, text = result.statuses(), result.messages()
    assert state["funcion.politica"] == "failed"
    assert "sobran ['latest']" in text["funcion.politica"] and "latest=False" in text["funcion.politica"]
    assert state["funcion.estables"] == state["funcion.cero"] == "passed"


@pytest.mark.parametrize("old,new,word", [
    (COLLISION, "        if False:\n", "'rama-3.0'"),                       # a branch named 3.0
    ('branch.lower()', "branch", "'feature-nuevo-checkout'"),              # not lowercased
    ('.strip(".-")', "", "'arreglo-urgente'"),                            # ends not trimmed
    ("        return [slug[:128].rstrip(\".-\"), *commit]\n",
     "        return [slug[:128].rstrip(\".-\"), str(parsed), *commit]\n", "sobran ['1.2.3']"),
], ids=["colision", "mayusculas", "extremos", "version_en_rama"])
def test_branch_policy_mistakes_are_caught(engine, tmp_path, old, new, word):
    assert old in MODULE
    result = grade(submit_module(tmp_path, MODULE.replace(old, new)), "lab02",
                   only=["funcion.ramas", "funcion.estables", "funcion.prerelease"])
    state, text = result.statuses(), result.messages()
    assert state["funcion.ramas"] == "failed"
    assert word in text["funcion.ramas"], text["funcion.ramas"]
    assert state["funcion.estables"] == state["funcion.prerelease"] == "passed"


def test_short_commit_accepted_is_caught(engine, tmp_path):
    source = MODULE.replace(SHA_RULE, "    if False:\n")
    result = grade(submit_module(tmp_path, source), "lab02",
                   only=["funcion.invalidas", "funcion.estables"])
    state, text = result.statuses(), result.messages()
    assert state["funcion.invalidas"] == "failed"
    assert "'a1b2c3d'" in text["funcion.invalidas"] and "40 caracteres" in text["funcion.invalidas"]
    assert state["funcion.estables"] == "passed"


def test_silent_push_is_caught(engine, tmp_path):
    """The source's mistake: the SDK's push stream is consumed and never looked at."""
    source = PUSH_MODULE.replace(PUSH_CHECK, "            if False:\n")
    result = grade(submit_module(tmp_path, MODULE, source), "lab02", only=["publicar.rechazo"])
    (check_result,) = result.checks
    assert check_result.status == "failed"
    assert "solo lectura" in check_result.message and "termina sin error" in check_result.message
    assert_leaves_nothing(result)  # the read-only registry and the probe image are gone


@pytest.mark.parametrize("source,word", [
    ("def push_tags(repository, tags):\n    raise RuntimeError('no publico nada')\n",
     "con un registro que acepta"),
    ("def push_tags(repository, tags):\n    return None\n", "publica cada etiqueta"),
], ids=["siempre_falla", "no_publica"])
def test_push_that_always_raises_or_never_pushes_is_caught(engine, tmp_path, source, word):
    result = grade(submit_module(tmp_path, MODULE, source), "lab02", only=["publicar.rechazo"])
    (check_result,) = result.checks
    assert check_result.status == "failed" and word in check_result.message, check_result.message
    assert_leaves_nothing(result)


def test_plus_not_sanitised_is_caught(engine, tmp_path):
    source = MODULE.replace('str(parsed).replace("+", "_")', "str(parsed)")
    result = grade(submit_module(tmp_path, source), "lab02", only=[
        "funcion.metadatos", "funcion.etiquetas_docker", "funcion.estables", "funcion.prerelease"])
    state, text = result.statuses(), result.messages()
    assert state["funcion.metadatos"] == "failed"
    assert "«+»" in text["funcion.metadatos"] and "1.0.0+git.sha.a1b2c3d" in text["funcion.metadatos"]
    assert state["funcion.etiquetas_docker"] == "failed"
    assert "Docker rechaza" in text["funcion.etiquetas_docker"]
    assert state["funcion.estables"] == state["funcion.prerelease"] == "passed"


HAND_SPLIT = '''\
def release_tags(version, sha, *, branch=None, latest=True):
    text = version.removeprefix("v")
    numbers, _, pre = text.split("+")[0].partition("-")
    major, minor, patch = numbers.split(".")
    commit = [f"sha-{sha[:7]}", f"sha-{sha}"]
    if branch is not None:
        import re
        slug = re.sub(r"[^a-z0-9_.-]+", "-", branch.lower()).strip(".-")
        if slug[:1].isdigit() or slug == "latest" or slug.startswith("sha-"):
            slug = "rama-" + slug
        return [slug[:128].rstrip(".-"), *commit]
    tags = [text.replace("+", "_")]
    if not pre:
        tags += [f"{major}.{minor}"] + ([major] if major != "0" else []) + (["latest"] if latest else [])
    return tags + commit
'''


def test_missing_validation_is_caught(engine, tmp_path):
    result = grade(submit_module(tmp_path, HAND_SPLIT), "lab02",
                   only=["funcion.invalidas", "funcion.estables", "funcion.prerelease"])
    state, text = result.statuses(), result.messages()
    assert state["funcion.invalidas"] == "failed"
    assert "no rechaza una versión inválida" in text["funcion.invalidas"]
    assert "'01.2.3'" in text["funcion.invalidas"]
    assert state["funcion.estables"] == state["funcion.prerelease"] == "passed"


def test_leading_v_not_stripped_is_caught(engine, tmp_path):
    result = grade(submit_module(tmp_path, MODULE.replace('.removeprefix("v")', "")), "lab02",
                   only=["funcion.estables", "funcion.metadatos", "funcion.invalidas"])
    state, text = result.statuses(), result.messages()
    assert state["funcion.estables"] == "failed"
    assert "'v2.0.0'" in text["funcion.estables"] and "removeprefix" in text["funcion.estables"]
    assert state["funcion.metadatos"] == state["funcion.invalidas"] == "passed"


def test_endless_function_is_stopped(engine, tmp_path):
    source = MODULE.replace("    try:\n", "    while True:\n        pass\n    try:\n", 1)
    result = grade(submit_module(tmp_path, source), "lab02", only=list(FUNCTION_CHECKS))
    state, text = result.statuses(), result.messages()
    assert all(state[c] == "failed" for c in FUNCTION_CHECKS)
    assert f"no terminó en {lab02.FUNCTION_TIMEOUT_S} s" in text["funcion.estables"]
    assert "error" not in state.values()
    assert result.seconds < lab02.FUNCTION_TIMEOUT_S + 30


ALTERNATIVE = r'''
import re
import string

# The regular expression published on semver.org, instead of the semver package; the branch
# is cleaned character by character instead of with re.sub.
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")
ALLOWED = set(string.ascii_lowercase + string.digits + "_.-")


def _slug(branch):
    out = []
    for char in branch.lower():
        if char in ALLOWED:
            out.append(char)
        elif not out or out[-1] != "\x00":
            out.append("\x00")
    slug = "".join(out).replace("\x00", "-")
    while slug and slug[0] in ".-":
        slug = slug[1:]
    while slug and slug[-1] in ".-":
        slug = slug[:-1]
    if not slug:
        raise ValueError(f"rama sin caracteres válidos: {branch!r}")
    if slug[0] in string.digits or slug == "latest" or slug[:4] == "sha-":
        slug = "rama-" + slug
    slug = slug[:128]
    while slug[-1] in ".-":
        slug = slug[:-1]
    return slug


def release_tags(version, sha, *, branch=None, latest=True):
    text = version[1:] if version.startswith("v") else version
    match = SEMVER.fullmatch(text)
    if not match:
        raise ValueError(f"versión no válida: {version!r}")
    if len(sha) != 40 or set(sha) - set("0123456789abcdef"):
        raise ValueError(f"commit no válido (se esperan 40 hexadecimales): {sha!r}")
    commit = {"sha-" + sha, "sha-" + sha[:7]}
    if branch is not None:
        return sorted({_slug(branch)} | commit)
    major, minor, _, prerelease, _ = match.groups()
    tags = {text.replace("+", "_")} | commit
    if not prerelease:
        tags.add(major + "." + minor)
        if major != "0":
            tags.add(major)
        if latest:
            tags.add("latest")
    return sorted(tags)
'''

# docker push through the CLI, which exits non-zero when the registry refuses.
ALTERNATIVE_PUSH = '''
import subprocess


def push_tags(repository, tags):
    for tag in tags:
        subprocess.run(["docker", "push", "--quiet", f"{repository}:{tag}"], check=True,
                       capture_output=True, timeout=50)
'''


def test_alternative_modules_pass(engine, tmp_path):
    result = grade(submit_module(tmp_path, ALTERNATIVE, ALTERNATIVE_PUSH), "lab02")
    state = result.statuses()
    assert all(state[c] == "passed" for c in FUNCTION_CHECKS + ["publicar.rechazo"]), \
        result.to_markdown()
    assert_leaves_nothing(result)


# --- the patch's fix commit, on a release repository built here (no engine) -------------

def release_repo(workdir, fix_message: str = "fix(items): el 404 dice qué id no existe",
                 change_message: bool = True, code_in_fix: bool = True):
    """The work dir the notebook leaves: service/ and publicacion/ with v1.0.0, a fix
    and the annotated v1.0.1, as the solution's cells do it."""
    import shutil

    import git as gitpython

    shutil.copytree(REPO_ROOT / "service", workdir / "service",
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    release = workdir / lab02.RELEASE_DIR
    shutil.copytree(workdir / "service", release)
    repo = gitpython.Repo.init(release, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Prueba")
        config.set_value("user", "email", "prueba@example.com")
    repo.git.add(all=True)
    repo.index.commit("feat: catálogo de artículos")
    repo.create_tag("v1.0.0", message="Versión 1.0.0")
    main_py = release / "app" / "main.py"
    if change_message:
        main_py.write_text(main_py.read_text().replace(
            "No existe ningún artículo con id {item_id}.", "No existe el artículo {item_id}."))
    else:  # a code change that leaves the 404 message as it was
        main_py.write_text(main_py.read_text() + "\n# retoque sin arreglar nada\n")
    if code_in_fix:
        repo.git.add(all=True)
    (release / "NOTAS.md").write_text("arreglo\n")
    repo.git.add("NOTAS.md")
    repo.index.commit(fix_message)
    (release / "VERSION").write_text("1.0.1\n")
    repo.git.add(all=True)
    repo.index.commit("chore(release): 1.0.1")
    repo.create_tag("v1.0.1", message="Versión 1.0.1")
    return workdir


def run_only(workdir, check_id: str):
    from grader import checks, runner
    from grader.context import GradingContext

    ctx = GradingContext("lab02", workdir, "t15-pruebafix", runner.ExecutionReport(runner.OK))
    (chk,) = checks.select("lab02", [check_id])
    return checks.run_check(chk, ctx)


@pytest.mark.parametrize("kwargs,word", [
    ({"fix_message": "arreglado el 404"}, "ningún commit de tipo fix"),
    ({"fix_message": "feat: mensaje nuevo"}, "ningún commit de tipo fix"),
    ({"code_in_fix": False}, "no cambian app/main.py"),
    ({"change_message": False}, "sigue diciendo"),
], ids=["sin_tipo", "tipo_feat", "fix_sin_codigo", "mensaje_igual"])
def test_patch_without_a_real_fix_commit_is_caught(tmp_path, kwargs, word):
    result = run_only(release_repo(tmp_path, **kwargs), "git.commit_fix")
    assert result.status == "failed", result
    assert word in result.message, result.message


@pytest.mark.parametrize("message", ["fix(items): el 404 dice qué id no existe",
                                     "fix: mensaje del 404 más claro", "Fix!: 404 más claro\n\ncuerpo"])
def test_patch_with_a_fix_commit_passes(tmp_path, message):
    result = run_only(release_repo(tmp_path, fix_message=message), "git.commit_fix")
    assert result.status == "passed", result.message


def test_fix_commit_is_not_verifiable_for_a_directory(tmp_path):
    from grader import checks, runner
    from grader.context import GradingContext

    ctx = GradingContext("lab02", release_repo(tmp_path), "t15-pruebafix",
                         runner.ExecutionReport(runner.NOT_EXECUTED))
    (chk,) = checks.select("lab02", ["git.commit_fix"])
    assert checks.run_check(chk, ctx).status == "skipped"
