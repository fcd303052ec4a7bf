"""CI/CD pipelines run for real on this machine (15.5): GitHub Actions workflows with
``act`` and GitLab CI pipelines with ``gitlab-ci-local``, against a throwaway git
repository of the service.

What runs where, and why:
- ``act -P ubuntu-latest=-self-hosted`` runs every step on this host (no runner image
  to pull: there is no Docker Hub here). act clones every ``uses:`` action when a job
  starts, even for a step whose ``if:`` is false, so offline only local actions and
  ``actions/checkout`` (which act handles itself) can appear in a job that runs here.
- ``gitlab-ci-local --shell-executor-no-image`` runs jobs without ``image:`` in a shell.
- Both get their secrets from a file outside the repository (never on the command line,
  where ``ps`` would show them), and a per-run HOME/cache directory, removed afterwards.

The docker commands inside the pipelines talk to the same engine as the course; the
images they build are tagged with the run's registry host (a free port per run), so
``cleanup`` finds exactly those.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import git
import yaml
from docker.errors import DockerException, ImageNotFound

from course import REPO_ROOT, processes, show
from course import docker as cdocker

SERVICE_DIR = REPO_ROOT / "service"
CHART_DIR = REPO_ROOT / "deploy" / "helm" / "catalogo"
REFERENCE_DIR = REPO_ROOT / "deploy" / "cicd"
GITHUB_WORKFLOW = ".github/workflows/ci.yml"
GITLAB_PIPELINE = ".gitlab-ci.yml"
RUNNER_LABEL = "ubuntu-latest=-self-hosted"   # act: run the job's steps on this host
DEFAULT_TIMEOUT_S = 300
AUTHOR = git.Actor("Curso Tema 15", "curso@example.invalid")
IGNORED = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache", "*.pyc")
GCL_SUMMARY = re.compile(r"^\s*(PASS|FAIL|WARN)\s+\[[^\]]*\]\s+(.+?)\s*$")
# Colour codes: gitlab-ci-local colours its output when the environment asks for it (a
# Jupyter kernel may set FORCE_COLOR); the log the course keeps and parses is plain text.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class PipelineToolMissing(RuntimeError):
    """act, gitlab-ci-local or actionlint is not installed (Spanish message)."""


# --- tools ---------------------------------------------------------------------------

def tool(name: str) -> str | None:
    """The executable installed by ``scripts/install_cicd.sh`` (venv bin first), or PATH's."""
    local = Path(sys.executable).parent / name
    if local.exists() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which(name)


def version(name: str) -> str | None:
    exe = tool(name)
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20,
                             check=False, env=_tool_env())
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if out.returncode == 0 and text else None


def _require(name: str) -> str:
    exe = tool(name)
    if not exe:
        raise PipelineToolMissing(
            f"No está instalado `{name}`: ejecuta `bash scripts/install_cicd.sh` "
            "(lo llama `make setup`).")
    return exe


