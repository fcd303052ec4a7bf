"""Lab 02 end to end: the solution scores 100 %, the untouched lab fails cleanly, each
typical mistake in ``release_tags`` or in the publishing is caught by its own check with a
Spanish message, and a different but valid ``release_tags`` passes every function check."""

import nbformat
import pytest

from course import REPO_ROOT, images
from course import docker as cdocker
from tests.conftest import assert_full_marks
from grader.grade import grade
from grader.labs import lab02

SOLUTION = REPO_ROOT / "solutions" / "lab02_semver.ipynb"
LAB = REPO_ROOT / "labs" / "lab02_semver.ipynb"
FUNCTION_CHECKS = ["funcion.estables", "funcion.prerelease", "funcion.metadatos",
                   "funcion.invalidas", "funcion.etiquetas_docker"]
REGISTRY_CHECKS = ["registro.etiquetas", "registro.flotantes", "registro.latest", "registro.oci",
                   "imagen.version_alineada"]


def solution_module() -> str:
    """The etiquetas.py that the solution's %%writefile cell writes (markers removed)."""
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        if cell.source.startswith("%%writefile"):
            lines = cell.source.splitlines()[1:]
            return "\n".join(l for l in lines if "### " not in l) + "\n"
    raise AssertionError("la solución no tiene la celda %%writefile")


MODULE = solution_module()
FLOATING = ('    if not parsed.prerelease:\n'
            '        tags += [f"{parsed.major}.{parsed.minor}", str(parsed.major), "latest"]\n')
assert FLOATING in MODULE





def submit_module(tmp_path, source: str):
    folder = tmp_path / "entrega-lab02"
    folder.mkdir()
    (folder / "etiquetas.py").write_text(source)
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
    assert_full_marks(result, "lab02", 6)
    assert_leaves_nothing(result)  # the registry the hook started is gone too


def test_untouched_lab_fails_cleanly(engine):
    result = grade(LAB)
    assert result.execution.status == "error_en_celda"
    assert "TU CÓDIGO AQUÍ" in result.execution.message
    assert result.score < 0.2 and not result.success
    assert "error" not in result.statuses().values()  # the grader itself did not break
    assert "TU CÓDIGO AQUÍ" in result.messages()["funcion.estables"]
    assert "ninguna etiqueta" in result.messages()["registro.etiquetas"]
    assert_leaves_nothing(result)


def test_latest_on_prerelease_and_missing_revision_are_caught(engine, tmp_path):
    """Executed: the candidate also takes `latest` (the source's CI script did that), the
    build forgets VCS_REF and the patch release gets a lightweight Git tag. Each fault
    fails its own check; the rest still passes."""
    nb = nbformat.read(SOLUTION, as_version=4)
    for cell in nb.cells:
        if cell.source.startswith("%%writefile"):
            cell.source = cell.source.replace("    tags.append(sha)\n",
                                              '    tags.append(sha)\n    if parsed.prerelease:\n'
                                              '        tags.append("latest")\n')
        cell.source = cell.source.replace('buildargs={"VERSION": version, "VCS_REF": sha}',
                                          'buildargs={"VERSION": version}')
        cell.source = cell.source.replace(
            'repo.create_tag(f"v{patch_version}", message=f"Versión {patch_version}")',
            'repo.create_tag(f"v{patch_version}")')
    assert 'repo.create_tag(f"v{patch_version}")' in "".join(c.source for c in nb.cells)
    variant = tmp_path / "lab02_entrega.ipynb"
    nbformat.write(nb, variant)
    result = grade(variant)
    assert result.execution.status == "ok", result.execution.message
    state, text = result.statuses(), result.messages()
    assert state["registro.latest"] == "failed"
    assert "latest apunta a" in text["registro.latest"] and "1.0.1" in text["registro.latest"]
    assert state["funcion.prerelease"] == "failed"
    assert state["registro.oci"] == "failed"
    assert "org.opencontainers.image.revision='desconocido'" in text["registro.oci"]
    assert "VCS_REF" in text["registro.oci"]
    assert state["git.etiqueta_anotada"] == "failed"
    assert "v1.0.1 es una etiqueta ligera" in text["git.etiqueta_anotada"]
    for passing in ("registro.etiquetas", "registro.flotantes", "imagen.version_alineada",
                    "funcion.estables", "funcion.invalidas"):
        assert state[passing] == "passed", (passing, text[passing])


