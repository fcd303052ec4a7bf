"""The GitOps reconciler (course.gitops) against the course's real API server, a real
git server on loopback and a real Argo CD Application (its CRD installed): a commit
converges, drift is healed only with selfHeal, pruning only with prune and never touches
what is not ours, a bad commit keeps the last good state, a revert rolls back."""
import json

import pytest
import yaml

from course import envrepo, gitops, gitserver, processes
from course import docker as cdocker
from course.k8s import RUN_LABEL

# --- pure decisions (no cluster) ----------------------------------------------------------

def obj(kind="ConfigMap", name="a", api="v1", **fields):
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name}, **fields}


def test_drift_only_counts_fields_the_repository_sets():
    desired = obj("Deployment", "web", "apps/v1", spec={"replicas": 2, "template": {
        "spec": {"containers": [{"name": "app", "image": "x:1"}]}}})
    live = obj("Deployment", "web", "apps/v1", spec={"replicas": 2, "revisionHistoryLimit": 10,
               "template": {"spec": {"containers": [{"name": "app", "image": "x:1",
                                                     "imagePullPolicy": "IfNotPresent"}]}}},
               status={"replicas": 2})
    assert not gitops.drifted(desired, live)  # defaults and status are not drift
    live["spec"]["replicas"] = 5
    assert gitops.drifted(desired, live)
    live["spec"]["replicas"] = 2
    live["spec"]["template"]["spec"]["containers"].append({"name": "intruso", "image": "y"})
    assert gitops.drifted(desired, live)  # an extra container is drift


def test_prune_selects_only_what_left_the_repository_and_is_ours():
    def tracked(o, app="web"):
        o["metadata"]["labels"] = {gitops.TRACKING_LABEL: app}
        return o
    desired = [obj(name="queda")]
    live = [tracked(obj(name="queda")), tracked(obj(name="sobra")), tracked(obj("Service", "queda")),
            obj(name="kube-root-ca.crt"), tracked(obj(name="de-otra"), "otra")]
    assert [gitops.key(o) for o in gitops.to_prune(desired, live, "web")] == [
        ("", "ConfigMap", "sobra"), ("", "Service", "queda")]


def test_application_spec_reads_argo_fields():
    app = gitops.application("web", "ns", "git://h/r.git", "apps/x", "dest", prune=False)
    app["metadata"]["namespace"] = "ns"
    spec = gitops.AppSpec.from_application(app)
    assert (spec.automated, spec.prune, spec.self_heal, spec.create_namespace) == (True, False, True, True)
    del app["spec"]["syncPolicy"]["automated"]
    assert not gitops.AppSpec.from_application(app).automated
    app["spec"]["destination"]["server"] = "https://otro:6443"
    with pytest.raises(gitops.RenderError, match="solo despliega"):
        gitops.AppSpec.from_application(app)


# --- the loop, for real --------------------------------------------------------------------

@pytest.fixture
def gitops_env(gitops_cluster, tmp_path):
    """A run: CRDs, git server with the course's environment repository, the Application's
    namespace. Everything of the run is removed afterwards."""
    run, k8s_cluster = cdocker.new_run_id(), gitops_cluster
    server = gitserver.start(tmp_path / "servidor", run=run)
    repo = envrepo.EnvRepo(tmp_path / "entornos", server.create("entornos.git"))
    envrepo.scaffold(repo)
    repo.commit("Estructura inicial: base y overlays dev/prod")
    apps_ns = k8s_cluster.namespace(run, "argocd")

    def make(name="catalogo-dev", environment="dev", **policy):
        dest = f"{run}-{environment}"
        app = gitops.application(name, apps_ns, repo.url, repo.overlay(environment), dest, **policy)
        k8s_cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(app), echo=False)
        return gitops.Reconciler(k8s_cluster, apps_ns, name, tmp_path / f"rec-{name}", run=run), dest

    try:
        yield k8s_cluster, repo, make
    finally:
        processes.cleanup(run)
        k8s_cluster.delete_namespaces(run)


def replicas(cluster, namespace, name="catalogo"):
    return int(cluster.kubectl("get", "deployment", name, "-o", "jsonpath={.spec.replicas}",
                               namespace=namespace, echo=False).stdout)


def app_status(cluster, reconciler):
    return json.loads(cluster.kubectl("get", "application", reconciler.name, "-o", "json",
                                      namespace=reconciler.namespace, echo=False).stdout)["status"]