def _tool_env(**extra: str) -> dict[str, str]:
    """The host environment, with the venv's bin first (ruff, pytest, helm, kubectl)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["ACT_DISABLE_VERSION_CHECK"] = "1"   # act would call GitHub at start-up
    env.update(extra)
    return env


SHIMS_DIR = Path(__file__).parent / "shims"


def _job_env(**extra: str) -> dict[str, str]:
    """The tools' environment for running a pipeline: the jobs' ``docker`` is the course's
    shim (``course/shims/docker``), which holds the build lock shared only while an image
    builds. Holding it for the whole pipeline (16–60 s) made every other run's cleanup wait
    for a moment with no pipeline running (31.6 s measured, session 12)."""
    env = _tool_env(**extra)
    real = shutil.which("docker", path=env["PATH"])
    if real and os.name == "posix":
        env.update(PATH=f"{SHIMS_DIR}{os.pathsep}{env['PATH']}", TEMA15_DOCKER=real,
                   TEMA15_BUILD_LOCK=str(cdocker.BUILD_LOCK))
    return env


# --- the work repository ---------------------------------------------------------------

@dataclass
class WorkRepo:
    """A git repository with the service at its root and the Helm chart in ``chart/``."""
    path: Path
    run: str

    @property
    def repo(self) -> git.Repo:
        return git.Repo(self.path)

    def write(self, relative: str, text: str) -> Path:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return target

    def commit(self, message: str) -> str:
        """Commit everything and return the full sha."""
        repo = self.repo
        repo.git.add(A=True)
        repo.index.commit(message, author=AUTHOR, committer=AUTHOR)
        return repo.head.commit.hexsha

    def tag(self, name: str) -> None:
        self.repo.create_tag(name, message=f"Versión {name}")

    @property
    def sha(self) -> str:
        return self.repo.head.commit.hexsha


def new_repo(run: str | None = None, *, github: str | None = None,
             gitlab: str | None = None) -> WorkRepo:
    """Copy the service (and the chart) into a new git repository on branch main."""
    run = run or cdocker.run_id()
    path = Path(tempfile.mkdtemp(prefix=f"{run}-pipeline-"))
    shutil.copytree(SERVICE_DIR, path, dirs_exist_ok=True, ignore=IGNORED)
    shutil.copytree(CHART_DIR, path / "chart", ignore=IGNORED)
    (path / ".gitignore").write_text(".gitlab-ci-local/\n.docker-config/\n.cache/\n"
                                     "__pycache__/\n.ruff_cache/\n")
    repo = git.Repo.init(path, initial_branch="main")
    # The repository's own identity: an annotated tag (`git tag -m`) needs a committer, and a
    # student's machine or the --aislado sandbox may have no global git identity.
    with repo.config_writer() as config:
        config.set_value("user", "name", AUTHOR.name)
        config.set_value("user", "email", AUTHOR.email)
    work = WorkRepo(path, run)
    if github is not None:
        work.write(GITHUB_WORKFLOW, github)
    if gitlab is not None:
        work.write(GITLAB_PIPELINE, gitlab)
    work.commit("Servicio del curso")
    return work


# --- the layer cache the jobs' builds start from -------------------------------------------

SEED_REPOSITORY = "tema15/cache-pipelines"
SEED_LOCK = Path(tempfile.gettempdir()) / "tema15-cache-pipelines.lock"


def seed_build_cache(python_image: str) -> str:
    """Build the service's Dockerfile once with the engine's classic builder, as the jobs'
    ``docker build`` does, and keep it tagged (no run label: ``curso limpiar`` leaves it).

    Its intermediate images are the cache the jobs' first build starts from: without it
    every grading installs the dependencies again (~45 s) in each pipeline tool, because
    removing a run's images also removes their untagged parents. The builder stage is
    tagged too: its last image has no child, and an untagged leaf is what a cleanup sweeps.
    The tag follows the Dockerfile, the requirements and the base image, so a change to
    any of them makes a new seed (and the old one is removed)."""
    client = cdocker.client()
    digest = hashlib.sha256(client.images.get(python_image).id.encode())
    for name in ("Dockerfile", "requirements.txt", "requirements.lock"):
        digest.update((SERVICE_DIR / name).read_bytes())
    tag = f"{SEED_REPOSITORY}:{digest.hexdigest()[:12]}"
    with cdocker.file_lock(SEED_LOCK):  # two gradings that need it build it once
        try:
            client.images.get(tag)
            return tag
        except ImageNotFound:
            pass
        show.info("Preparando la caché de capas de los pipelines (una sola vez, ~1 min)…")
        args = {"PYTHON_IMAGE": python_image}
        client.images.build(path=str(SERVICE_DIR), tag=f"{tag}-builder", target="builder",
                            buildargs=args, rm=True)
        client.images.build(path=str(SERVICE_DIR), tag=tag, buildargs=args, rm=True)
        old = [ref for image in client.images.list(name=SEED_REPOSITORY) for ref in image.tags
               if ref not in (tag, f"{tag}-builder")]
        cdocker.remove_images(old)
    return tag


# --- results ---------------------------------------------------------------------------

@dataclass
class PipelineRun:
    tool: str
    returncode: int | None
    seconds: float
    log: str
    jobs: dict[str, str] = field(default_factory=dict)   # job → success | failure | skipped
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def ran(self, prefix: str) -> list[str]:
        """Jobs whose name starts with ``prefix`` and that really ran (success or failure)."""
        return [j for j, state in self.jobs.items()
                if j.split(" ")[0] == prefix and state in ("success", "failure")]

    def summary(self) -> str:
        states = ", ".join(f"{job}: {state}" for job, state in self.jobs.items()) or "ningún job"
        end = ("se cortó por tiempo" if self.timed_out else
               "terminó bien" if self.ok else f"falló (código {self.returncode})")
        return f"{self.tool} {end} en {self.seconds:.1f} s — {states}"

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.log.splitlines()[-lines:])

    def job_tail(self, job: str, lines: int = 20) -> str:
        """The last lines the tool printed for ``job`` (both tools prefix lines with it).
        A matrix variant (``test (api)``) gets its own lines, not its siblings'."""
        own = [line for line in self.log.splitlines() if line.startswith(f"[{job}]")]
        if own:
            return "\n".join(own[-lines:])
        name = job.split(" ")[0]
        pattern = re.compile(rf"(^|[\[\s]){re.escape(name)}([\s\]:]|$)")
        mine = [line for line in self.log.splitlines() if pattern.search(line)]
        return "\n".join(mine[-lines:]) or self.tail(lines)


