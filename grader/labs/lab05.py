"""Lab 05 (15.5): the student's GitHub Actions workflow and GitLab CI pipeline for the
course service, validated with the field's tools and then run for real.

The grader builds a git repository with the service and each pipeline file and runs it
with act (GitHub) and gitlab-ci-local (GitLab), each against its own local registry:
1. a push of tag ``v1.4.2`` (builds and publishes; the GitLab deploy is a manual job,
   approved with ``--manual deploy``), 2. a push to main (the image build must reuse the
   layer cache), 3. a pull/merge request (nothing is built or deployed), 4. a push to main
   with a bug that a test catches (the pipeline must fail before building).
With a Kubernetes cluster (kind or the local control plane), the deploy job gets its
kubeconfig as the secret / masked variable ``KUBECONFIG_DATA`` (base64) and the run's
namespace as ``KUBE_NAMESPACE``: the Deployment it leaves there is read from the API.
Checks read the registry's HTTP API, the runners' job results and logs, the image
configuration (history, env, labels), the cluster and the artifacts, never what the
notebook prints.
"""
from __future__ import annotations

import base64
import json
import re
import secrets
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import yaml
from docker.errors import DockerException

from course import images, k8s, pipelines
from course import registry as creg
from grader.assign import MD_GAP
from grader.checks import ManualReview, NotVerifiable, check
from grader.labs._cluster import ensure_cluster

GITHUB = pipelines.GITHUB_WORKFLOW
GITLAB = pipelines.GITLAB_PIPELINE
REPOSITORY = "catalogo"
RELEASE = "v1.4.2"
RELEASE_TAGS = {"1.4.2", "1.4", "1"}
PIPELINE_TIMEOUT_S = 240
SECRET_NAME = "REGISTRY_PASSWORD"
SHA_TAG = re.compile(r"[0-9a-f]{7,40}")
BUG_FILE = "app/health.py"
BUG = ('return {"estado": "vivo"}', 'return {"estado": "caido"}')  # test_routes catches it
LOGIN_OK = "Login Succeeded"
GAP = "NotImplementedError"
KUBE_SECRET = "KUBECONFIG_DATA"


# --- the files ------------------------------------------------------------------------

def _text(ctx, relative: str) -> str:
    path = ctx.workdir / relative
    assert path.exists(), (f"No existe {relative} en la carpeta de trabajo: la tarea lo escribe "
                           "con %%writefile (o entrégalo en esa ruta dentro de la carpeta).")
    text = path.read_text(encoding="utf-8", errors="replace")
    assert GAP not in text, (f"{relative} todavía tiene el hueco «# TU CÓDIGO AQUÍ» / "
                             "raise NotImplementedError(): escribe el pipeline.")
    problem = pipelines.yaml_problem(text)
    assert problem is None, f"{relative}: {problem}"
    assert isinstance(yaml.safe_load(text), dict), f"{relative} no es un mapa YAML de claves."
    return text


def _schema(ctx, relative: str, kind: str) -> None:
    _text(ctx, relative)
    errors = pipelines.schema_errors(ctx.workdir / relative, kind)
    assert not errors, (f"{relative} no cumple el esquema oficial (check-jsonschema): "
                        + "; ".join(errors[:3]))


@check("github.esquema", points=1)
def github_schema(ctx):
    """El workflow es YAML válido y cumple el esquema de GitHub Actions."""
    _schema(ctx, GITHUB, "github")


@check("github.actionlint", points=1, needs=("actionlint",))
def github_actionlint(ctx):
    """actionlint no encuentra nada en el workflow (expresiones, contextos, shell)."""
    _text(ctx, GITHUB)
    findings = pipelines.actionlint(ctx.workdir / GITHUB)
    assert not findings, "actionlint encuentra: " + "; ".join(findings[:4])


@check("gitlab.esquema", points=1)
def gitlab_schema(ctx):
    """.gitlab-ci.yml es YAML válido y cumple el esquema de GitLab CI."""
    _schema(ctx, GITLAB, "gitlab")


@check("github.permisos", points=1)
def github_permissions_and_concurrency(ctx):
    """El workflow limita GITHUB_TOKEN (permissions) y cancela ejecuciones repetidas (concurrency)."""
    doc = yaml.safe_load(_text(ctx, GITHUB))
    permissions = doc.get("permissions")
    assert permissions is not None, ("Falta «permissions:» arriba del workflow: desde 2023 "
                                     "GITHUB_TOKEN es de solo lectura por defecto en repos nuevos, y "
                                     "conviene declararlo (contents: read) y ampliarlo solo en el "
                                     "job que lo necesita.")
    assert permissions != "write-all", "«permissions: write-all» da todos los permisos al token."
    assert doc.get("concurrency"), ("Falta «concurrency:» (por ejemplo group: ci-${{ github.ref }} "
                                    "con cancel-in-progress: true).")


