"""Lab 06 (15.6): GitOps — the environment repository, Argo CD Applications, the two
decisions of the reconcile loop, a promotion by merge and a revert.

Static checks read the student's repository with git (its history, not only its last
state), render the overlays with kubectl's Kustomize, validate the Applications with the
API server and the real Argo CD CRD, and call the student's functions on many cases in a
process of their own. Cluster checks never rely on what the notebook left: the grader
starts its own git server (a bare clone of the student's repository), its own GitOps
controller process with the student's functions, and one Application per check (the
student's dev Application with the grader's namespaces and a branch of its own), then
watches the live cluster: a commit converges, a manual change is undone, pruning spares
what is not the application's, and the student's broken commit changes nothing."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from course import crds, envrepo, gitops, gitserver, k8s, processes
from course.gitserver import git
from grader.checks import check
from grader.labs._cluster import ensure_cluster

REPO = "entornos"
APPS = "aplicaciones"
MODULE = "reconciliador.py"
STUDENT_RUNNER = Path(__file__).with_name("gitops_student.py")
ENVIRONMENTS = ("dev", "prod")
EXPECTED = {
    "dev": {"replicas": 1, "tag": "1.1.0", "config": {"ENVIRONMENT": "development", "LOG_LEVEL": "DEBUG"}},
    "prod": {"replicas": 3, "tag": "1.1.0", "config": {"ENVIRONMENT": "production", "LOG_LEVEL": "INFO"}},
}
INITIAL_TAG = "1.0.0"                  # what both overlays deploy when they are created
INTERVAL_S = 1.0                      # the grader's controller: one pass per second
PASSES = 4                            # a change must show within this many passes...
STALL_S = 120                         # ...and a wait ends if the app gets no pass this long
FUNCTION_TIMEOUT_S = 20
CLUSTER_NEEDS = ("cluster", "crds", "git", "kubectl")


before_execution = ensure_cluster  # a cluster for the notebook and the checks


# --- the repository and its history -----------------------------------------------------

def _repo(ctx) -> Path:
    path = ctx.workdir / REPO
    assert (path / ".git").exists(), (f"No encuentro el repositorio git en {REPO}/: el cuaderno "
                                      "lo crea con la celda que te damos (y tus commits van ahí).")
    return path


def _log(ctx, *args: str) -> str:
    return git(*args, cwd=_repo(ctx))


def render(ctx, environment: str, revision: str = "HEAD") -> list[dict]:
    """The student's overlay of ``environment`` at ``revision``, rendered (memoized)."""
    def compute():
        sha = _log(ctx, "rev-parse", "--verify", f"{revision}^{{commit}}").strip()
        with tempfile.TemporaryDirectory(prefix=f"{ctx.run_id}-render-") as tmp:
            archive = subprocess.run(["git", "archive", "--format=tar", sha], cwd=_repo(ctx),
                                     capture_output=True, check=True, timeout=60).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True, timeout=60)
            overlay = Path(tmp) / envrepo.APP_DIR / "overlays" / environment
            assert (overlay / "kustomization.yaml").exists(), (
                f"En {sha[:7]} no existe {envrepo.APP_DIR}/overlays/{environment}/kustomization.yaml.")
            done = k8s.kubectl("kustomize", str(overlay), echo=False, check=False, timeout=60)
            assert done.returncode == 0, (f"El overlay de {environment} no se renderiza en {sha[:7]}:\n"
                                          f"{done.stderr.strip()[-1200:]}")
            return k8s.objects(done.stdout)
    return ctx.memo(f"render:{environment}:{revision}", compute)


def _deployment(objects: list[dict], environment: str) -> dict:
    found = [o for o in objects if o.get("kind") == "Deployment"]
    assert found, f"El overlay de {environment} no genera ningún Deployment."
    return found[0]


def _image_tag(objects: list[dict], environment: str) -> str:
    image = _deployment(objects, environment)["spec"]["template"]["spec"]["containers"][0]["image"]
    return image.rpartition(":")[2] if ":" in image else "(sin etiqueta)"


def _config(objects: list[dict]) -> dict:
    maps = [o for o in objects if o.get("kind") == "ConfigMap"
            and o["metadata"]["name"].startswith("catalogo-config")]
    return maps[0].get("data", {}) if maps else {}