def _execute(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float,
             tool_name: str) -> tuple[int | None, str, float, bool]:
    """Run in its own process group, so a timeout stops the whole tree (docker build too)."""
    started = time.perf_counter()
    # The jobs' `docker build` (the engine's default, classic builder here) holds the build
    # lock through the shim of _job_env: see course/shims/docker. (Jobs with BuildKit would
    # not need it, but with BuildKit github.cache saw no CACHED step for the solution in
    # CI, session 12, cause not found.)
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            processes.stop_group(proc)
        out.seek(0)
        log = out.read()
    seconds = time.perf_counter() - started
    if timed_out:
        log += (f"\n[curso] {tool_name} se detuvo: la ejecución superó {timeout:.0f} s "
                "(¿un paso que espera para siempre, o que intenta salir a Internet?).\n")
    return (None if timed_out else proc.returncode), log, seconds, timed_out


# A build step served from the cache: «---> Using cache» (classic builder) or «#7 CACHED»
# under the step's own «#7 [stage 2/6] RUN …» line (BuildKit, which also marks CACHED the
# FROM of a local base image, even with --no-cache: not a reused layer).
_BUILDKIT_STEP = re.compile(r"#(\d+) \[[^\]]*\] (\w+)")
_BUILDKIT_CACHED = re.compile(r"#(\d+) CACHED\b")


def reused_build_steps(lines: list[str]) -> int:
    """How many Dockerfile steps (FROM aside) a build log says came from the cache."""
    instruction: dict[str, str] = {}
    reused = 0
    for line in lines:
        if "Using cache" in line:
            reused += 1
        elif step := _BUILDKIT_STEP.search(line):
            instruction[step[1]] = step[2].upper()
        elif (cached := _BUILDKIT_CACHED.search(line)) and instruction.get(cached[1]) != "FROM":
            reused += 1
    return reused


# --- act (GitHub Actions) ----------------------------------------------------------------

def push_event(ref: str) -> dict:
    return {"ref": ref, "repository": {"default_branch": "main"}}


def pull_request_event(branch: str = "feature") -> dict:
    return {"pull_request": {"head": {"ref": branch}, "base": {"ref": "main"}, "number": 1},
            "repository": {"default_branch": "main"}}