def _events(doc: dict) -> dict:
    """The workflow's ``on:`` as {event: its filters}; YAML 1.1 reads the key ``on`` as true."""
    on = doc.get("on", doc.get(True))
    if isinstance(on, str):
        return {on: {}}
    if isinstance(on, list):
        return {str(event): {} for event in on}
    return {str(k): (v if isinstance(v, dict) else {}) for k, v in (on or {}).items()}


def _glob(pattern: str) -> str:
    """GitHub's filter pattern as a regex: * (no /), ** (anything), ? and + on the
    character before, [...] ranges."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
            continue
        char = pattern[i]
        if char == "[":
            end = pattern.find("]", i)
            if end > i:
                out, i = out + pattern[i:end + 1], end + 1
                continue
        out += {"*": "[^/]*", "?": "?", "+": "+"}.get(char, re.escape(char))
        i += 1
    return out


def _runs_on(filters: dict, key: str, name: str) -> bool:
    """Whether an event with these filters fires for branch or tag ``name``
    (``key``: "branches" or "tags"). With no filter at all it fires for both; with only
    the other kind's filter, GitHub does not fire it."""
    if not any(k in filters for k in ("branches", "tags", "branches-ignore", "tags-ignore")):
        return True
    ignored = filters.get(f"{key}-ignore")
    if ignored is not None:
        return not any(re.fullmatch(_glob(str(p)), name) for p in ignored)
    patterns = filters.get(key)
    return patterns is not None and any(re.fullmatch(_glob(str(p)), name) for p in patterns)


@check("github.disparadores", points=1)
def github_triggers(ctx):
    """El workflow se dispara con push a main, con tags v1.2.3 y con pull requests contra main."""
    events = _events(yaml.safe_load(_text(ctx, GITHUB)))
    push = events.get("push")
    assert push is not None, "Falta el disparador «push» en «on:»."
    assert _runs_on(push, "branches", "main"), "Un push a main no dispara el workflow (on: push: branches)."
    assert _runs_on(push, "tags", RELEASE), (f"Un push del tag {RELEASE} no dispara el workflow: "
                                             "añade on: push: tags: [\"v*.*.*\"].")
    request = events.get("pull_request")
    assert request is not None, ("Falta el disparador «pull_request»: las pull requests contra "
                                 "main deben pasar lint y tests antes de fusionarse.")
    assert _runs_on(request, "branches", "main"), "Una pull request contra main no dispara el workflow."


@check("github.lint", points=1)
def github_lint_job(ctx):
    """Hay un job lint que ejecuta ruff check, y el job test lo espera (needs: lint)."""
    jobs = yaml.safe_load(_text(ctx, GITHUB)).get("jobs") or {}
    lint = jobs.get("lint")
    assert isinstance(lint, dict), "Falta el job «lint»."
    runs = " ".join(str(step.get("run", "")) for step in lint.get("steps") or []
                    if isinstance(step, dict))
    assert "ruff check" in runs, "El job lint no ejecuta «ruff check»."
    needs = (jobs.get("test") or {}).get("needs") or []
    needs = [needs] if isinstance(needs, str) else needs
    assert "lint" in needs, "El job test no espera al lint: añade «needs: lint»."


@check("secretos.ficheros", points=2)
def secrets_only_by_reference(ctx):
    """La contraseña del registro llega como secreto / variable protegida, nunca escrita en los ficheros."""
    github, gitlab = _text(ctx, GITHUB), _text(ctx, GITLAB)
    assert f"secrets.{SECRET_NAME}" in github, (
        f"El workflow no usa ${{{{ secrets.{SECRET_NAME} }}}}: la contraseña del registro debe "
        "venir de los secretos del repositorio.")
    gl_vars = (yaml.safe_load(gitlab).get("variables") or {})
    assert SECRET_NAME not in gl_vars, (
        f".gitlab-ci.yml define {SECRET_NAME} en «variables:»: eso la deja escrita en el "
        "repositorio. Va en Settings → CI/CD → Variables (enmascarada y protegida).")
    assert re.search(rf"\$\{{?{SECRET_NAME}\b", gitlab), (
        f".gitlab-ci.yml no usa ${SECRET_NAME} (la variable enmascarada del proyecto).")
    for name, text in ((GITHUB, github), (GITLAB, gitlab)):
        literal = re.search(r"--password[= ]+['\"]?(?!\$)[^\s'\"|]+", text)
        assert not literal, f"{name} escribe una contraseña literal: «{literal[0]}»."


# --- GitLab: the pip cache and the workflow rules -----------------------------------------

PIP_CACHE = "PIP_CACHE_DIR"
PROJECT_DIR = re.compile(r"^(\$CI_PROJECT_DIR|\$\{CI_PROJECT_DIR\})(/|$)")
PIP_CACHE_REF = re.compile(r"^\$(PIP_CACHE_DIR|\{PIP_CACHE_DIR\})/?$")
PIPELINE_JOBS = ("lint", "test", "build", "deploy")