def _commits(ctx) -> list[dict]:
    """First-parent history of main, oldest first: sha, parents, subject, body."""
    def compute():
        out = _log(ctx, "log", "--first-parent", "--reverse", "--format=%H%x1f%P%x1f%s%x1f%b%x1e", "main")
        commits = []
        for record in out.split("\x1e"):
            if record.strip():
                sha, parents, subject, body = record.strip("\n").split("\x1f")
                commits.append({"sha": sha, "parents": parents.split(), "subject": subject, "body": body})
        assert commits, "La rama main de entornos/ no tiene commits."
        return commits
    return ctx.memo("commits", compute)


def _changed(ctx, old: str, new: str) -> list[str]:
    return _log(ctx, "diff", "--name-only", old, new).split()


def _revert(ctx) -> tuple[str, str]:
    """(the reverted commit, the revert commit): the last ``git revert`` on main."""
    for commit in reversed(_commits(ctx)):
        marker = "This reverts commit "
        if marker in commit["body"]:
            reverted = commit["body"].split(marker, 1)[1][:40]
            return reverted, commit["sha"]
    raise AssertionError("No hay ningún commit de `git revert` en main (su mensaje empieza por "
                         "«Revert» y dice «This reverts commit …»): la tarea 5 deshace así el commit roto.")


# --- the Applications --------------------------------------------------------------------

def _application(ctx, environment: str) -> dict:
    path = ctx.workdir / APPS / f"catalogo-{environment}.yaml"
    assert path.exists(), f"Falta {APPS}/catalogo-{environment}.yaml (tarea 2)."
    try:
        app = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise AssertionError(f"{path.name} no es YAML válido: {exc}") from None
    assert isinstance(app, dict) and app.get("kind") == "Application" \
        and str(app.get("apiVersion", "")).startswith("argoproj.io/"), (
        f"{path.name} no es un Application de Argo CD (apiVersion argoproj.io/v1alpha1).")
    return app


def _relocated(app: dict, namespace: str, destination: str, **source: str) -> dict:
    """The student's Application with the grader's namespaces (and source fields)."""
    moved = json.loads(json.dumps(app))
    moved["metadata"] = {**moved.get("metadata", {}), "namespace": namespace}
    moved.setdefault("spec", {}).setdefault("destination", {})["namespace"] = destination
    moved["spec"].setdefault("source", {}).update(source)
    return moved


# --- the student's functions, in a process of their own ---------------------------------

def _cm(name: str, app: str | None = None, **data: str) -> dict:
    labels = {gitops.TRACKING_LABEL: app} if app else {}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels},
            "data": data}


def _dep(replicas: int = 2, image: str = "catalogo:1.1.0", **extra) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "catalogo", "labels": {"app": "catalogo"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "catalogo"}},
                     "template": {"metadata": {"labels": {"app": "catalogo"}},
                                  "spec": {"containers": [{"name": "catalogo", "image": image}]}}},
            **extra}


