"""Lab 05 end to end: both pipelines of the solution run for real (act, gitlab-ci-local)
and score 100 %; the untouched lab fails cleanly; typical mistakes fail their own check
with a Spanish message; a different but valid pair of pipelines scores 100 %; a hanging
workflow is stopped; nothing is left behind."""
import base64
import os
import re
import subprocess
import tempfile
from pathlib import Path

import nbformat
import pytest
import yaml

from course import REPO_ROOT, env, images, k8s, pipelines
from course import docker as cdocker
from grader.grade import grade
from grader.labs import lab05
from tests.conftest import assert_full_marks

SOLUTION = REPO_ROOT / "solutions" / "lab05_ci_cd.ipynb"
LAB = REPO_ROOT / "labs" / "lab05_ci_cd.ipynb"
GITHUB = (REPO_ROOT / "deploy" / "cicd" / "github-ci.yml").read_text()
GITLAB = (REPO_ROOT / "deploy" / "cicd" / "gitlab-ci.yml").read_text()
# A full grading runs eight pipelines: 201 s alone, 826–833 s in CI with the whole suite on
# two cores (session 13), close to the suite's 900 s limit.
FULL_GRADING = pytest.mark.timeout(1800)
RUNNING = ["github.publica", "gitlab.publica", "github.test_para", "gitlab.test_para",
           "github.cache", "secretos.fugas", "despliegue.reglas", "gitlab.artefactos",
           "tests.matriz", "github.junit", "despliegue.cluster"]