def run_act(work: WorkRepo, *, event: str = "push", ref: str = "refs/heads/main",
            variables: dict[str, str] | None = None, secrets: dict[str, str] | None = None,
            timeout: float = DEFAULT_TIMEOUT_S, workflow: str = GITHUB_WORKFLOW) -> PipelineRun:
    """Run the workflow with act for a push to ``ref`` (or a pull request)."""
    exe = _require("act")
    with tempfile.TemporaryDirectory(prefix=f"{work.run}-act-") as tmp:
        private = Path(tmp)
        payload = pull_request_event() if event == "pull_request" else push_event(ref)
        (private / "event.json").write_text(json.dumps(payload))
        (private / "secrets.env").write_text(
            "".join(f"{k}={v}\n" for k, v in (secrets or {}).items()))
        (private / "cache").mkdir()
        # --rm: a job in a container (`container:`, with `services:`) that fails leaves no
        # containers, network or volumes behind (act removes them itself on success).
        cmd = [exe, event, "-W", workflow, "-P", RUNNER_LABEL, "--pull=false",
               "--no-cache-server", "--rm", "--json", "-e", str(private / "event.json"),
               "--secret-file", str(private / "secrets.env")]
        for key, value in (variables or {}).items():
            cmd += ["--var", f"{key}={value}"]
        # act keeps its working copies under $XDG_CACHE_HOME/act: a private one per run;
        # a private HOME too, so a `docker login` in a step never touches the user's.
        env = _job_env(XDG_CACHE_HOME=str(private / "cache"), HOME=str(private))
        code, raw, seconds, timed_out = _execute(cmd, cwd=work.path, env=env, timeout=timeout,
                                                 tool_name="act")
    log, jobs = _parse_act(raw)
    return PipelineRun("act", code, seconds, log, jobs, timed_out)


def _parse_act(raw: str) -> tuple[str, dict[str, str]]:
    """act --json: one JSON object per line; text lines (errors) are kept as they are."""
    lines, jobs = [], {}
    for line in raw.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            lines.append(line)
            continue
        if not isinstance(entry, dict):
            lines.append(line)
            continue
        job = entry.get("jobID") or entry.get("job") or ""
        matrix = entry.get("matrix") or {}
        if matrix:
            job += " (" + ", ".join(str(v) for v in matrix.values()) + ")"
        if entry.get("jobResult"):
            jobs[job] = entry["jobResult"]
        # act logs why a step or job failed at level "error": mark it, so a failed job's
        # tail shows the cause and not only «Job failed».
        mark = "ERROR: " if entry.get("level") == "error" else ""
        lines.append(f"[{job}] {mark}{entry.get('msg', '')}".rstrip())
    return "\n".join(lines), jobs


# --- gitlab-ci-local (GitLab CI) -----------------------------------------------------------