def _live_dep(**changes) -> dict:
    """A Deployment as the API server returns it: defaults, status, server metadata."""
    live = _dep()
    live["metadata"].update({"uid": "0b7c", "resourceVersion": "812", "generation": 3,
                             "annotations": {"deployment.kubernetes.io/revision": "3"},
                             "managedFields": [{"manager": "tema15-gitops"}]})
    live["spec"].update({"revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                         "strategy": {"type": "RollingUpdate"}})
    live["spec"]["template"]["spec"].update({"restartPolicy": "Always", "dnsPolicy": "ClusterFirst"})
    live["spec"]["template"]["spec"]["containers"][0].update(
        {"imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log"})
    live["status"] = {"replicas": 2, "readyReplicas": 2}
    for path, value in changes.items():
        target = live
        *parents, last = path.split(".")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return live


DRIFT_CASES = [  # (id, desired, live, expected, what it means)
    ("igual", _dep(), _live_dep(), False,
     "lo que añade el servidor (valores por defecto, status, uid, anotaciones) no es deriva"),
    ("replicas", _dep(), _live_dep(**{"spec.replicas": 5}), True, "réplicas cambiadas con kubectl scale"),
    ("imagen", _dep(), _live_dep(**{"spec.template.spec.containers.0.image": "catalogo:9.9.9"}), True,
     "la imagen de un contenedor cambiada a mano"),
    ("contenedor_extra", _dep(), _live_dep(**{"spec.template.spec.containers": [
        _live_dep()["spec"]["template"]["spec"]["containers"][0], {"name": "intruso", "image": "x:1"}]}),
     True, "un contenedor añadido a mano"),
    ("etiqueta", _dep(), _live_dep(**{"metadata.labels": {}}), True, "una etiqueta del repositorio borrada"),
    ("configmap", _cm("c", LOG_LEVEL="INFO"), {**_cm("c", LOG_LEVEL="DEBUG"),
                                              "metadata": {"name": "c", "uid": "1"}}, True,
     "un valor de un ConfigMap editado"),
    ("configmap_igual", _cm("c", LOG_LEVEL="INFO"), {**_cm("c", LOG_LEVEL="INFO"),
                                                    "metadata": {"name": "c", "uid": "1", "labels": {}}},
     False, "un ConfigMap idéntico salvo metadatos del servidor"),
]
APP = "catalogo-dev"
PRUNE_CASES = [  # (id, desired, live, expected [[kind, name]], what it means)
    ("poda", [_cm("queda", APP), _dep()],
     [_cm("queda", APP), _cm("sobra", APP), {**_dep(), "metadata": {"name": "catalogo", "labels": {
         gitops.TRACKING_LABEL: APP}}}, _cm("kube-root-ca.crt"), _cm("ajeno"), _cm("de-otra", "otra-app")],
     [["ConfigMap", "sobra"]], "solo lo que es de la aplicación y ya no está en el repositorio"),
    ("tipo", [_dep()],
     [{**_dep(), "metadata": {"name": "catalogo", "labels": {gitops.TRACKING_LABEL: APP}}},
      {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "catalogo", "labels": {
          gitops.TRACKING_LABEL: APP}}}],
     [["Service", "catalogo"]], "un objeto se identifica por tipo y nombre, no solo por nombre"),
    ("vacio", [], [_cm("a", APP), _cm("b"), _cm("c", "otra-app")], [["ConfigMap", "a"]],
     "si el repositorio se vacía, se poda todo lo suyo y nada más"),
]


def _answers(ctx) -> dict:
    def run_cases():
        module = ctx.workdir / MODULE
        assert module.exists(), f"No existe {MODULE} en la carpeta de trabajo (tarea 3, %%writefile)."
        cases = [{"id": f"deriva:{c[0]}", "function": "drifted", "desired": c[1], "live": c[2]}
                 for c in DRIFT_CASES] + [
                {"id": f"poda:{c[0]}", "function": "to_prune", "desired": c[1], "live": c[2], "app": APP}
                for c in PRUNE_CASES]
        with tempfile.TemporaryDirectory(prefix=f"{ctx.run_id}-funciones-") as tmp:
            cases_file, out = Path(tmp, "casos.json"), Path(tmp, "resultados.json")
            cases_file.write_text(json.dumps(cases))
            try:
                subprocess.run([sys.executable, "-I", str(STUDENT_RUNNER), "casos", str(module),
                                str(cases_file), str(out)], cwd=tmp, capture_output=True,
                               timeout=FUNCTION_TIMEOUT_S, check=False)
            except subprocess.TimeoutExpired:
                pass
            data = json.loads(out.read_text()) if out.exists() else {}
        assert "__import__" not in data, f"No se puede importar {MODULE}: {data.get('__import__')}"
        assert data, f"{MODULE} no terminó en {FUNCTION_TIMEOUT_S} s."
        return data
    return ctx.memo("funciones", run_cases)


def _judge(ctx, prefix: str, cases: list[tuple], function: str) -> None:
    answers, wrong = _answers(ctx), []
    for case_id, _desired, _live, expected, meaning in cases:
        got = answers.get(f"{prefix}:{case_id}")
        if got is None:
            wrong.append(f"{meaning}: no terminó a tiempo")
        elif "error" in got:
            wrong.append(f"{meaning}: lanzó {got['error']}")
        elif (sorted(got["value"]) if isinstance(expected, list) else got["value"]) != \
                (sorted(expected) if isinstance(expected, list) else expected):
            wrong.append(f"{meaning}: devolvió {got['value']!r} y debía {expected!r}")
    assert not wrong, f"{function} falla en {len(wrong)} caso(s):\n- " + "\n- ".join(wrong)


# --- the grader's own GitOps setup on the cluster ----------------------------------------

@dataclass
class CheckApp:
    """One Application per cluster check: the student's, on a branch of its own."""
    name: str
    environment: str
    dest: str
    clone: envrepo.EnvRepo
    rejected: str = ""                # the API server's answer if it refused the Application


@dataclass
class Scenario:
    cluster: k8s.Cluster
    url: str
    apps_ns: str
    root: Path
    state: Path
    controller: processes.Process
    apps: dict[str, CheckApp]


def _plan(ctx) -> dict[str, tuple[str, str]]:
    """check name -> (the revision its branch starts at, the environment it deploys)."""
    plan = {name: ("main", "dev") for name in ("converge", "deriva", "poda")}
    try:
        bad, _ = _revert(ctx)
    except AssertionError:
        return plan  # cluster.commit_roto fails on its own, saying why
    prod_dir = f"{envrepo.APP_DIR}/overlays/prod/"
    touched = _changed(ctx, f"{bad}^", bad)
    plan["roto"] = (f"{bad}^", "prod" if touched and all(f.startswith(prod_dir) for f in touched) else "dev")
    return plan


def _scenario(ctx) -> Scenario:
    """The grader's git server (a bare clone of the student's repository), its controller
    process with the student's functions, and every check's Application created at once,
    so that their first syncs overlap."""
    def start():
        cluster = k8s.find()
        assert cluster is not None, f"Sin clúster: {k8s.why_none()}"
        assert (ctx.workdir / MODULE).exists(), f"No existe {MODULE}: el controlador necesita tus funciones."
        repo = _repo(ctx)
        crds.install(cluster, "argo-cd")
        root = ctx.workdir / ".corrector"   # deleted with the work dir
        server = gitserver.start(root / "servidor", run=ctx.run_id)
        git("clone", "--quiet", "--bare", str(repo), str(root / "servidor" / "entornos.git"))
        # Names the notebook never uses: its own namespaces of this run may still be terminating.
        apps_ns = cluster.namespace(ctx.run_id, "corrector")
        state = root / "controlador"
        controller = processes.spawn(
            "gitops-controlador", [sys.executable, "-I", str(STUDENT_RUNNER), "controlador",
                                   str(ctx.workdir / MODULE), apps_ns, str(state), ctx.run_id,
                                   str(INTERVAL_S)],
            log_dir=root / "registros", run=ctx.run_id)
        scenario = Scenario(cluster, server.url("entornos.git"), apps_ns, root, state, controller, {})
        for name, (revision, environment) in _plan(ctx).items():
            scenario.apps[name] = _create_app(ctx, scenario, name, revision, environment)
        return scenario
    return ctx.memo("escenario", start)


def _create_app(ctx, scenario: Scenario, name: str, revision: str, environment: str) -> CheckApp:
    """A branch ``corrector/<name>`` at ``revision`` and the student's Application of
    ``environment`` following it, named ``<env>-<name>``, in a namespace of its own."""
    branch = f"corrector/{name}"
    entry = CheckApp(f"{environment}-{name}", environment, f"{ctx.run_id}-corrector-{name}",
                     envrepo.EnvRepo(scenario.root / "clones" / name, scenario.url, branch=branch))
    git("reset", "--quiet", "--hard", revision, cwd=entry.clone.path)
    entry.clone.push(force=True)
    app = _relocated(_application(ctx, environment), scenario.apps_ns, entry.dest,
                     repoURL=scenario.url, targetRevision=branch)
    app["metadata"]["name"] = entry.name
    done = scenario.cluster.kubectl("apply", "--server-side", "--field-manager=corrector-lab06",
                                    "-f", "-", input=yaml.safe_dump(app), echo=False, check=False)
    entry.rejected = done.stderr.strip()[:500] if done.returncode else ""
    return entry


def _passes(scenario: Scenario, app: str) -> list[dict]:
    log = scenario.state / "pasadas.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    return [p for p in map(json.loads, lines) if p["app"] == app]


def _controller_trouble(scenario: Scenario, app: str) -> str:
    """Why the controller may not have acted, for the student: its own crash, or the
    errors of the last passes (an exception in drifted/to_prune shows up here)."""
    error = scenario.state / "error.txt"
    if error.exists():
        return f" El controlador no arrancó: {error.read_text()}"
    if not scenario.controller.alive():
        return f" El controlador terminó:\n{scenario.controller.tail(8)}"
    errors = [p["message"] for p in _passes(scenario, app) if p["action"] == "error"]
    return f" Último error del bucle: {errors[-1][:400]}" if errors else ""


def _app_for(ctx, name: str) -> tuple[Scenario, envrepo.EnvRepo, str, str]:
    """The check's Application, once it has synced its branch for the first time: the
    scenario, a working copy on that branch, the app's name and its namespace."""
    scenario = _scenario(ctx)
    entry = scenario.apps[name]
    assert not entry.rejected, (f"El API server no acepta tu Application de {entry.environment}: "
                                f"{entry.rejected}")
    head = entry.clone.head()
    if not _until(lambda: _synced(head)(_status(scenario, entry.name)), scenario, entry.name):
        raise AssertionError(f"Tu Application de {entry.environment} no llega a desplegarse solo: "
                             f"{gitops.describe(_status(scenario, entry.name))}."
                             + _controller_trouble(scenario, entry.name))
    return scenario, entry.clone, entry.name, entry.dest


def _status(scenario: Scenario, app: str) -> dict:
    return gitops.application_status(scenario.cluster, scenario.apps_ns, app)


def _synced(revision: str):
    return lambda s: ((s.get("sync") or {}).get("status") == "Synced"
                      and (s.get("sync") or {}).get("revision") == revision)


def _get(scenario: Scenario, namespace: str, *what: str, jsonpath: str) -> str:
    return scenario.cluster.kubectl("get", *what, "-o", f"jsonpath={jsonpath}", namespace=namespace,
                                    echo=False, check=False).stdout


def _until(predicate, scenario: Scenario, app: str, passes: int = PASSES) -> bool:
    """Wait until ``predicate()`` holds (True) or the controller has made ``passes`` more
    passes over ``app`` without it (False). Counted in passes, not seconds: a loop that acts
    does so within a pass or two, however loaded the machine (a fixed 45 s failed correct
    submissions in CI). A controller that dies, or makes no pass over ``app`` for STALL_S,
    ends the wait too."""
    seen = count = len(_passes(scenario, app))
    progress = time.monotonic()
    while True:
        if predicate():
            return True
        now = len(_passes(scenario, app))
        if now >= seen + passes:
            return predicate()
        if now != count:
            count, progress = now, time.monotonic()
        elif time.monotonic() - progress > STALL_S or not scenario.controller.alive():
            return predicate()
        time.sleep(0.3)


# --- checks: the repository ---------------------------------------------------------------

@check("repo.estructura", points=1, needs=("git", "kubectl"))
def layout_renders(ctx):
    """entornos/ tiene base y un overlay por entorno que se renderiza, sin fijar el espacio de nombres."""
    for environment in ENVIRONMENTS:
        objects = render(ctx, environment)
        kinds = {o["kind"] for o in objects}
        assert {"Deployment", "Service", "ConfigMap"} <= kinds, (
            f"El overlay de {environment} genera {sorted(kinds)}: debe partir de ../../base.")
        fixed = sorted({o["metadata"]["namespace"] for o in objects if o["metadata"].get("namespace")})
        assert not fixed, (f"El overlay de {environment} fija namespace {fixed}: en GitOps lo decide "
                           "el destino del Application (y el corrector despliega en los suyos).")


@check("repo.entornos", points=2, needs=("git", "kubectl"))
def environments_are_as_asked(ctx):
    """Al final, dev es 1 réplica de 1.1.0 con ENVIRONMENT=development y LOG_LEVEL=DEBUG, y prod 3 réplicas de 1.1.0 con la configuración de la base."""
    for environment, want in EXPECTED.items():
        objects = render(ctx, environment)
        deployment = _deployment(objects, environment)
        assert deployment["spec"].get("replicas") == want["replicas"], (
            f"{environment}: {deployment['spec'].get('replicas')} réplicas; se piden {want['replicas']}.")
        assert _image_tag(objects, environment) == want["tag"], (
            f"{environment}: la imagen es {_image_tag(objects, environment)}; al terminar debe ser "
            f"{want['tag']} (publicada en dev y promocionada a prod).")
        config = _config(objects)
        wrong = {k: config.get(k) for k, v in want["config"].items() if config.get(k) != v}
        assert not wrong, (f"{environment}: el ConfigMap tiene {wrong}; se pide {want['config']} "
                           "(behavior: merge sobre el de la base).")


@check("repo.inicial", points=1, needs=("git", "kubectl"))
def overlays_start_at_the_first_release(ctx):
    """Cada overlay nace (su primer commit en main) con catalogo:1.0.0: dev con 1 réplica y prod con 3."""
    for environment, replicas in (("dev", 1), ("prod", 3)):
        path = f"{envrepo.APP_DIR}/overlays/{environment}/kustomization.yaml"
        first = _log(ctx, "log", "--first-parent", "--reverse", "--format=%H", "main", "--", path).split()
        assert first, f"Ningún commit de main crea {path}."
        objects = render(ctx, environment, first[0])
        tag = _image_tag(objects, environment)
        got = _deployment(objects, environment)["spec"].get("replicas")
        assert (tag, got) == (INITIAL_TAG, replicas), (
            f"Cuando se crea el overlay de {environment} ({first[0][:7]}) despliega {got} réplica(s) "
            f"de catalogo:{tag}; la tarea 1 lo pide con {replicas} de catalogo:{INITIAL_TAG} (la "
            "1.1.0 llega después, publicada en dev y promocionada a prod).")


@check("git.promocion", points=2, needs=("git", "kubectl"))
def promotion_is_a_merge(ctx):
    """La promoción a prod es un commit de merge en main que solo cambia el overlay de prod, después de publicar 1.1.0 en dev."""
    prod_dir = f"{envrepo.APP_DIR}/overlays/prod/"
    merges = [c for c in _commits(ctx) if len(c["parents"]) > 1]
    assert merges, ("No hay ningún commit de merge en main: promocionar es fusionar una rama "
                    "(git merge --no-ff), no un commit directo en main.")
    reasons = []
    for merge in merges:
        base, sha = merge["parents"][0], merge["sha"]
        outside = [f for f in _changed(ctx, base, sha) if not f.startswith(prod_dir)]
        before, after = _image_tag(render(ctx, "prod", base), "prod"), _image_tag(render(ctx, "prod", sha), "prod")
        in_dev = _image_tag(render(ctx, "dev", base), "dev")
        if outside:
            reasons.append(f"{sha[:7]} cambia también {outside[:4]}")
        elif after != "1.1.0" or before == "1.1.0":
            reasons.append(f"{sha[:7]} no lleva prod de {before} a 1.1.0 (queda en {after})")
        elif in_dev != "1.1.0":
            reasons.append(f"{sha[:7]} promociona 1.1.0 antes de que dev la tuviera (dev: {in_dev})")
        else:
            return
    raise AssertionError("Ningún merge es una promoción limpia: " + "; ".join(reasons) + ".")


@check("git.revert", points=1, needs=("git",))
def revert_undoes_the_bad_commit(ctx):
    """El commit roto se deshace con git revert (un commit nuevo en main) y deja el repositorio como antes de él."""
    bad, revert = _revert(ctx)
    shas = [c["sha"] for c in _commits(ctx)]
    assert bad in shas, (f"El commit revertido {bad[:7]} no está en la historia de main: ¿se "
                         "reescribió la historia? Con GitOps nunca se hace push --force.")
    touched = _changed(ctx, f"{bad}^", bad)
    left = [f for f in touched if f in _log(ctx, "diff", "--name-only", f"{bad}^", revert).split()]
    assert not left, f"Tras el revert, {left} no vuelve a ser como antes del commit roto."


# --- checks: the Applications ----------------------------------------------------------

@check("aplicacion.valida", points=2, needs=("cluster", "crds"))
def applications_are_accepted(ctx):
    """Los dos Application son válidos para el API server con la CRD real de Argo CD (campos y tipos)."""
    cluster = k8s.find()
    crds.install(cluster, "argo-cd")
    namespace = cluster.namespace(ctx.run_id, "validacion")
    for environment in ENVIRONMENTS:
        app = _relocated(_application(ctx, environment), namespace, f"{ctx.run_id}-{environment}")
        done = cluster.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-",
                               input=yaml.safe_dump(app), echo=False, check=False)
        assert done.returncode == 0, (f"El API server rechaza catalogo-{environment}.yaml:\n"
                                      f"{done.stderr.strip()[-800:]}")