def replaced(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    return text


def submit(tmp_path, github: str, gitlab: str) -> Path:
    folder = tmp_path / "entrega-lab05"
    (folder / ".github" / "workflows").mkdir(parents=True)
    (folder / ".github" / "workflows" / "ci.yml").write_text(github)
    (folder / ".gitlab-ci.yml").write_text(gitlab)
    return folder


def assert_leaves_nothing(result) -> None:
    client = cdocker.client()
    assert not client.containers.list(all=True, ignore_removed=True, filters={"label": f"tema15.run={result.run_id}"})
    assert not list(Path(tempfile.gettempdir()).glob(f"{result.run_id}-*"))
    # Tags for a registry that no live course container serves are this grading's leftovers;
    # tags for a live one belong to a grading running in parallel (xdist) and are not ours.
    live = {binding["HostPort"] for c in client.containers.list(ignore_removed=True, filters={"label": "tema15.run"})
            for bindings in (c.ports or {}).values() for binding in (bindings or [])}
    for image in cdocker.list_images(client, filters={"label": "org.opencontainers.image.version=1.4.2"}):
        orphans = [t for t in image.tags if t.startswith("127.0.0.1:")
                   and t.split("/", 1)[0].rsplit(":", 1)[1] not in live]
        assert not orphans, image.tags


@pytest.fixture(scope="module")
def runners(docker_client, request):
    missing = env.missing("act", "gitlabci", "actionlint")
    if missing:
        pytest.skip(env.explain_missing(missing))
    try:  # the deploy jobs apply to it; without one (and outside CI) despliegue.cluster is skipped
        request.getfixturevalue("k8s_cluster")
    except pytest.skip.Exception:
        pass
    images.ensure("python-slim")
    images.ensure("registry")
    return docker_client


def test_solution_files_are_the_reference_pipelines():
    """The lesson, the solution and deploy/cicd teach the same two files."""
    sources = [c.source for c in nbformat.read(SOLUTION, as_version=4).cells
               if c.source.startswith("%%writefile")]
    written = ["\n".join(line for line in s.splitlines()[1:] if "### " not in line) + "\n"
               for s in sources]
    assert written == [GITHUB, GITLAB]


@FULL_GRADING
def test_solution_scores_everything(runners):
    result = grade(SOLUTION)
    if k8s.find() is None:  # no cluster here: only the deploy check cannot be verified
        state = result.statuses()
        assert state.pop("despliegue.cluster") == "skipped"
        assert state.pop("revision.explicacion") == "manual"
        assert set(state.values()) == {"passed"}
    else:
        assert_full_marks(result, "lab05", 12)
    # The prose of Tarea 5 is shown to the instructor, never graded as passed.
    assert result.statuses()["revision.explicacion"] == "manual"
    assert "act -P ubuntu-latest=-self-hosted" in result.messages()["revision.explicacion"]
    assert_leaves_nothing(result)


def test_untouched_lab_fails_cleanly(runners):
    result = grade(LAB)
    assert result.execution.status == "error_en_celda"
    assert "TU CÓDIGO AQUÍ" in result.execution.message
    assert result.score < 0.5 and not result.success
    assert "error" not in result.statuses().values()
    assert "TU CÓDIGO AQUÍ" in result.messages()["github.esquema"]
    assert_leaves_nothing(result)


def test_seed_defects_are_reported_with_their_line(runners, tmp_path):
    """The seed's unquoted step name («…(example: from a VERSION file)») and a GitLab job
    called «image» (a reserved keyword): Spanish messages, nothing is run."""
    github = replaced(GITHUB, ('- name: "Ruff (syntax errors and undefined names)"',
                               "- name: Ruff (example: syntax errors)"))
    gitlab = replaced(GITLAB, ("\nbuild:\n", "\nimage:\n"))
    result = grade(submit(tmp_path, github, gitlab), "lab05")
    state, text = result.statuses(), result.messages()
    assert state["github.esquema"] == "failed"
    assert "YAML inválido en la línea 33" in text["github.esquema"]
    assert state["gitlab.esquema"] == "failed" and "esquema oficial" in text["gitlab.esquema"]
    assert all(state[c] == "failed" for c in RUNNING)
    assert "error" not in state.values()
    assert result.score < 0.5
    assert_leaves_nothing(result)


@FULL_GRADING
def test_typical_mistakes_fail_their_checks(runners, tmp_path):
    """GitHub: the secret copied into an image label, the image built on pull requests,
    pytest without --junitxml, deploy without environment and rendering only (never
    applying to the cluster). GitLab: `|| true` after pytest, no major tag, no matrix and
    no reports:junit. Each fails its check; one grading for all (CI time). --no-cache
    (github.cache) is tested on a recorded log below: here it would rebuild the
    dependencies in all four GitHub pipelines (~60 s of CPU)."""
    github = replaced(
        GITHUB,
        ("    if: github.event_name == 'push'\n", ""),
        ("          docker build \"${args[@]}\" \\\n",
         "          docker build \"${args[@]}\" \\\n"
         "            --label registry.password=\"${{ secrets.REGISTRY_PASSWORD }}\" \\\n"),
        (' --junitxml="reports/pytest-${{ matrix.suite }}.xml"', ""),
        ("    environment: production\n", ""),
        ('if [ -z "$KUBECONFIG_DATA" ]; then', "if true; then"))
    gitlab = replaced(
        GITLAB,
        ('--junitxml="reports/pytest-$SUITE.xml" $files',
         '--junitxml="reports/pytest-$SUITE.xml" $files || true'),
        ('tags="$tags $image:$major.$minor $image:$major"', 'tags="$tags $image:$major.$minor"'),
        ("  parallel:\n    matrix:\n      - SUITE: [api, infra]\n", ""),
        ("    reports:\n      junit: reports/pytest-*.xml\n", ""))
    result = grade(submit(tmp_path, github, gitlab), "lab05")
    state, text = result.statuses(), result.messages()
    assert state["secretos.fugas"] == "failed"
    assert "dentro de la imagen publicada por github" in text["secretos.fugas"]
    assert state["despliegue.reglas"] == "failed"
    assert "pull request ejecutó ['build']" in text["despliegue.reglas"]
    assert state["gitlab.test_para"] == "failed" and "|| true" in text["gitlab.test_para"]
    assert state["gitlab.publica"] == "failed" and "faltan ['1']" in text["gitlab.publica"]
    assert state["tests.matriz"] == "failed" and "En gitlab" in text["tests.matriz"]
    assert "parallel: matrix" in text["tests.matriz"]
    assert state["github.junit"] == "failed" and "--junitxml" in text["github.junit"]
    assert state["despliegue.entorno"] == "failed" and "github" in text["despliegue.entorno"]
    assert state["despliegue.cluster"] == "failed"
    assert "En github" in text["despliegue.cluster"] and "KUBECONFIG_DATA" in text["despliegue.cluster"]
    assert state["gitlab.artefactos"] == "failed" and "reports: junit" in text["gitlab.artefactos"]
    for passing in ("github.esquema", "github.actionlint", "gitlab.esquema", "github.publica",
                    "github.test_para", "github.cache", "secretos.ficheros"):
        assert state[passing] == "passed", f"{passing}: {text[passing]}"
    assert_leaves_nothing(result)


def test_the_jobs_first_build_starts_from_the_kept_layer_cache(runners, run_id):
    """The seed, made once and kept, serves the dependencies step of a job's first build
    (the engine's classic builder, as in the jobs): a grading does not reinstall them."""
    python = images.ensure("python-slim")
    seed = pipelines.seed_build_cache(python)
    assert pipelines.seed_build_cache(python) == seed
    work = pipelines.new_repo(run_id)
    tag = f"{run_id}-semilla:prueba"
    try:
        out = subprocess.run(["docker", "build", "--build-arg", f"PYTHON_IMAGE={python}",
                              "--tag", tag, "."], cwd=work.path, capture_output=True, text=True,
                             env={**os.environ, "DOCKER_BUILDKIT": "0"}, check=True).stdout
    finally:
        cdocker.remove_images([tag])
        pipelines.cleanup(run_id)
    steps = re.split(r"^Step \d+/\d+ : ", out, flags=re.MULTILINE)
    install = [step for step in steps if step.startswith("RUN /opt/venv/bin/pip install")]
    assert len(install) == 1 and "Using cache" in install[0], out


class RecordedFacts:
    """A grading context whose pipeline runs are already recorded (no runner needed)."""

    def __init__(self, facts_by_kind: dict):
        self.facts_by_kind = facts_by_kind

    def memo(self, key, compute):
        return self.facts_by_kind[key]


def test_kubeconfig_in_an_artifact_is_a_leak():
    """The deploy's kubeconfig secret, or the client key inside it, copied into an artifact
    or printed fails secretos.fugas (on recorded facts: no pipeline run, no CI time)."""
    kubeconfig = yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "users": [
        {"name": "ci", "user": {"client-key-data": "Q0xBVkUtUFJJVkFEQQ=="}}]})
    encoded = base64.b64encode(kubeconfig.encode()).decode()
    clean = pipelines.PipelineRun("act", 0, 1.0, "Login Succeeded", {})
    facts = {"secret": "t15-secreto", "after_tag": {"config": "{}"}, "tag": clean,
             "artifacts": {"deployment/version.txt": "1.4.2"},
             "kube_secrets": lab05._kube_secrets(encoded)}
    lab05.secret_not_leaked(RecordedFacts({"github": facts, "gitlab": facts}))  # clean: passes
    copied = {**facts, "artifacts": {"deployment/kubeconfig": kubeconfig}}
    with pytest.raises(AssertionError, match=r"KUBECONFIG_DATA.*deployment/kubeconfig.*gitlab"):
        lab05.secret_not_leaked(RecordedFacts({"github": facts, "gitlab": copied}))
    printed = {**facts, "tag": pipelines.PipelineRun("act", 0, 1.0, "Login Succeeded\n" + encoded, {})}
    with pytest.raises(AssertionError, match=r"el log.*github"):
        lab05.secret_not_leaked(RecordedFacts({"github": printed, "gitlab": facts}))