def _variable(value) -> str:
    """A variables: entry is a string or a mapping with value: (and description:)."""
    return str(value.get("value", "")) if isinstance(value, dict) else str(value or "")


def _folder(path: str) -> str:
    return "/".join(part for part in str(path).strip().split("/") if part not in ("", "."))


def _own(doc: dict, name: str, key: str, seen: tuple[str, ...] = ()):
    """A job's ``key`` as GitLab resolves it through ``extends:`` (the job's own value,
    else that of the template it extends, the last one listed first)."""
    job = doc.get(name)
    if not isinstance(job, dict) or name in seen:
        return None
    if key in job:
        return job[key]
    parents = job.get("extends") or []
    for parent in reversed([parents] if isinstance(parents, str) else parents):
        found = _own(doc, parent, key, seen + (name,))
        if found is not None:
            return found
    return None


def _caches(doc: dict, name: str) -> list[dict]:
    """The caches a job gets: its own (or through extends), else default:'s, else the
    deprecated top-level cache:."""
    found = _own(doc, name, "cache")
    if found is None:
        found = (doc.get("default") or {}).get("cache") if isinstance(doc.get("default"), dict) else None
    if found is None:
        found = doc.get("cache")
    found = found if isinstance(found, list) else [found] if found else []
    return [c for c in found if isinstance(c, dict)]


def _pip_cache_dir(doc: dict, name: str) -> str:
    own = _own(doc, name, "variables") or {}
    value = own.get(PIP_CACHE) if isinstance(own, dict) else None
    if value is None:
        value = (doc.get("variables") or {}).get(PIP_CACHE)
    return _variable(value).strip()


def _caches_pip(cache: dict, pip_dir: str) -> bool:
    """The cache has a key and one of its paths is PIP_CACHE_DIR or a folder holding it."""
    if not cache.get("key"):
        return False
    relative = _folder(PROJECT_DIR.sub("", pip_dir))
    for path in cache.get("paths") or []:
        if PIP_CACHE_REF.match(str(path).strip()):
            return True
        folder = _folder(PROJECT_DIR.sub("", str(path)))
        if folder and (relative == folder or relative.startswith(folder + "/")):
            return True
    return False


@check("gitlab.cache_pip", points=1)
def gitlab_pip_cache(ctx):
    """GitLab guarda en caché (cache: con key y paths) la carpeta de PIP_CACHE_DIR, dentro del proyecto."""
    doc = yaml.safe_load(_text(ctx, GITLAB))
    jobs = [name for name in PIPELINE_JOBS if isinstance(doc.get(name), dict)]
    assert jobs, "El .gitlab-ci.yml no tiene los jobs lint, test, build y deploy."
    problems = []
    for name in jobs:
        pip_dir, caches = _pip_cache_dir(doc, name), _caches(doc, name)
        if pip_dir and PROJECT_DIR.match(pip_dir) and any(_caches_pip(c, pip_dir) for c in caches):
            return
        if not pip_dir:
            problems.append(f"{name}: sin la variable {PIP_CACHE}")
        elif not PROJECT_DIR.match(pip_dir):
            problems.append(f"{name}: {PIP_CACHE}={pip_dir} está fuera de $CI_PROJECT_DIR")
        elif not caches:
            problems.append(f"{name}: sin cache:")
        elif not any(c.get("key") for c in caches):
            problems.append(f"{name}: su cache: no tiene key")
        else:
            paths = [str(p) for c in caches for p in c.get("paths") or []]
            problems.append(f"{name}: cache: paths {paths} no incluye {pip_dir}")
    raise AssertionError(
        "Ningún job guarda en caché las descargas de pip (" + "; ".join(problems) + "). GitLab "
        "solo cachea carpetas del proyecto: define PIP_CACHE_DIR: \"$CI_PROJECT_DIR/.cache/pip\" en "
        "variables: y pon esa carpeta en cache: paths, con una key (p. ej. pip-$CI_COMMIT_REF_SLUG "
        "o key: files: [requirements.txt]).")


# Events GitLab may create a pipeline for: predefined variables as GitLab sets them.
FEATURE = "feature/nueva-ruta"
WORKFLOW_EVENTS = {
    "una merge request": ({"CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "7",
                           "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": FEATURE,
                           "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
                           "CI_COMMIT_REF_NAME": FEATURE, "CI_DEFAULT_BRANCH": "main"},
                          ("CI_COMMIT_BRANCH",), True),
    "un push a main": ({"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main",
                        "CI_COMMIT_REF_NAME": "main", "CI_DEFAULT_BRANCH": "main"}, (), True),
    f"el tag {RELEASE}": ({"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": RELEASE,
                           "CI_COMMIT_REF_NAME": RELEASE, "CI_DEFAULT_BRANCH": "main"},
                          ("CI_COMMIT_BRANCH",), True),
    # The same commits again as a branch pipeline while its merge request is open: a
    # duplicate of the merge request's pipeline.
    f"un push a {FEATURE} con su merge request abierta": (
        {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": FEATURE, "CI_COMMIT_REF_NAME": FEATURE,
         "CI_OPEN_MERGE_REQUESTS": "curso/catalogo!7", "CI_DEFAULT_BRANCH": "main"}, (), False),
}