def test_directory_with_the_solution_module(engine, tmp_path):
    """A folder is graded without executing: the function is checked, the registry is not."""
    result = grade(submit_module(tmp_path, MODULE), "lab02")
    assert result.execution.status == "no_ejecutado"
    state = result.statuses()
    assert all(state[c] == "passed" for c in FUNCTION_CHECKS), result.to_markdown()
    for check_id in REGISTRY_CHECKS:
        assert state[check_id] == "skipped"  # not verifiable without executing: never passed
        assert "entrega de ficheros" in result.messages()[check_id]
    assert result.verifiable_points < result.total_points


def test_floating_tags_on_prerelease_are_caught(engine, tmp_path):
    source = MODULE.replace(FLOATING, FLOATING.replace("if not parsed.prerelease:", "if True:"))
    result = grade(submit_module(tmp_path, source), "lab02")
    state, text = result.statuses(), result.messages()
    assert state["funcion.prerelease"] == "failed"
    assert "sobran ['1', '1.0', 'latest']" in text["funcion.prerelease"]
    assert "pre-release" in text["funcion.prerelease"]
    assert state["funcion.estables"] == "passed"


def test_plus_not_sanitised_is_caught(engine, tmp_path):
    source = MODULE.replace('str(parsed).replace("+", "_")', "str(parsed)")
    result = grade(submit_module(tmp_path, source), "lab02")
    state, text = result.statuses(), result.messages()
    assert state["funcion.metadatos"] == "failed"
    assert "«+»" in text["funcion.metadatos"] and "1.0.0+git.sha.a1b2c3d" in text["funcion.metadatos"]
    assert state["funcion.etiquetas_docker"] == "failed"
    assert "Docker rechaza" in text["funcion.etiquetas_docker"]
    assert state["funcion.estables"] == state["funcion.prerelease"] == "passed"


HAND_SPLIT = '''\
def release_tags(version, sha):
    text = version.removeprefix("v")
    numbers, _, pre = text.split("+")[0].partition("-")
    major, minor, patch = numbers.split(".")
    tags = [text.replace("+", "_")]
    if not pre:
        tags += [f"{major}.{minor}", major, "latest"]
    return tags + [sha]
'''


def test_missing_validation_is_caught(engine, tmp_path):
    result = grade(submit_module(tmp_path, HAND_SPLIT), "lab02")
    state, text = result.statuses(), result.messages()
    assert state["funcion.invalidas"] == "failed"
    assert "no rechaza una versión inválida" in text["funcion.invalidas"]
    assert "'01.2.3'" in text["funcion.invalidas"]
    assert state["funcion.estables"] == state["funcion.prerelease"] == "passed"


def test_leading_v_not_stripped_is_caught(engine, tmp_path):
    result = grade(submit_module(tmp_path, MODULE.replace('.removeprefix("v")', "")), "lab02")
    state, text = result.statuses(), result.messages()
    assert state["funcion.estables"] == "failed"
    assert "'v2.0.0'" in text["funcion.estables"] and "removeprefix" in text["funcion.estables"]
    assert state["funcion.metadatos"] == state["funcion.invalidas"] == "passed"


def test_endless_function_is_stopped(engine, tmp_path):
    source = MODULE.replace("    try:\n", "    while True:\n        pass\n    try:\n", 1)
    result = grade(submit_module(tmp_path, source), "lab02")
    state, text = result.statuses(), result.messages()
    assert all(state[c] == "failed" for c in FUNCTION_CHECKS)
    assert f"no terminó en {lab02.FUNCTION_TIMEOUT_S} s" in text["funcion.estables"]
    assert "error" not in state.values()
    assert result.seconds < lab02.FUNCTION_TIMEOUT_S + 30


ALTERNATIVE = r'''
import re

# The regular expression published on semver.org, instead of the semver package.
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")


def release_tags(version, sha):
    text = version[1:] if version.startswith("v") else version
    match = SEMVER.fullmatch(text)
    if not match:
        raise ValueError(f"versión no válida: {version!r}")
    major, minor, _, prerelease, _ = match.groups()
    floating = () if prerelease else (f"{major}.{minor}", major, "latest")
    return [sha, *floating, text.replace("+", "_")]
'''


def test_alternative_function_passes(engine, tmp_path):
    result = grade(submit_module(tmp_path, ALTERNATIVE), "lab02")
    state = result.statuses()
    assert all(state[c] == "passed" for c in FUNCTION_CHECKS), result.to_markdown()


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