ALT_GITHUB = """\
name: integracion
on:
  push:
    branches: [main]
    tags: ["v*"]
  pull_request:
permissions: {contents: read}
concurrency: {group: "${{ github.workflow }}-${{ github.ref }}", cancel-in-progress: true}
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: ruff check --select F app
  test:
    needs: [lint]
    runs-on: ubuntu-latest
    strategy:
      matrix:
        include:
          - {part: rutas, files: "tests/test_routes.py tests/test_health.py tests/test_config.py"}
          - {part: resto, files: "tests/test_faults.py tests/test_middleware.py tests/test_redis.py"}
    steps:
      - uses: actions/checkout@v4
      - run: python -m pytest -q -x -p no:cacheprovider --junit-xml="junit-${{ matrix.part }}.xml" ${{ matrix.files }}
  build:
    needs: [test]
    if: ${{ github.event_name != 'pull_request' }}
    runs-on: ubuntu-latest
    outputs: {version: "${{ steps.v.outputs.version }}"}
    steps:
      - uses: actions/checkout@v4
      - id: v
        run: |
          python3 - >> "$GITHUB_OUTPUT" <<'PY'
          import os
          ref, sha = os.environ["GITHUB_REF"], os.environ["GITHUB_SHA"]
          repo = os.environ["REGISTRY"] + "/catalogo"
          tags = [sha[:10]]
          version = "0.0.0-main"
          if ref.startswith("refs/tags/v"):
              version = ref.removeprefix("refs/tags/v")
              major, minor, _ = version.split(".")
              tags += [version, f"{major}.{minor}", major]
          print("version=" + version)
          print("refs=" + " ".join(f"{repo}:{t}" for t in tags))
          PY
        env: {REGISTRY: "${{ vars.REGISTRY }}"}
      - env:
          PASS: ${{ secrets.REGISTRY_PASSWORD }}
          REGISTRY: ${{ vars.REGISTRY }}
        run: |
          export DOCKER_CONFIG="$RUNNER_TEMP/cfg"
          echo "$PASS" | docker login "$REGISTRY" --username robot --password-stdin
          first=""
          for ref in ${{ steps.v.outputs.refs }}; do
            if [ -z "$first" ]; then
              docker build -t "$ref" --build-arg PYTHON_IMAGE="${{ vars.PYTHON_IMAGE }}" \\
                --build-arg VERSION="${{ steps.v.outputs.version }}" --build-arg VCS_REF="$GITHUB_SHA" .
              first="$ref"
            else
              docker tag "$first" "$ref"
            fi
            docker push "$ref"
          done
  deploy:
    needs: build
    if: github.ref == 'refs/heads/main' || startsWith(github.ref, 'refs/tags/')
    environment: {name: produccion}
    runs-on: ubuntu-latest
    env:
      KUBE_B64: ${{ secrets.KUBECONFIG_DATA }}
      NS: ${{ vars.KUBE_NAMESPACE }}
    steps:
      - uses: actions/checkout@v4
      - run: |
          helm template catalogo chart --set image.repository="${{ vars.REGISTRY }}/catalogo" \\
            --set image.tag="${{ needs.build.outputs.version }}" > all.yaml
          if [ -n "$KUBE_B64" ]; then
            echo "$KUBE_B64" | base64 --decode > "$RUNNER_TEMP/kc"
            kubectl --kubeconfig "$RUNNER_TEMP/kc" apply -n "$NS" -f all.yaml
            kubectl --kubeconfig "$RUNNER_TEMP/kc" wait --for=condition=Available deployment --all \\
              -n "$NS" --timeout=90s
            rm "$RUNNER_TEMP/kc"
          fi
"""