@check("aplicacion.politica", points=2, needs=())
def applications_have_the_asked_policy(ctx):
    """Cada Application (en argocd, proyecto default) lee la ruta de su overlay en main, despliega en este clúster y sincroniza sola con prune, selfHeal y CreateNamespace."""
    for environment in ENVIRONMENTS:
        app = _application(ctx, environment)
        name = f"catalogo-{environment}.yaml"
        spec = app.get("spec") or {}
        source, dest = spec.get("source") or {}, spec.get("destination") or {}
        policy = spec.get("syncPolicy") or {}
        automated = policy.get("automated")
        problems = []
        if (app.get("metadata") or {}).get("name") != f"catalogo-{environment}":
            problems.append(f"metadata.name debe ser catalogo-{environment}")
        if (app.get("metadata") or {}).get("namespace", "argocd") != "argocd":
            problems.append("metadata.namespace debe ser argocd (donde Argo CD busca sus Application)")
        if spec.get("project") != "default":
            problems.append(f"spec.project es {spec.get('project')!r}; se pide el proyecto default")
        if source.get("chart"):
            problems.append("source.chart es para charts de un repositorio Helm; aquí va source.path")
        if (source.get("path") or "").strip("/").removeprefix("./") != f"{envrepo.APP_DIR}/overlays/{environment}":
            problems.append(f"source.path es {source.get('path')!r}, no el overlay de {environment}")
        if source.get("targetRevision") not in ("main", "HEAD", "refs/heads/main"):
            problems.append(f"targetRevision es {source.get('targetRevision')!r}; se pide la rama main")
        if dest.get("server") != gitops.IN_CLUSTER:
            problems.append(f"destination.server debe ser {gitops.IN_CLUSTER}")
        if dest.get("namespace") != f"catalogo-{environment}":
            problems.append(f"destination.namespace debe ser catalogo-{environment}")
        if not isinstance(automated, dict) or automated.get("enabled") is False:
            problems.append("falta syncPolicy.automated: sin él solo informa de OutOfSync")
        else:
            problems += [f"automated.{k} debe ser true" for k in ("prune", "selfHeal") if automated.get(k) is not True]
        if "CreateNamespace=true" not in (policy.get("syncOptions") or []):
            problems.append("falta CreateNamespace=true en syncOptions")
        assert not problems, f"{name}: " + "; ".join(problems) + "."