def run_gitlab(work: WorkRepo, *, tag: str | None = None, branch: str = "main",
               merge_request: bool = False, variables: dict[str, str] | None = None,
               secrets: dict[str, str] | None = None, manual: tuple[str, ...] = (),
               timeout: float = DEFAULT_TIMEOUT_S) -> PipelineRun:
    """Run the pipeline as GitLab would for a tag, a branch or a merge request."""
    exe = _require("gitlab-ci-local")
    with tempfile.TemporaryDirectory(prefix=f"{work.run}-gcl-") as tmp:
        private = Path(tmp)
        cmd = [exe, "--shell-executor-no-image", "--home", str(private), "--timestamps"]
        # Secrets go in the user's variables file, outside the repository: the local
        # counterpart of GitLab's masked CI/CD variables.
        (private / ".gitlab-ci-local").mkdir()
        (private / ".gitlab-ci-local" / "variables.yml").write_text(
            yaml.safe_dump({"global": dict(secrets or {})}))
        context = dict(variables or {})
        if tag:
            context.update(CI_COMMIT_TAG=tag)
            cmd += ["--unset-variable", "CI_COMMIT_BRANCH"]
        elif merge_request:
            context.update(CI_PIPELINE_SOURCE="merge_request_event",
                           CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main")
            cmd += ["--unset-variable", "CI_COMMIT_BRANCH"]
        else:
            context.update(CI_COMMIT_BRANCH=branch)
        for key, value in context.items():
            cmd += ["--variable", f"{key}={value}"]
        for job in manual:
            cmd += ["--manual", job]
        # A private HOME: the job's bash must not read the user's ~/.bashrc (a pyenv or
        # conda init there would put another Python first in PATH), nor write to ~/.docker.
        code, log, seconds, timed_out = _execute(cmd, cwd=work.path, env=_job_env(HOME=str(private)),
                                                 timeout=timeout, tool_name="gitlab-ci-local")
    log, jobs = _parse_gitlab(log)
    return PipelineRun("gitlab-ci-local", code, seconds, log, jobs, timed_out)


# Keys a workflow rule may have that a job rule also accepts (auto_cancel is workflow-only).
JOB_RULE_KEYS = ("if", "changes", "exists", "variables", "when")


def gitlab_workflow_creates(rules: list, variables: dict,
                            events: Mapping[str, tuple[dict[str, str], tuple[str, ...]]]
                            ) -> dict[str, bool]:
    """Whether GitLab would create a pipeline with these ``workflow: rules`` for each event
    (name → its predefined variables, and those it leaves unset), evaluated by
    gitlab-ci-local itself. gitlab-ci-local reads workflow rules only for their variables,
    so the rules are copied into probe jobs: job rules and workflow rules share the same
    ``if:`` grammar and the same "no rule matches → never". One probe job per event, with
    the event's variables as the job's own (a job's rules see them; they survive
    --unset-variable), and every predefined variable an event sets or unsets ignored and
    unset globally: each probe sees exactly its event, and one run (a node process,
    ~0.6 s of CPU) answers them all."""
    exe = _require("gitlab-ci-local")
    probe_rules = [{k: v for k, v in rule.items() if k in JOB_RULE_KEYS}
                   if isinstance(rule, dict) else rule for rule in rules]
    probes = {f"sonda-{number}": event for number, event in enumerate(events)}
    probe = {"variables": variables or {},
             **{job: {"script": ["true"], "variables": dict(events[event][0]), "rules": probe_rules}
                for job, event in probes.items()}}
    controlled = sorted({key for context, unset in events.values() for key in (*context, *unset)})
    with tempfile.TemporaryDirectory(prefix="tema15-gclrules-") as tmp:
        folder = Path(tmp) / "repo"
        folder.mkdir()
        (folder / GITLAB_PIPELINE).write_text(yaml.safe_dump(probe, sort_keys=False))
        # The git CLI, not GitPython: its index.add changes the process's working directory.
        identity = ["-c", f"user.name={AUTHOR.name}", "-c", f"user.email={AUTHOR.email}"]
        for args in (["init", "-q", "-b", "main"], ["add", GITLAB_PIPELINE],
                     [*identity, "commit", "-q", "-m", "sonda"]):
            subprocess.run(["git", *args], cwd=folder, capture_output=True, check=True, timeout=30)
        cmd = [exe, "--list-json", "--json-schema-validation=false", "--home", tmp,
               "--ignore-predefined-vars", ",".join(controlled)]
        for key in controlled:  # ignoring is not enough for some (CI_COMMIT_BRANCH comes from git)
            cmd += ["--unset-variable", key]
        out = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=60,
                             env=_tool_env(HOME=tmp), check=False)
    listing = out.stdout[out.stdout.find("["):] if "[" in out.stdout else ""
    try:
        jobs = {job["name"]: job["when"] for job in json.loads(listing)}
    except (ValueError, KeyError, TypeError):
        raise RuntimeError(f"gitlab-ci-local --list-json no dio una lista de jobs "
                           f"(código {out.returncode}): {(out.stderr or out.stdout)[-400:]}") from None
    return {event: jobs.get(job, "never") != "never" for job, event in probes.items()}


def _parse_gitlab(raw: str) -> tuple[str, dict[str, str]]:
    """The plain log and each job's result, from gitlab-ci-local's closing summary."""
    log, jobs = ANSI_ESCAPE.sub("", raw), {}
    for line in log.splitlines():
        match = GCL_SUMMARY.match(line)
        if match:
            state = {"PASS": "success", "FAIL": "failure", "WARN": "failure"}[match[1]]
            jobs[match[2].replace(": [", " (").replace("]", ")")] = state
    return log, jobs


