"""The CI/CD files of the course (15.5) are valid for the field's tools, without Docker:
the service's reference pipelines (deploy/cicd), the repository's own workflow for forks
(.github/workflows) and the devcontainer. The part of the repository's workflow that can
run offline is run with act."""
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from course import REPO_ROOT, env, pipelines

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
GITHUB_FILES = [*WORKFLOWS, REPO_ROOT / "deploy" / "cicd" / "github-ci.yml"]
GITLAB_FILES = [REPO_ROOT / "deploy" / "cicd" / "gitlab-ci.yml"]
DEVCONTAINER = REPO_ROOT / ".devcontainer"


def ids(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


@pytest.mark.parametrize("path", GITHUB_FILES, ids=ids)
def test_github_workflow_schema(path):
    assert pipelines.yaml_problem(path.read_text()) is None
    assert pipelines.schema_errors(path, "github") == []


@pytest.mark.parametrize("path", GITHUB_FILES, ids=ids)
def test_github_workflow_actionlint(path):
    if not env.has("actionlint"):
        pytest.skip(env.explain_missing([env.get("actionlint")]))
    assert pipelines.actionlint(path) == []


@pytest.mark.parametrize("path", GITLAB_FILES, ids=ids)
def test_gitlab_pipeline_schema(path):
    assert pipelines.schema_errors(path, "gitlab") == []


def test_validators_report_the_mistake(tmp_path):
    """The same helpers fail on broken files, with the line (they are not always-green)."""
    assert "línea 2" in pipelines.yaml_problem("jobs:\n  - name: Extract (example: x)\n")
    broken = tmp_path / "ci.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    env:\n"
                      "      X: ${{ runner.temp }}\n    steps:\n      - run: echo\n")
    if env.has("actionlint"):
        assert any("runner" in f and "línea 6" in f for f in pipelines.actionlint(broken))
    gitlab = tmp_path / "gitlab.yml"
    gitlab.write_text("image:\n  stage: build\n  script: [echo]\n")  # «image» is a keyword
    assert pipelines.schema_errors(gitlab, "gitlab")