# --- checks: the student's functions -----------------------------------------------------

@check("funciones.deriva", points=2, needs=())
def drift_decision_is_right(ctx):
    """drifted() ve la deriva en réplicas, imágenes, listas, etiquetas y datos, y no en lo que añade el servidor."""
    _judge(ctx, "deriva", DRIFT_CASES, "drifted")


@check("funciones.poda", points=2, needs=())
def prune_decision_is_right(ctx):
    """to_prune() elige solo los objetos de la aplicación que ya no están en el repositorio (por grupo, tipo y nombre)."""
    _judge(ctx, "poda", PRUNE_CASES, "to_prune")


# --- checks: the live cluster, with the grader's own controller ------------------------

@check("cluster.converge", points=2, needs=CLUSTER_NEEDS)
def a_commit_converges(ctx):
    """Con tu Application y tus funciones, un commit nuevo (2 réplicas de 1.2.0) llega al clúster en pocas pasadas del bucle."""
    scenario, clone, app, dest = _app_for(ctx, "converge")
    clone.set_image("dev", "1.2.0")
    clone.set_replicas("dev", 2)
    sha = clone.commit("corrector: dev con 2 réplicas de 1.2.0")
    shape = "{.spec.replicas} {.spec.template.spec.containers[0].image}"
    arrived = _until(lambda: _get(scenario, dest, "deployment", "catalogo", jsonpath=shape)
                     == "2 catalogo:1.2.0", scenario, app)
    assert arrived, (f"El commit {sha[:7]} no llegó al clúster en {PASSES} pasadas del bucle "
                     f"(Deployment: {_get(scenario, dest, 'deployment', 'catalogo', jsonpath=shape)!r}): "
                     "¿drifted() ve el cambio?" + _controller_trouble(scenario, app))
    synced = _until(lambda: _synced(sha)(_status(scenario, app)), scenario, app)
    assert synced, (f"Desplegado, pero el Application no queda Synced en {sha[:7]}: "
                    f"{gitops.describe(_status(scenario, app))}." + _controller_trouble(scenario, app))