ALT_GITLAB = """\
stages: [calidad, pruebas, imagen, despliegue]
variables:
  PIP_CACHE_DIR: ${CI_PROJECT_DIR}/.pip-cache
default:
  cache:
    - key: {files: [requirements.txt]}
      paths: [.pip-cache/]
workflow:
  rules:
    - if: $CI_MERGE_REQUEST_IID || $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_TAG
    - if: $CI_COMMIT_BRANCH == "main"
.solo_entregas:
  rules:
    - if: $CI_COMMIT_TAG
    - if: $CI_COMMIT_BRANCH == "main"
lint:
  stage: calidad
  script: [ruff check --select F app]
test:
  stage: pruebas
  parallel:
    matrix:
      - PARTE: [rutas, resto]
  script:
    - |
      case "$PARTE" in
        rutas) ficheros="tests/test_routes.py tests/test_health.py tests/test_config.py" ;;
        *) ficheros="tests/test_faults.py tests/test_middleware.py tests/test_redis.py" ;;
      esac
    - python -m pytest -q -p no:cacheprovider --junitxml="junit-$PARTE.xml" $ficheros
  artifacts:
    when: always
    paths: [junit-*.xml]
    reports: {junit: junit-*.xml}
build:
  extends: .solo_entregas
  stage: imagen
  variables: {DOCKER_CONFIG: "$CI_PROJECT_DIR/.docker-config"}
  script:
    - echo "$REGISTRY_PASSWORD" | docker login -u robot --password-stdin "$REGISTRY"
    - VERSION="${CI_COMMIT_TAG:-v0.0.0-main}"; VERSION="${VERSION#v}"
    - docker build -t "$REGISTRY/catalogo:$CI_COMMIT_SHA" --build-arg PYTHON_IMAGE="$PYTHON_IMAGE" --build-arg VERSION="$VERSION" --build-arg VCS_REF="$CI_COMMIT_SHA" .
    - docker push "$REGISTRY/catalogo:$CI_COMMIT_SHA"
    - |
      if [ -n "$CI_COMMIT_TAG" ]; then
        for t in "$VERSION" "$(echo "$VERSION" | cut -d. -f1,2)" "$(echo "$VERSION" | cut -d. -f1)"; do
          docker tag "$REGISTRY/catalogo:$CI_COMMIT_SHA" "$REGISTRY/catalogo:$t"
          docker push "$REGISTRY/catalogo:$t"
        done
      fi
deploy:
  stage: despliegue
  environment: produccion
  rules:
    - if: $CI_COMMIT_TAG
      when: manual
    - if: $CI_COMMIT_BRANCH == "main"
  script:
    - VERSION="${CI_COMMIT_TAG:-v0.0.0-main}"; VERSION="${VERSION#v}"
    - helm template catalogo chart --set image.repository="$REGISTRY/catalogo" --set image.tag="$VERSION" > all.yaml
    - |
      if [ -n "$KUBECONFIG_DATA" ]; then
        echo "$KUBECONFIG_DATA" | base64 -d > kc.yaml
        kubectl --kubeconfig kc.yaml apply -n "$KUBE_NAMESPACE" -f all.yaml
        kubectl --kubeconfig kc.yaml wait --for=condition=Available deployment --all -n "$KUBE_NAMESPACE" --timeout=90s
        rm kc.yaml
      fi
"""