def artifacts_dir(work: WorkRepo) -> Path:
    """Where ``run_gitlab`` left the jobs' artifacts (one folder per job)."""
    return work.path / ".gitlab-ci-local" / "artifacts"


# --- deploying to the course's cluster ------------------------------------------------------

def kubeconfig_secret(cluster) -> str:
    """The cluster's kubeconfig as a CI secret: self-contained (certificates inlined,
    ``--flatten``), one context (``--minify``) and base64 on one line, the way teams store
    it in a GitHub secret or a masked GitLab variable (``KUBECONFIG_DATA``)."""
    text = cluster.kubectl("config", "view", "--flatten", "--minify", echo=False,
                           timeout=30).stdout
    return base64.b64encode(text.encode()).decode()


def deployments(cluster, namespace: str) -> list[dict]:
    """The Deployments in ``namespace``: name, images, desired and ready replicas."""
    out = cluster.kubectl("get", "deployments", "-o", "json", namespace=namespace,
                          echo=False, timeout=30).stdout
    found = []
    for item in json.loads(out).get("items", []):
        spec, status = item.get("spec", {}), item.get("status", {})
        containers = spec.get("template", {}).get("spec", {}).get("containers", [])
        found.append({"name": item["metadata"]["name"],
                      "images": [c.get("image", "") for c in containers],
                      "replicas": spec.get("replicas", 0),
                      "ready": status.get("readyReplicas", 0) or 0,
                      "updated": status.get("updatedReplicas", 0) or 0})
    return found


# --- validation ------------------------------------------------------------------------------

def yaml_problem(text: str) -> str | None:
    """None if the text is valid YAML; else the problem in Spanish, with its line."""
    try:
        yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"línea {mark.line + 1}, columna {mark.column + 1}" if mark else "posición desconocida"
        return f"YAML inválido en la {where}: {exc.problem or exc.context}"
    except yaml.YAMLError as exc:
        return f"YAML inválido: {exc}"
    return None


def schema_errors(path: Path, kind: str) -> list[str]:
    """check-jsonschema with its built-in schema for ``github`` or ``gitlab`` files."""
    args = (["--builtin-schema", "vendor.github-workflows"] if kind == "github" else
            ["--builtin-schema", "vendor.gitlab-ci", "--data-transform", "gitlab-ci",
             "--regex-variant", "nonunicode"])
    exe = tool("check-jsonschema") or _require("check-jsonschema")
    out = subprocess.run([exe, *args, "-o", "json", str(path)], capture_output=True, text=True,
                         timeout=60, check=False)
    if out.returncode == 0:
        return []
    try:
        report = json.loads(out.stdout)
    except ValueError:
        return [(out.stdout + out.stderr).strip()[:500] or "check-jsonschema falló"]
    errors = [f"{e.get('path', '$')}: {e.get('message', '')}"[:300] for e in report.get("errors", [])]
    errors += [str(e.get("message", e))[:300] for e in report.get("parse_errors", [])]
    return errors or ["check-jsonschema falló sin detalle"]


def actionlint(path: Path) -> list[str]:
    """Findings of the real actionlint CLI, as «línea L: mensaje [regla]»."""
    exe = _require("actionlint")
    out = subprocess.run([exe, "-format", "{{json .}}", str(path)], capture_output=True,
                         text=True, timeout=60, check=False)
    try:
        findings = json.loads(out.stdout or "[]")
    except ValueError:
        return [(out.stdout + out.stderr).strip()[:500]]
    return [f"línea {f['line']}: {f['message']} [{f['kind']}]" for f in findings]


# --- cleanup -----------------------------------------------------------------------------------

def remove_act_toolcache() -> bool:
    """act mounts a volume ``act-toolcache`` in every job that runs in a container and never
    removes it; remove it unless a running job still uses it (then Docker refuses)."""
    try:
        cdocker.client().volumes.get("act-toolcache").remove()
        return True
    except DockerException:  # absent, or in use by a job running right now
        return False