@check("cluster.deriva", points=2, needs=CLUSTER_NEEDS)
def manual_change_is_undone(ctx):
    """Sin cambios no hay deriva (no se reaplica en cada pasada) y un kubectl scale manual se deshace solo."""
    scenario, _clone, app, dest = _app_for(ctx, "deriva")
    seen = len(_passes(scenario, app))
    _until(lambda: False, scenario, app, passes=3)  # three passes with nothing changed
    heals = [p for p in _passes(scenario, app)[seen:] if p["action"] == "corregir deriva"]
    assert not heals, (f"Sin tocar nada, el bucle corrigió una «deriva» en {len(heals)} de "
                       f"{len(_passes(scenario, app)) - seen} pasadas: drifted() ve diferencias donde "
                       "no las hay (y reaplicaría en cada pasada).")
    expected = _get(scenario, dest, "deployment", "catalogo", jsonpath="{.spec.replicas}")
    scenario.cluster.kubectl("scale", "deployment/catalogo", "--replicas=5", namespace=dest, echo=False)
    healed = _until(lambda: _get(scenario, dest, "deployment", "catalogo", jsonpath="{.spec.replicas}")
                    == expected, scenario, app)
    assert healed, (f"Tras `kubectl scale --replicas=5`, en {PASSES} pasadas del bucle no volvió a "
                    f"{expected} réplica(s): hace falta selfHeal: true y que drifted() vea el cambio."
                    + _controller_trouble(scenario, app))