def set_replicas(repo, count, environment="dev"):
    path = f"{repo.overlay(environment)}/kustomization.yaml"
    text = repo.read(path)
    data = yaml.safe_load(text)
    data["replicas"][0]["count"] = count
    repo.write(path, yaml.safe_dump(data, sort_keys=False))


def test_commit_converges_and_status_is_written(gitops_env):
    cluster, repo, make = gitops_env
    rec, dest = make()
    first = rec.reconcile()
    assert first.action == "sincronizar" and first.revision == repo.head()
    assert RUN_LABEL in cluster.kubectl("get", "namespace", dest, "-o", "json", echo=False).stdout
    set_replicas(repo, 2)
    sha = repo.commit("dev: dos réplicas")
    second = rec.reconcile()
    assert (second.action, second.revision, replicas(cluster, dest)) == ("sincronizar", sha, 2)
    status = app_status(cluster, rec)
    assert status["sync"] == {**status["sync"], "status": "Synced", "revision": sha}
    assert [h["revision"] for h in status["history"]] == [first.revision, sha]
    assert {r["kind"] for r in status["resources"]} == {"ConfigMap", "Service", "Deployment"}
    assert rec.reconcile().action == "nada"  # nothing changed: nothing applied


def test_drift_is_healed_only_with_self_heal(gitops_env):
    cluster, repo, make = gitops_env
    healing, dest = make("con-autocorreccion")
    healing.reconcile()
    cluster.kubectl("scale", "deployment/catalogo", "--replicas=4", namespace=dest, echo=False)
    assert healing.reconcile().action == "corregir deriva"
    assert replicas(cluster, dest) == 1

    lazy, dest2 = make("sin-autocorreccion", "prod", self_heal=False)
    lazy.reconcile()
    cluster.kubectl("scale", "deployment/catalogo", "--replicas=7", namespace=dest2, echo=False)
    outcome = lazy.reconcile()
    assert (outcome.action, outcome.sync, replicas(cluster, dest2)) == ("nada", "OutOfSync", 7)


def test_prune_removes_only_what_left_the_repository(gitops_env):
    cluster, repo, make = gitops_env
    rec, dest = make()
    add_extra(repo, True)
    repo.commit("dev: un ConfigMap más")
    rec.reconcile()
    cluster.kubectl("create", "configmap", "ajeno", "--from-literal=k=v", namespace=dest, echo=False)
    add_extra(repo, False)
    repo.commit("dev: fuera el ConfigMap")
    outcome = rec.reconcile()
    assert outcome.pruned == ["ConfigMap/extra"]
    names = cluster.kubectl("get", "configmaps", "-o", "name", namespace=dest, echo=False).stdout
    assert "configmap/extra" not in names and "configmap/ajeno" in names


def add_extra(repo, present: bool):
    """Add (or take out) a ConfigMap ``extra`` in the dev overlay."""
    kustomization = f"{repo.overlay('dev')}/kustomization.yaml"
    data = yaml.safe_load(repo.read(kustomization))
    if present:
        repo.write(f"{repo.overlay('dev')}/extra.yaml", yaml.safe_dump(obj(name="extra", data={"k": "v"})))
        data["resources"].append("extra.yaml")
    else:
        data["resources"].remove("extra.yaml")
        repo.remove(f"{repo.overlay('dev')}/extra.yaml")
    repo.write(kustomization, yaml.safe_dump(data, sort_keys=False))


def test_without_prune_the_leftover_is_reported_not_deleted(gitops_env):
    cluster, repo, make = gitops_env
    rec, dest = make(prune=False)
    add_extra(repo, True)
    repo.commit("dev: un ConfigMap más")
    rec.reconcile()
    add_extra(repo, False)
    repo.commit("dev: fuera el ConfigMap")
    outcome = rec.reconcile()
    assert outcome.pruned == [] and outcome.sync == "OutOfSync"
    assert "configmap/extra" in cluster.kubectl("get", "configmaps", "-o", "name",
                                                namespace=dest, echo=False).stdout
    leftover = [r for r in app_status(cluster, rec)["resources"] if r.get("requiresPruning")]
    assert [r["name"] for r in leftover] == ["extra"]