@check("gitlab.workflow", points=1, needs=("gitlabci",))
def gitlab_workflow_rules(ctx):
    """workflow: rules crea pipelines para merge requests, main y tags, sin duplicar la de una merge request."""
    doc = yaml.safe_load(_text(ctx, GITLAB))
    workflow = doc.get("workflow") if isinstance(doc.get("workflow"), dict) else {}
    rules = workflow.get("rules")
    assert isinstance(rules, list) and rules, (
        "Falta «workflow: rules»: sin él GitLab crea una pipeline por cada push a cualquier rama y "
        "otra por la merge request de esa rama (dos pipelines por los mismos commits).")
    created = pipelines.gitlab_workflow_creates(
        rules, doc.get("variables") or {},
        {event: (context, unset) for event, (context, unset, _) in WORKFLOW_EVENTS.items()})
    wrong = [f"{event} {'no crea' if wanted else 'crea'} pipeline"
             for event, (_, _, wanted) in WORKFLOW_EVENTS.items() if created[event] != wanted]
    assert not wrong, (
        "Tus workflow: rules, evaluadas con gitlab-ci-local: " + "; ".join(wrong) + ". Deben crear "
        "pipelines para las merge requests ($CI_PIPELINE_SOURCE == \"merge_request_event\"), main "
        "y los tags de versión, y no una segunda pipeline de rama mientras hay una merge request "
        "abierta (solo main y tags para las ramas, o $CI_OPEN_MERGE_REQUESTS con when: never).")


# --- running the pipelines ------------------------------------------------------------------

def _common_variables(host: str) -> dict[str, str]:
    return {"REGISTRY": host, "PYTHON_IMAGE": images.ensure("python-slim")}


def _snapshot(host: str) -> dict:
    """What the registry holds now: its tags, and the labels and config of the release."""
    tags = set(creg.tags(host, REPOSITORY))
    facts = {"tags": tags, "labels": {}, "config": ""}
    if "1.4.2" in tags:
        config = creg.image_config(host, REPOSITORY, "1.4.2")
        facts["labels"] = config.get("config", {}).get("Labels") or {}
        facts["config"] = json.dumps(config)   # history, env and labels, as published
    return facts


def _scenarios(ctx, kind: str) -> dict:
    """Run the four scenarios with one runner; memoised, images removed afterwards."""
    def run_all():
        relative = GITHUB if kind == "github" else GITLAB
        text = _text(ctx, relative)
        errors = pipelines.schema_errors(ctx.workdir / relative, kind)
        assert not errors, (f"{relative} no se ejecuta: no cumple el esquema oficial "
                            f"({'; '.join(errors[:2])}). Corrígelo primero (mira «{kind}.esquema»).")
        secret = "t15-" + secrets.token_hex(12)
        try:
            host = creg.start(ctx.run_id, suffix=f"registro-{kind}").host
        except (creg.RegistryError, DockerException) as exc:
            raise RuntimeError(f"el corrector no pudo arrancar el registro: {exc}") from None
        variables, secret_values = _common_variables(host), {SECRET_NAME: secret}
        try:  # the jobs' first build takes the dependencies layer from the cache
            pipelines.seed_build_cache(variables["PYTHON_IMAGE"])
        except DockerException:
            pass  # without it the first build installs them: slower, same grade
        cluster, namespace = _deploy_target(ctx, kind)
        if cluster is not None:
            secret_values[KUBE_SECRET] = pipelines.kubeconfig_secret(cluster)
            variables["KUBE_NAMESPACE"] = namespace
        work = pipelines.new_repo(ctx.run_id, **{kind: text})
        facts = {"secret": secret, "sha": work.sha, "host": host, "namespace": namespace,
                 "deployed": None, "kube_secrets": _kube_secrets(secret_values.get(KUBE_SECRET))}
        try:
            work.tag(RELEASE)
            runner = pipelines.run_act if kind == "github" else pipelines.run_gitlab

            def run(**kw):
                return runner(work, variables=variables, secrets=secret_values,
                              timeout=PIPELINE_TIMEOUT_S, **kw)

            if kind == "github":
                facts["tag"] = run(ref=f"refs/tags/{RELEASE}")
            else:
                facts["tag"] = run(tag=RELEASE, manual=("deploy",))
                facts["artifacts"] = _artifact_texts(pipelines.artifacts_dir(work))
            facts["after_tag"] = _snapshot(host)
            if cluster is not None:
                facts["deployed"] = pipelines.deployments(cluster, namespace)
            if facts["tag"].timed_out:  # it hangs: the other scenarios would hang as well
                facts.update(main=facts["tag"], request=facts["tag"], bug=facts["tag"],
                             new_tags_with_bug=set(), main_sha=work.sha, bug_sha=work.sha)
                return facts
            work.write("CHANGELOG.md", "Cambio en main tras la versión 1.4.2.\n")
            facts["main_sha"] = work.commit("Cambio en main")
            facts["main"] = run(ref="refs/heads/main") if kind == "github" else run(branch="main")
            facts["request"] = (run(event="pull_request") if kind == "github"
                                else run(merge_request=True))
            before = set(creg.tags(host, REPOSITORY))
            source = (work.path / BUG_FILE).read_text()
            work.write(BUG_FILE, source.replace(*BUG))
            facts["bug_sha"] = work.commit("Un error que las pruebas detectan")
            facts["bug"] = run(ref="refs/heads/main") if kind == "github" else run(branch="main")
            facts["new_tags_with_bug"] = set(creg.tags(host, REPOSITORY)) - before
        finally:
            pipelines.cleanup(ctx.run_id, registry_host=host)
        return facts
    return ctx.memo(kind, run_all)