@check("cluster.poda", points=2, needs=CLUSTER_NEEDS)
def prune_spares_what_is_not_ours(ctx):
    """Un manifiesto borrado del repositorio se poda en pocas pasadas del bucle y lo ajeno del espacio de nombres sigue ahí."""
    scenario, clone, app, dest = _app_for(ctx, "poda")
    kustomization = f"{clone.overlay('dev')}/kustomization.yaml"
    clone.write(f"{clone.overlay('dev')}/extra.yaml", yaml.safe_dump(_cm("extra", k="v")))
    clone.edit_yaml(kustomization, lambda data: data.setdefault("resources", []).append("extra.yaml"))
    added = clone.commit("corrector: un ConfigMap extra")
    assert _until(lambda: _synced(added)(_status(scenario, app)), scenario, app), (
        f"El commit que añade un ConfigMap no se sincronizó: {gitops.describe(_status(scenario, app))}."
        + _controller_trouble(scenario, app))
    for foreign in (_cm("ajeno", k="v"), _cm("de-otra-app", "otra-app", k="v")):
        scenario.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(foreign), namespace=dest, echo=False)
    clone.edit_yaml(kustomization, lambda data: data["resources"].remove("extra.yaml"))
    clone.remove(f"{clone.overlay('dev')}/extra.yaml")
    clone.commit("corrector: fuera el ConfigMap extra")

    def names():
        return set(_get(scenario, dest, "configmaps", jsonpath="{.items[*].metadata.name}").split())
    pruned = _until(lambda: "extra" not in names(), scenario, app)
    assert pruned, (f"El ConfigMap extra sigue en el clúster {PASSES} pasadas después de borrarlo del "
                    "repositorio: hace falta prune: true y que to_prune() lo elija."
                    + _controller_trouble(scenario, app))
    _until(lambda: False, scenario, app, passes=2)  # a wrong to_prune goes on deleting
    gone = {"ajeno", "de-otra-app"} - names()
    assert not gone, f"La poda borró {sorted(gone)}, que no eran de la aplicación."