def remove_images(registry_host: str) -> int:
    """Remove every local image tagged for this run's registry (``host:port/…``)."""
    return cdocker.remove_images(
        [ref for image in cdocker.list_images(cdocker.client()) for ref in image.tags
         if ref.startswith(f"{registry_host}/")])


def cleanup(run: str | None = None, *, registry_host: str | None = None) -> None:
    """Remove the run's work repositories and artifacts, and its pipeline images."""
    run = run or cdocker.run_id()
    for path in Path(tempfile.gettempdir()).glob(f"{run}-pipeline-*"):
        shutil.rmtree(path, ignore_errors=True)
    if registry_host:
        remove_images(registry_host)


# --- the diagram ------------------------------------------------------------------------------

def _needs(job: dict) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else [n if isinstance(n, str) else n.get("job")
                                                  for n in needs]


def diagram(github_doc: dict, gitlab_doc: dict | None = None):
    """Jobs of a workflow as boxes in columns (a column per level of ``needs``), with their
    condition, matrix, environment and artifacts; arrows are the ``needs`` edges."""
    import matplotlib.pyplot as plt

    from course.plots import COLORS

    jobs = github_doc.get("jobs") or {}
    level: dict[str, int] = {}

    def depth(name: str, seen=()) -> int:
        if name not in level:
            parents = [p for p in _needs(jobs[name]) if p in jobs and p not in seen]
            level[name] = 1 + max((depth(p, (*seen, name)) for p in parents), default=-1)
        return level[name]

    for name in jobs:
        depth(name)
    gl_jobs = {k: v for k, v in (gitlab_doc or {}).items() if isinstance(v, dict) and "script" in v}
    tallest = max((list(level.values()).count(c) for c in set(level.values())), default=1)
    fig, ax = plt.subplots(figsize=(3.1 * (max(level.values(), default=0) + 1), 0.8 + 1.2 * tallest))
    rows: dict[int, int] = {}
    where = {}
    for name, job in jobs.items():
        col = level[name]
        row = rows.get(col, 0)
        rows[col] = row + 1
        x, y = col * 3.0, -row * 1.5
        where[name] = (x, y)
        notes = []
        if job.get("strategy", {}).get("matrix"):
            matrix = {k: v for k, v in job["strategy"]["matrix"].items() if isinstance(v, list)}
            notes.append("matriz: " + ", ".join(f"{k}={v}" for k, v in matrix.items()))
        if job.get("if"):
            notes.append("si: " + str(job["if"])[:38])
        if job.get("environment"):
            env_name = job["environment"]
            notes.append(f"entorno: {env_name if isinstance(env_name, str) else env_name.get('name')}")
        gl = gl_jobs.get(name, {})
        if gl.get("artifacts"):
            notes.append("GitLab: artefactos " + ", ".join(map(str, gl["artifacts"].get("paths", [])
                                                              or gl["artifacts"].get("reports", {}))))
        if gl.get("when") == "manual" or any(r.get("when") == "manual" for r in gl.get("rules", [])):
            notes.append("GitLab: manual en tags")
        ax.text(x, y, f"{name}\n" + "\n".join(notes), ha="center", va="center", fontsize=8,
                bbox={"boxstyle": "round,pad=0.5", "facecolor": COLORS[col % len(COLORS)],
                      "alpha": 0.25, "edgecolor": COLORS[col % len(COLORS)]})
    for name, job in jobs.items():
        for parent in _needs(job):
            if parent in where:
                (x0, y0), (x1, y1) = where[parent], where[name]
                ax.annotate("", xy=(x1 - 1.1, y1), xytext=(x0 + 1.1, y0),
                            arrowprops={"arrowstyle": "->", "lw": 1.4})
    ax.set_xlim(-1.6, 3.0 * max(level.values(), default=0) + 1.6)
    ax.set_ylim(-1.5 * max(rows.values(), default=1) + 0.7, 0.8)
    ax.axis("off")
    ax.set_title("Jobs del pipeline (flechas: needs)", fontsize=11, loc="left")
    fig.tight_layout()
    return fig