def test_a_commit_that_does_not_render_changes_nothing(gitops_env):
    cluster, repo, make = gitops_env
    rec, dest = make()
    good = rec.reconcile().revision
    kustomization = f"{repo.overlay('dev')}/kustomization.yaml"
    repo.write(kustomization, repo.read(kustomization) + "\nresources: [no-existe.yaml]\n")
    repo.commit("dev: kustomization rota")
    broken = rec.reconcile()
    assert broken.action == "error" and "no se renderiza" in broken.message
    status = app_status(cluster, rec)
    assert status["conditions"][0]["type"] == "ComparisonError"
    assert status["sync"]["revision"] == good and replicas(cluster, dest) == 1


def test_a_commit_the_api_server_rejects_changes_nothing(gitops_env):
    cluster, repo, make = gitops_env
    rec, dest = make()
    good = rec.reconcile().revision
    set_replicas(repo, 3)
    repo.write(f"{repo.overlay('dev')}/malo.yaml", yaml.safe_dump(
        obj("Service", "malo", spec={"ports": [{"port": "ochenta"}]})))
    kustomization = f"{repo.overlay('dev')}/kustomization.yaml"
    data = yaml.safe_load(repo.read(kustomization))
    data["resources"].append("malo.yaml")
    repo.write(kustomization, yaml.safe_dump(data, sort_keys=False))
    bad = repo.commit("dev: tres réplicas y un Service inválido")
    outcome = rec.reconcile()
    assert outcome.action == "error" and outcome.revision == bad
    assert replicas(cluster, dest) == 1  # all or nothing: the valid change was not applied
    status = app_status(cluster, rec)
    assert status["sync"]["revision"] == good and status["conditions"][0]["type"] == "SyncError"
    fixed = repo.revert(bad)
    assert rec.reconcile().revision == fixed and not app_status(cluster, rec)["conditions"]


def test_git_revert_rolls_back_and_force_push_is_followed(gitops_env):
    cluster, repo, make = gitops_env
    rec, dest = make()
    rec.reconcile()
    set_replicas(repo, 2)
    change = repo.commit("dev: dos réplicas")
    rec.reconcile()
    repo.revert(change)
    assert rec.reconcile().action == "sincronizar" and replicas(cluster, dest) == 1
    set_replicas(repo, 3)
    repo.commit("dev: tres réplicas (se reescribirá)")
    rec.reconcile()
    from course.gitserver import git
    git("reset", "--hard", "HEAD~1", cwd=repo.path)
    repo.push(force=True)
    assert rec.reconcile().revision == repo.head() and replicas(cluster, dest) == 1


def test_unreachable_repository_and_foreign_objects_are_reported(gitops_env):
    cluster, repo, make = gitops_env
    rec, dest = make()
    rec.reconcile()
    other, _ = make("otra-app")  # same destination, same objects: a second owner
    outcome = other.reconcile()
    assert outcome.action == "error" and "otra aplicación" in outcome.message
    cluster.kubectl("patch", "application", rec.name, "--type=merge", "-p",
                    json.dumps({"spec": {"source": {"repoURL": "git://127.0.0.1:1/nada.git"}}}),
                    namespace=rec.namespace, echo=False)
    rec.mirror = rec.workdir / "otro.git"
    failed = rec.reconcile()
    assert failed.action == "error" and replicas(cluster, dest) == 1


def test_background_loop_converges_within_its_interval(gitops_env):
    cluster, repo, make = gitops_env
    rec, dest = make()
    rec.start(interval=0.5)
    try:
        rec.wait_for(lambda o: o.sync == "Synced", timeout=60)
        set_replicas(repo, 2)
        sha = repo.commit("dev: dos réplicas")
        rec.wait_for(lambda o: o.revision == sha and o.sync == "Synced", timeout=60)
        assert replicas(cluster, dest) == 2
    finally:
        rec.stop()


def test_a_missing_application_is_reported_and_has_no_status(gitops_env):
    """The Application is read and patched with the Python client: a missing one is a
    CommandFailed that names it (the loop records it as an error pass), and its status is {}."""
    cluster, repo, make = gitops_env
    rec, _ = make()
    assert gitops.application_status(cluster, rec.namespace, rec.name) == {}  # no pass yet
    rec.reconcile()
    assert gitops.application_status(cluster, rec.namespace, rec.name)["sync"]["status"] == "Synced"
    cluster.kubectl("delete", "application", rec.name, namespace=rec.namespace, echo=False)
    with pytest.raises(gitops.CommandFailed, match=rf"applications.argoproj.io/{rec.name} .*404"):
        rec.reconcile()
    assert gitops.application_status(cluster, rec.namespace, rec.name) == {}
    rec.stop()