def test_devcontainer_is_valid():
    config = json.loads((DEVCONTAINER / "devcontainer.json").read_text())
    dockerfile = DEVCONTAINER / config["build"]["dockerfile"]
    assert dockerfile.exists()
    assert any("docker-in-docker" in feature for feature in config["features"])
    assert "make setup" in config["postCreateCommand"]
    hadolint = Path(os.sys.executable).parent / "hadolint"
    done = subprocess.run([str(hadolint), "--failure-threshold", "warning", str(dockerfile)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(os.environ.get("ACT") == "true", reason="ya dentro de act: sin recursión")
@pytest.mark.slow
def test_repository_workflow_offline_part_runs_with_act():
    """act runs the «validar» job of the repository's workflow on this host; the «curso»
    job (Docker Hub, kind) is skipped with `if: ${{ !github.event.act }}`."""
    if not env.has("act"):
        pytest.skip(env.explain_missing([env.get("act")]))
    with tempfile.TemporaryDirectory(prefix="t15-act-curso-") as tmp:
        event = Path(tmp) / "event.json"
        event.write_text(json.dumps({"act": True, "ref": "refs/heads/main"}))
        done = subprocess.run(
            [pipelines.tool("act"), "push", "-W", ".github/workflows/curso.yml",
             "-P", pipelines.RUNNER_LABEL, "--pull=false", "--no-cache-server", "--json",
             "-e", str(event)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False,
            env={**pipelines._tool_env(), "XDG_CACHE_HOME": tmp})
    log, jobs = pipelines._parse_act(done.stdout + done.stderr)
    assert done.returncode == 0, log[-3000:]
    assert jobs == {"validar": "success"}, jobs
    assert "passed" in log


def test_gitlab_summary_is_read_with_or_without_colours():
    """A Jupyter kernel may ask tools for colour: the jobs' results are read all the same."""
    coloured = ("\x1b[30m\x1b[41m FAIL \x1b[49m\x1b[39m [   21 s] \x1b[94mdeploy\x1b[39m\n"
                " PASS  [  2 s] test: [api]\n  \x1b[31m>\x1b[39m error: timed out\n")
    log, jobs = pipelines._parse_gitlab(coloured)
    assert jobs == {"deploy": "failure", "test (api)": "success"}
    assert "\x1b" not in log and "> error: timed out" in log



def test_the_jobs_docker_holds_the_build_lock_only_while_building(tmp_path):
    """course/shims/docker: `docker build` waits while a cleanup holds the build lock
    exclusive; any other docker command runs at once (the shim calls a stand-in here)."""
    from course import docker as cdocker

    shim = str(pipelines.SHIMS_DIR / "docker")
    lock = tmp_path / "build.lock"
    shim_env = {**os.environ, "TEMA15_DOCKER": "/bin/echo", "TEMA15_BUILD_LOCK": str(lock)}
    builds = (["build", "."], ["image", "build", "."], ["buildx", "build", "."])
    with cdocker.file_lock(lock):
        waiting = [subprocess.Popen([shim, *b], env=shim_env, stdout=subprocess.PIPE, text=True)
                   for b in builds]
        other = subprocess.run([shim, "push", "x"], env=shim_env, capture_output=True,
                               text=True, timeout=20, check=True)
        assert other.stdout == "push x\n"
        time.sleep(1)
        assert [p.poll() for p in waiting] == [None, None, None]
    outputs = [p.communicate(timeout=20)[0] for p in waiting]
    assert outputs == [" ".join(b) + "\n" for b in builds]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_the_jobs_call_docker_through_the_shim(kind):
    """Both runners keep the PATH the course gives them: a job's `docker` is the shim."""
    missing = env.missing("act" if kind == "github" else "gitlabci")
    if missing:
        pytest.skip(env.explain_missing(missing))
    step = 'echo "docker es $(command -v docker)"'
    github = ("on: push\njobs:\n  quien:\n    runs-on: ubuntu-latest\n    steps:\n"
              f"      - run: '{step}'\n")
    gitlab = f"quien:\n  script:\n    - '{step}'\n"
    work = pipelines.new_repo(**{kind: github if kind == "github" else gitlab})
    try:
        run = pipelines.run_act(work) if kind == "github" else pipelines.run_gitlab(work)
    finally:
        pipelines.cleanup(work.run)
    assert run.ok, run.tail()
    assert f"docker es {pipelines.SHIMS_DIR / 'docker'}" in run.log, run.tail()


def test_the_work_repository_tags_without_a_global_git_identity(tmp_path, monkeypatch):
    """An annotated tag needs a committer: a machine (or the --aislado sandbox) without a
    global git identity still tags the release (it failed so inside the sandbox)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "sin-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for variable in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME",
                     "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(variable, raising=False)
    work = pipelines.new_repo("t15-prueba0")
    try:
        work.tag("v1.4.2")
        tag = work.repo.tags["v1.4.2"].tag
        assert tag is not None and tag.tagger.email == pipelines.AUTHOR.email
    finally:
        shutil.rmtree(work.path, ignore_errors=True)


def test_a_matrix_variant_shows_its_own_lines_and_its_errors():
    """act shares one result between the variants of a matrix: when one fails, both end
    with «Job failed», so the tail of each must be its own (here the cause is in api's)."""
    entries = [
        {"jobID": "test", "matrix": {"suite": "api"}, "msg": "FAILED tests/test_health.py::x"},
        {"jobID": "test", "matrix": {"suite": "api"}, "level": "error",
         "msg": "exitcode '1': failure"},
        {"jobID": "test", "matrix": {"suite": "infra"}, "msg": "39 passed"},
        {"jobID": "test", "matrix": {"suite": "infra"}, "msg": "Job failed", "jobResult": "failure"},
        {"jobID": "test", "matrix": {"suite": "api"}, "msg": "Job failed", "jobResult": "failure"},
    ]
    log, jobs = pipelines._parse_act("\n".join(json.dumps(e) for e in entries))
    run = pipelines.PipelineRun("act", 1, 1.0, log, jobs)
    api = run.job_tail("test (api)")
    assert "FAILED tests/test_health.py::x" in api and "ERROR: exitcode" in api
    assert "39 passed" not in api
    assert run.job_tail("test (infra)").splitlines() == ["[test (infra)] 39 passed",
                                                         "[test (infra)] Job failed"]