@FULL_GRADING
def test_valid_alternative_scores_everything(runners, tmp_path):
    """Tags computed in Python or with cut, docker tag instead of several -t, full sha
    tags, extends and other stage names, matrices written another way (include:, a case in
    the script), and a deploy that applies the rendered chart with kubectl and waits with
    kubectl wait: still 100 %."""
    result = grade(submit(tmp_path, ALT_GITHUB, ALT_GITLAB), "lab05")
    assert result.score == 1.0, result.to_markdown()
    assert_leaves_nothing(result)


def test_hanging_workflow_is_stopped(runners, tmp_path, monkeypatch):
    monkeypatch.setattr(lab05, "PIPELINE_TIMEOUT_S", 8)
    github = replaced(GITHUB, ("run: ruff check --select E9,F63,F7,F82 app tests",
                               "run: sleep 600"))
    gitlab = replaced(GITLAB, ("\nbuild:\n", "\nimage:\n"))  # not run: keeps the test short
    result = grade(submit(tmp_path, github, gitlab), "lab05")
    state, text = result.statuses(), result.messages()
    assert state["github.publica"] == "failed"
    assert "se cortó por tiempo" in text["github.publica"]
    assert "superó 8 s" in text["github.publica"]
    assert state["github.test_para"] == "failed" and "no terminó" in text["github.test_para"]
    assert "error" not in state.values()
    # Not a timing target (a loaded machine takes longer): the `sleep 600` was not waited for.
    assert result.seconds < 600
    assert_leaves_nothing(result)