def _deploy_target(ctx, kind: str) -> tuple[k8s.Cluster | None, str | None]:
    """The cluster and a namespace of this grading for the pipeline's deploy job, or
    (None, None): without a cluster the deploy job only renders the chart."""
    cluster = k8s.find()
    if cluster is None:
        return None, None
    try:
        return cluster, cluster.namespace(ctx.run_id, f"ci-{kind}")
    except k8s.CommandFailed:
        return None, None


def _kube_secrets(encoded: str | None) -> list[str]:
    """What must never show up from the kubeconfig secret: the secret itself and the
    credentials inside it (client key, token)."""
    if not encoded:
        return []
    doc = yaml.safe_load(base64.b64decode(encoded)) or {}
    found = [encoded]
    for user in doc.get("users") or []:
        data = user.get("user") or {}
        found += [data[k] for k in ("client-key-data", "token") if data.get(k)]
    return found


def _artifact_texts(folder: Path) -> dict[str, str]:
    found = {}
    if folder.is_dir():
        for path in folder.rglob("*"):
            if path.is_file() and path.stat().st_size < 5_000_000:
                found[path.relative_to(folder).as_posix()] = path.read_text(errors="replace")
    return found


def _explain(run: pipelines.PipelineRun) -> str:
    failed = [job for job, state in run.jobs.items() if state == "failure"]
    if not failed or run.timed_out:  # the tail says where it hung and the time limit
        return f"{run.summary()}\n--- últimas líneas ---\n{run.tail(30)}"
    # The tail of the whole log is the tool's summary: show what the failed jobs printed.
    parts = [run.summary()]
    for job in failed[:2]:
        parts.append(f"--- últimas líneas de {job} ---\n{run.job_tail(job, 20)}")
    return "\n".join(parts)


def _published(ctx, kind: str) -> None:
    facts = _scenarios(ctx, kind)
    run = facts["tag"]
    assert run.ok, f"El pipeline del tag {RELEASE} no terminó bien: {_explain(run)}"
    tags = facts["after_tag"]["tags"]
    shas = {t for t in tags if SHA_TAG.fullmatch(t) and facts["sha"].startswith(t)}
    extra = tags - RELEASE_TAGS - shas
    missing = RELEASE_TAGS - tags
    assert not missing and len(shas) == 1 and not extra, (
        f"Tras el tag {RELEASE}, el registro tiene {sorted(tags)}: se esperaban exactamente "
        f"{sorted(RELEASE_TAGS)} y el sha corto del commit"
        + (f"; faltan {sorted(missing)}" if missing else "")
        + (f"; sobran {sorted(extra)}" if extra else "")
        + ("; falta la etiqueta del commit" if not shas else "") + ".")
    labels = facts["after_tag"]["labels"]
    revision = labels.get("org.opencontainers.image.revision", "")
    assert revision and facts["sha"].startswith(revision) and len(revision) >= 7, (
        f"La imagen 1.4.2 tiene org.opencontainers.image.revision={revision!r}, no el commit "
        f"{facts['sha'][:12]}…: pásalo con --label o --build-arg VCS_REF.")
    assert labels.get("org.opencontainers.image.version") == "1.4.2", (
        f"La imagen 1.4.2 tiene org.opencontainers.image.version="
        f"{labels.get('org.opencontainers.image.version')!r}: la versión sale del tag sin la «v».")


@check("github.publica", points=2, needs=("docker", "act"))
def github_publishes_release(ctx):
    """Con act, el tag v1.4.2 publica exactamente 1.4.2, 1.4, 1 y el sha, con etiquetas OCI del commit."""
    _published(ctx, "github")


@check("gitlab.publica", points=2, needs=("docker", "gitlabci"))
def gitlab_publishes_release(ctx):
    """Con gitlab-ci-local, el tag v1.4.2 publica exactamente 1.4.2, 1.4, 1 y el sha, con etiquetas OCI."""
    _published(ctx, "gitlab")