@check("cluster.commit_roto", points=2, needs=CLUSTER_NEEDS)
def broken_commit_changes_nothing(ctx):
    """Tu commit roto (el que deshace tu revert) no se aplica: el Application informa del error y el clúster sigue en la revisión anterior."""
    bad, _revert_sha = _revert(ctx)
    scenario, clone, app, dest = _app_for(ctx, "roto")
    before = _get(scenario, dest, "deployment", "catalogo", jsonpath="{.metadata.generation}")
    git("reset", "--quiet", "--hard", bad, cwd=clone.path)
    clone.push(force=True)

    def decided():
        status = _status(scenario, app)
        return (any(c["type"] in ("SyncError", "ComparisonError") for c in status.get("conditions") or [])
                or (status.get("sync") or {}).get("revision") == bad)
    assert _until(decided, scenario, app), (
        f"Con tu commit roto {bad[:7]} el controlador no llegó a nada: "
        f"{gitops.describe(_status(scenario, app))}." + _controller_trouble(scenario, app))
    status = _status(scenario, app)
    assert (status.get("sync") or {}).get("revision") != bad, (
        f"Tu commit «roto» {bad[:7]} se aplicó sin error: no era inválido para el API server. La "
        "tarea 5 pide un commit que el servidor rechace (p. ej. un puerto que sea un texto).")
    assert _get(scenario, dest, "deployment", "catalogo", jsonpath="{.metadata.generation}") == before, \
        "El Deployment cambió con el commit roto: no debía aplicarse nada de él."


# --- task items → checks (format in CONTRIBUTING.md; tests/test_task_items.py keeps it in sync)
TASK_ITEMS: dict[str, tuple[str, ...]] = {
    "1.1": ("repo.estructura", "repo.inicial", "repo.entornos"),  # dev overlay
    "1.2": ("repo.estructura", "repo.inicial", "repo.entornos"),  # prod overlay
    "2.1": ("aplicacion.politica", "aplicacion.valida", "cluster.converge"),
    "2.2": ("aplicacion.politica", "aplicacion.valida"),
    "2.3": ("aplicacion.politica", "cluster.deriva", "cluster.poda"),
    "3.1": ("funciones.deriva", "cluster.deriva", "cluster.converge"),
    "3.2": ("funciones.poda", "cluster.poda"),
    "4.1": ("git.promocion", "repo.entornos"),
    "4.2": ("git.promocion",),
    "5": ("git.revert", "cluster.commit_roto"),
}
UNTASKED: dict[str, str] = {}
KNOWN_GAPS: dict[str, str] = {}