def _workflow_ctx(tmp_path, github: str):
    """A grading context with only the files (the static checks read nothing else)."""
    from types import SimpleNamespace

    return SimpleNamespace(workdir=submit(tmp_path, github, GITLAB))


@pytest.mark.parametrize("github", [GITHUB, ALT_GITHUB,
                                    replaced(GITHUB, ("on:\n  push:\n    branches: [main]\n"
                                                      "    tags: [\"v*.*.*\"]\n  pull_request:\n"
                                                      "    branches: [main]\n",
                                                      "on:\n  push:\n    branches: [main]\n"
                                                      "    tags: [\"v[0-9]+.[0-9]+.[0-9]+\"]\n"
                                                      "  pull_request:\n"))],
                         ids=["solucion", "alternativa", "filtro_con_rangos"])
def test_triggers_and_lint_accept_valid_workflows(tmp_path, github):
    ctx = _workflow_ctx(tmp_path, github)
    lab05.github_triggers(ctx)
    lab05.github_lint_job(ctx)


ON = "on:\n  push:\n    branches: [main]\n    tags: [\"v*.*.*\"]\n  pull_request:\n    branches: [main]\n"
TRIGGER_MISTAKES = {
    "sin_pull_request": (ON, "on:\n  push:\n    branches: [main]\n    tags: [\"v*.*.*\"]\n", "«pull_request»"),
    "pr_contra_otra_rama": ("  pull_request:\n    branches: [main]\n", "  pull_request:\n    branches: [develop]\n",
                            "pull request contra main"),
    "sin_tags": ("    tags: [\"v*.*.*\"]\n", "", "v1.4.2"),
    "tags_que_no_casan": ("    tags: [\"v*.*.*\"]\n", "    tags: [\"release-*\"]\n", "v1.4.2"),
    "solo_tags": ("    branches: [main]\n    tags", "    tags", "push a main"),
}


@pytest.mark.parametrize("old, new, words", TRIGGER_MISTAKES.values(), ids=TRIGGER_MISTAKES.keys())
def test_wrong_triggers_fail(tmp_path, old, new, words):
    ctx = _workflow_ctx(tmp_path, replaced(GITHUB, (old, new)))
    with pytest.raises(AssertionError, match=words):
        lab05.github_triggers(ctx)


@pytest.mark.parametrize("old, new, words", [
    ("ruff check --select", "flake8 --select", "ruff check"),
    ("  test:\n    needs: lint\n", "  test:\n", "needs: lint"),
], ids=["sin_ruff", "test_sin_needs"])
def test_wrong_lint_job_fails(tmp_path, old, new, words):
    ctx = _workflow_ctx(tmp_path, replaced(GITHUB, (old, new)))
    with pytest.raises(AssertionError, match=words):
        lab05.github_lint_job(ctx)


# --- GitLab: the pip cache (read from the file) and workflow: rules (evaluated by
# gitlab-ci-local, as GitLab would for each event) ------------------------------------------