def _stops_on_failing_test(ctx, kind: str) -> None:
    facts = _scenarios(ctx, kind)
    run = facts["bug"]
    assert not run.timed_out, f"El pipeline no terminó: {run.summary()}"
    assert not run.ok, ("Con un error que las pruebas detectan, el pipeline terminó bien: ¿los "
                        "tests se ejecutan de verdad y su fallo hace fallar el job (sin «|| true» "
                        f"ni allow_failure)? {run.summary()}")
    failed = [j for j, s in run.jobs.items() if s == "failure"]
    assert any(j.startswith("test") for j in failed), (
        f"El pipeline falló, pero no en un job de tests ({run.summary()}).")
    assert not run.ran("build") and not facts["new_tags_with_bug"], (
        "Con los tests en rojo se construyó o publicó la imagen "
        f"({sorted(facts['new_tags_with_bug'])}): el job de imagen debe depender de los tests "
        "(needs).")


@check("github.test_para", points=2, needs=("docker", "act"))
def github_failing_test_stops(ctx):
    """Con act, un test que falla hace fallar el pipeline y la imagen no se construye."""
    _stops_on_failing_test(ctx, "github")


@check("gitlab.test_para", points=2, needs=("docker", "gitlabci"))
def gitlab_failing_test_stops(ctx):
    """Con gitlab-ci-local, un test que falla hace fallar el pipeline y la imagen no se construye."""
    _stops_on_failing_test(ctx, "gitlab")


@check("github.cache", points=1, needs=("docker", "act"))
def github_reuses_cache(ctx):
    """La segunda ejecución (push a main) reutiliza la caché de capas al construir."""
    facts = _scenarios(ctx, "github")
    run = facts["main"]
    assert run.ok, f"El pipeline del push a main no terminó bien: {_explain(run)}"
    build_lines = [line for line in run.log.splitlines() if line.startswith("[build")]
    assert build_lines, "En el push a main no se ejecutó ningún job «build»."
    reused = pipelines.reused_build_steps(build_lines)
    assert reused >= 2, ("La segunda construcción no reutilizó capas (ningún paso «CACHED» de "
                         "BuildKit ni «Using cache» del constructor clásico en el log del job "
                         "build): no uses --no-cache y copia requirements.txt antes que el código.")


@check("secretos.fugas", points=2, needs=("docker", "act", "gitlabci"))
def secret_not_leaked(ctx):
    """El secreto se usa (docker login) y ni él ni el kubeconfig del despliegue aparecen en la imagen, los artefactos o los logs."""
    for kind in ("github", "gitlab"):
        facts = _scenarios(ctx, kind)
        run, secret = facts["tag"], facts["secret"]
        assert facts["after_tag"]["config"], (
            f"El pipeline de {kind} no publicó la imagen 1.4.2: sin imagen no se puede comprobar "
            f"que el secreto no está dentro ({run.summary()}).")
        assert LOGIN_OK in run.log, (
            f"En el pipeline de {kind} no hay «{LOGIN_OK}»: el job de imagen debe hacer "
            f"docker login con {SECRET_NAME} (--password-stdin).")
        assert secret not in facts["after_tag"]["config"], (
            f"El valor de {SECRET_NAME} está dentro de la imagen publicada por {kind} "
            "(historia, ENV o etiquetas): nunca lo pases como --build-arg ni --label.")
        leaked = [name for name, text in facts.get("artifacts", {}).items() if secret in text]
        assert not leaked, f"El valor de {SECRET_NAME} está en los artefactos {leaked}."
        for value in facts["kube_secrets"]:
            where = [name for name, text in facts.get("artifacts", {}).items() if value in text]
            where += ["el log"] if value in run.log else []
            assert not where, (f"El kubeconfig de {KUBE_SECRET} (o su clave) está en {where} "
                               f"({kind}): escríbelo en un fichero temporal fuera de los "
                               "artefactos, no lo imprimas y bórralo al terminar.")
        assert secret not in run.log, (f"El valor de {SECRET_NAME} aparece en el log de {kind}: "
                                       "no lo imprimas (echo) ni lo pongas en la línea de órdenes.")


@check("despliegue.reglas", points=2, needs=("docker", "act", "gitlabci"))
def deploy_only_on_tags_and_main(ctx):
    """El despliegue corre en el tag y en main, nunca en una pull/merge request (ni la imagen)."""
    for kind, request in (("github", "pull request"), ("gitlab", "merge request")):
        facts = _scenarios(ctx, kind)
        assert facts["tag"].ran("deploy"), (f"En {kind}, el tag {RELEASE} no ejecutó el job deploy: "
                                           f"{_explain(facts['tag'])}")
        assert facts["main"].ran("deploy"), (f"En {kind}, el push a main no ejecutó el job deploy: "
                                            f"{_explain(facts['main'])}")
        request_run = facts["request"]
        ran = [j for j in ("build", "deploy") if request_run.ran(j)]
        assert not ran, (f"En {kind}, una {request} ejecutó {ran}: la imagen y el despliegue "
                         "solo corren en tags y en main (if:/rules:).")
        assert request_run.ran("test"), (f"En {kind}, la {request} no ejecutó los tests "
                                         f"({request_run.summary()}).")