def _gitlab_ctx(tmp_path, gitlab: str):
    from types import SimpleNamespace

    return SimpleNamespace(workdir=submit(tmp_path, GITHUB, gitlab))


SOLUTION_CACHE = "  cache:\n    key: pip-$CI_COMMIT_REF_SLUG\n    paths: [.cache/pip]\n"
PIP_DIR = '  PIP_CACHE_DIR: "$CI_PROJECT_DIR/.cache/pip"\n'


@pytest.mark.parametrize("gitlab", [
    GITLAB, ALT_GITLAB,
    replaced(GITLAB, (SOLUTION_CACHE, "  cache:\n    key: pip\n    paths: [$PIP_CACHE_DIR]\n")),
    replaced(GITLAB, (SOLUTION_CACHE, "  cache:\n    key: pip\n    paths: [./.cache/]\n")),
    replaced(GITLAB, (SOLUTION_CACHE, ""), ("default:\n  interruptible: true\n",
                                            "default:\n  interruptible: true\n" + SOLUTION_CACHE)),
], ids=["solucion", "alternativa", "variable_en_paths", "carpeta_padre", "en_default"])
def test_pip_cache_accepts_valid_forms(tmp_path, gitlab):
    lab05.gitlab_pip_cache(_gitlab_ctx(tmp_path, gitlab))


@pytest.mark.parametrize("old, new, words", [
    (PIP_DIR, "", "sin la variable PIP_CACHE_DIR"),
    (PIP_DIR, '  PIP_CACHE_DIR: "$HOME/.cache/pip"\n', "fuera de $CI_PROJECT_DIR"),
    ("    key: pip-$CI_COMMIT_REF_SLUG\n", "", "no tiene key"),
    ("    paths: [.cache/pip]\n", "    paths: [.pip]\n", "no incluye $CI_PROJECT_DIR/.cache/pip"),
    (SOLUTION_CACHE, "", "sin cache:"),
], ids=["sin_pip_cache_dir", "fuera_del_proyecto", "sin_key", "otra_carpeta", "sin_cache"])
def test_pip_cache_mistakes_fail(tmp_path, old, new, words):
    with pytest.raises(AssertionError, match=re.escape(words)):
        lab05.gitlab_pip_cache(_gitlab_ctx(tmp_path, replaced(GITLAB, (old, new))))


WORKFLOW = """workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_TAG =~ /^v\\d+\\.\\d+\\.\\d+/
    - if: $CI_COMMIT_BRANCH == "main"
"""
# GitLab's own "branch pipelines until a merge request is opened" pattern.
WORKFLOW_SWITCH = """workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS
      when: never
    - if: $CI_COMMIT_BRANCH
    - if: $CI_COMMIT_TAG
"""
needs_gitlab_ci_local = pytest.mark.skipif(
    pipelines.tool("gitlab-ci-local") is None, reason="sin gitlab-ci-local (scripts/install_cicd.sh)")


@needs_gitlab_ci_local
@pytest.mark.parametrize("gitlab", [GITLAB, ALT_GITLAB, replaced(GITLAB, (WORKFLOW, WORKFLOW_SWITCH))],
                         ids=["solucion", "alternativa", "ramas_hasta_la_mr"])
def test_workflow_rules_accept_valid_forms(tmp_path, gitlab):
    lab05.gitlab_workflow_rules(_gitlab_ctx(tmp_path, gitlab))