@check("gitlab.artefactos", points=1, needs=("docker", "gitlabci"))
def gitlab_junit_artifacts(ctx):
    """El job test de GitLab declara artifacts:reports:junit y deja como artefacto un informe JUnit sin fallos."""
    doc = yaml.safe_load(_text(ctx, GITLAB))
    declared = [name for name, job in doc.items() if name.split(":")[0] == "test"
                and isinstance(job, dict)
                and ((job.get("artifacts") or {}).get("reports") or {}).get("junit")]
    assert declared, ("El job test no declara «artifacts: reports: junit:»: sin eso GitLab no "
                      "muestra los tests en la merge request.")
    facts = _scenarios(ctx, "gitlab")
    reports = {name: text for name, text in facts.get("artifacts", {}).items()
               if name.endswith(".xml")}
    assert reports, ("El pipeline de GitLab no dejó ningún artefacto .xml: guarda el informe de "
                     "pytest (--junitxml) en artifacts (reports: junit y paths).")
    total = 0
    for name, text in reports.items():
        try:
            root = ET.fromstring(text)
        except ET.ParseError:
            raise AssertionError(f"El artefacto {name} no es XML válido.") from None
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        total += sum(int(s.get("tests", 0)) for s in suites)
        failures = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
        assert failures == 0, f"El informe {name} tiene {failures} fallos en el tag {RELEASE}."
    assert total > 0, "Los informes JUnit no contienen ningún test."


def _test_legs(run: pipelines.PipelineRun) -> list[str]:
    return [job for job, state in run.jobs.items()
            if job.split(" ")[0] == "test" and state == "success"]


@check("tests.matriz", points=1, needs=("docker", "act", "gitlabci"))
def tests_run_as_matrix(ctx):
    """El job test se ejecuta como matriz: al menos dos variantes corrieron y pasaron (act y gitlab-ci-local)."""
    for kind, key in (("github", "strategy: matrix"), ("gitlab", "parallel: matrix")):
        run = _scenarios(ctx, kind)["tag"]
        legs = _test_legs(run)
        assert len(legs) >= 2, (
            f"En {kind}, el tag {RELEASE} ejecutó {len(legs)} variante(s) del job test con "
            f"éxito ({legs or 'ninguna'}): se esperaba una matriz ({key}) con al menos dos, "
            f"todas en verde. {run.summary()}")


@check("github.junit", points=1, needs=("docker", "act"))
def github_junit_report(ctx):
    """En GitHub, el job test pasa --junitxml a pytest y todas sus variantes corren en verde con act."""
    job = (yaml.safe_load(_text(ctx, GITHUB)).get("jobs") or {}).get("test") or {}
    scripts = " ".join(str(step.get("run", "")) for step in job.get("steps") or []
                       if isinstance(step, dict))
    assert re.search(r"--junit-?xml(=|\s+)\S[^\n]*?\.xml", scripts), (
        "El job test no escribe el informe JUnit: pasa --junitxml=<fichero>.xml a pytest (en "
        "GitHub lo conserva un paso actions/upload-artifact; GitLab lo muestra con "
        "artifacts:reports:junit).")
    run = _scenarios(ctx, "github")["tag"]
    assert _test_legs(run), f"En el tag {RELEASE} no pasó ningún job test: {_explain(run)}"
    failed = [j for j, s in run.jobs.items() if j.split(" ")[0] == "test" and s != "success"]
    assert not failed, f"Variantes del job test que no pasaron: {failed}. {run.summary()}"


@check("despliegue.entorno", points=1)
def deploy_uses_environment(ctx):
    """El job deploy despliega en un entorno (environment) y, en GitLab, un tag se aprueba a mano (when: manual)."""
    github = (yaml.safe_load(_text(ctx, GITHUB)).get("jobs") or {}).get("deploy") or {}
    gitlab = yaml.safe_load(_text(ctx, GITLAB)).get("deploy") or {}
    for kind, job in (("github", github), ("gitlab", gitlab)):
        assert job, f"En {kind} no hay un job llamado «deploy»."
        environment = job.get("environment")
        name = environment.get("name") if isinstance(environment, dict) else environment
        assert name, (f"El job deploy de {kind} no declara «environment:» (por ejemplo "
                      "production): es donde se configuran la aprobación, los secretos del "
                      "entorno y el historial de despliegues.")
    manual = gitlab.get("when") == "manual" or any(
        isinstance(rule, dict) and rule.get("when") == "manual" for rule in gitlab.get("rules") or [])
    assert manual, ("En GitLab, el deploy de un tag no espera a una persona: añade "
                    "«when: manual» en la regla de los tags.")