@needs_gitlab_ci_local
@pytest.mark.parametrize("new, words", [
    ("", "Falta «workflow: rules»"),
    (WORKFLOW.replace('    - if: $CI_COMMIT_BRANCH == "main"\n', "    - if: $CI_COMMIT_BRANCH\n"),
     "un push a feature/nueva-ruta con su merge request abierta crea pipeline"),
    (WORKFLOW.replace('    - if: $CI_PIPELINE_SOURCE == "merge_request_event"\n', ""),
     "una merge request no crea pipeline"),
    (WORKFLOW.replace("    - if: $CI_COMMIT_TAG =~ /^v\\d+\\.\\d+\\.\\d+/\n", ""),
     "el tag v1.4.2 no crea pipeline"),
    (WORKFLOW.replace('"main"', '"master"'), "un push a main no crea pipeline"),
], ids=["sin_workflow", "todas_las_ramas", "sin_merge_requests", "sin_tags", "otra_rama"])
def test_workflow_rules_mistakes_fail(tmp_path, new, words):
    with pytest.raises(AssertionError, match=re.escape(words)):
        lab05.gitlab_workflow_rules(_gitlab_ctx(tmp_path, replaced(GITLAB, (WORKFLOW, new))))


# --- Tarea 5 (prose): shown to the instructor as «revisión manual», 0 automatic points ------

@pytest.mark.parametrize("notebook, words", [
    (SOLUTION, "Respuesta: «Con `act -P ubuntu-latest=-self-hosted`"),
    (LAB, "la tarea 5 está sin responder"),
    (None, "una carpeta sin cuaderno"),
], ids=["solucion", "sin_responder", "carpeta"])
def test_prose_is_left_for_manual_review(tmp_path, notebook, words):
    from grader import checks
    from grader.context import GradingContext
    from grader.runner import NOT_EXECUTED, ExecutionReport

    if notebook is not None:
        (tmp_path / notebook.name).write_bytes(notebook.read_bytes())
    ctx = GradingContext("lab05", tmp_path, "t15-prueba", ExecutionReport(NOT_EXECUTED, ""))
    chk = next(c for c in checks.select("lab05") if c.id == "revision.explicacion")
    result = checks.run_check(chk, ctx)
    assert (result.status, result.points, result.earned) == ("manual", 0, 0)
    assert words in result.message, result.message


BUILDKIT_NO_CACHE = """\
[build]   | #3 [internal] load metadata for docker.io/library/python:3.11.13-slim-bookworm
[build]   | #4 [builder 1/5] FROM docker.io/library/python:3.11.13-slim-bookworm
[build]   | #4 CACHED
[build]   | #9 [runtime 1/6] FROM docker.io/library/python:3.11.13-slim-bookworm
[build]   | #9 CACHED
[build]   | #6 [builder 2/5] RUN python -m venv /opt/venv
[build]   | #7 [builder 3/5] COPY requirements.txt .
"""


@pytest.mark.parametrize("log, reused", [
    # BuildKit marks the FROM of a local base CACHED even with --no-cache: no reused layer.
    (BUILDKIT_NO_CACHE, 0),
    (BUILDKIT_NO_CACHE + "[build]   | #6 CACHED\n[build]   | #7 CACHED\n", 2),
    ("[build]   | Step 2/9 : RUN pip install -r requirements.txt\n"
     "[build]   |  ---> Using cache\n[build]   |  ---> Using cache\n", 2),
], ids=["buildkit_no_cache", "buildkit", "clasico"])
def test_reused_build_steps_are_counted_without_the_base_image(log, reused):
    assert pipelines.reused_build_steps(log.splitlines()) == reused


def test_a_build_without_cache_fails_github_cache():
    """github.cache on the push to main: a recorded `docker build --no-cache` log of the
    build job (BuildKit) fails it with the hint; the same log with the dependency steps
    reused passes (on recorded facts: no pipeline run)."""
    def main_run(log: str) -> dict:
        return {"main": pipelines.PipelineRun("act", 0, 1.0, log, {"build": "success"})}

    with pytest.raises(AssertionError, match="no reutilizó capas.*--no-cache"):
        lab05.github_reuses_cache(RecordedFacts({"github": main_run(BUILDKIT_NO_CACHE)}))
    reused = BUILDKIT_NO_CACHE + "[build]   | #6 CACHED\n[build]   | #7 CACHED\n"
    lab05.github_reuses_cache(RecordedFacts({"github": main_run(reused)}))