@check("despliegue.cluster", points=2, needs=("docker", "act", "gitlabci", "cluster"))
def deploy_reaches_cluster(ctx):
    """El deploy del tag crea en el clúster un Deployment con la imagen 1.4.2 publicada, y su rollout termina."""
    for kind in ("github", "gitlab"):
        facts = _scenarios(ctx, kind)
        if facts["deployed"] is None:
            raise NotVerifiable("el clúster no respondió al preparar el espacio de nombres")
        image = f"{facts['host']}/{REPOSITORY}:1.4.2"
        found = [d for d in facts["deployed"] if image in d["images"]]
        seen = [f"{d['name']}: {', '.join(d['images'])}" for d in facts["deployed"]] or ["ninguno"]
        assert found, (
            f"En {kind}, tras el tag {RELEASE} no hay en el espacio de nombres "
            f"{facts['namespace']} ningún Deployment con la imagen {image} (hay: "
            f"{'; '.join(seen)}). El job deploy debe usar el secreto {KUBE_SECRET} (kubeconfig "
            "en base64), desplegar en $KUBE_NAMESPACE y usar la versión publicada. "
            f"{facts['tag'].summary()}")
        dep = found[0]
        assert dep["replicas"] > 0 and dep["ready"] == dep["updated"] == dep["replicas"], (
            f"En {kind}, el Deployment {dep['name']} no terminó su rollout ({dep['ready']} de "
            f"{dep['replicas']} réplicas listas): espera con helm --wait o kubectl rollout status.")


EXPLANATION = "Tarea 5"


def _prose_answer(ctx, heading: str) -> str | None:
    """The markdown the student wrote under ``## <heading>`` in the executed notebook
    (the cells after the task's own cell, up to the next section), or None without a
    notebook (a directory submission)."""
    found = sorted(ctx.workdir.glob("*.ipynb"))
    if not found:
        return None
    cells = nbformat.read(found[0], as_version=4).cells
    start = next((i for i, c in enumerate(cells) if c.cell_type == "markdown"
                  and c.source.lstrip().startswith(f"## {heading}")), None)
    if start is None:
        return ""
    answer = []
    for cell in cells[start + 1:]:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("#"):
            break
        if cell.cell_type == "markdown":
            answer.append(re.sub(r"<!-- (BEGIN|END) SOLUTION -->", "", cell.source).strip())
    return "\n\n".join(a for a in answer if a and a != MD_GAP)


@check("revision.explicacion", points=0)
def explanation_for_the_instructor(ctx):
    """Tarea 5, la explicación en prosa: la califica el profesor (0 puntos automáticos)."""
    answer = _prose_answer(ctx, EXPLANATION)
    if answer is None:
        raise ManualReview("Revisión manual: la entrega es una carpeta sin cuaderno, así que no "
                           "trae la explicación de la tarea 5; pídela aparte.")
    if not answer:
        raise ManualReview("Revisión manual: la tarea 5 está sin responder (la celda sigue con "
                           f"«{MD_GAP}»).")
    raise ManualReview("Revisión manual de la explicación (tarea 5), que no cuenta en la nota "
                       f"automática. Respuesta: «{answer[:1200]}»")


def before_execution(workdir: Path, run_id: str) -> dict:
    """The grader runs the pipelines itself (four scenarios each): the notebook only writes
    and validates the files, so its own demo run is switched off. A cluster (the one in
    use, or one created for this grading) receives the deploy jobs."""
    return {**ensure_cluster(workdir, run_id), "ejecutar": False}


# --- task items → checks (format in CONTRIBUTING.md; tests/test_task_items.py keeps it in sync)
TASK_ITEMS: dict[str, tuple[str, ...]] = {
    "1.1": ("github.disparadores", "github.publica", "github.cache",
            "despliegue.reglas"),                               # tag, main and PR events run
    "1.2": ("github.permisos",),
    "1.3": ("github.lint", "github.test_para", "tests.matriz", "github.junit"),
    "1.4": ("github.publica", "github.cache", "secretos.ficheros", "secretos.fugas",
            "despliegue.reglas"),
    "1.5": ("despliegue.entorno", "despliegue.reglas", "despliegue.cluster"),
    "2": ("gitlab.esquema", "gitlab.workflow", "gitlab.cache_pip", "gitlab.publica",
          "gitlab.test_para", "gitlab.artefactos",
          "tests.matriz", "secretos.ficheros", "secretos.fugas", "despliegue.reglas",
          "despliegue.entorno", "despliegue.cluster"),
    "3": ("github.esquema", "github.actionlint", "gitlab.esquema"),
    "4": ("github.publica", "gitlab.publica"),                  # the grader runs them itself
    "5": ("revision.explicacion",),                           # a person grades the prose
}
UNTASKED: dict[str, str] = {}
KNOWN_GAPS: dict[str, str] = {}
