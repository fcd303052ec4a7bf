"""A Kubernetes credential limited to one submission, for ``curso corregir --aislado``.

The host creates, with its admin credential, the namespaces the lab's notebook and checks
will ask for (the names ``Cluster.namespace(run, suffix)`` gives, so that their own
``kubectl apply`` of them changes nothing), a ServiceAccount in a namespace of its own
(the submission cannot touch it), a Role + RoleBinding in each lab namespace with only the
resources the lab uses, and a short-lived token (TokenRequest API). The sandbox gets a
kubeconfig with that token; no admin credential enters it (``cache_mounts`` hides the
course's kubeconfigs). Everything carries the run label: ``cleanup.run(run)`` deletes it,
and deleting the ServiceAccount invalidates the token at once.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from course import crds, k8s, processes, show
from course.docker import RUN_LABEL
from grader.sandbox import SOCKET_DIR

CONTEXT = "tema15-aislado"
SERVICE_ACCOUNT = "entrega"
ACCESS_SUFFIX = "acceso"          # the ServiceAccount's namespace: no rights granted there
KUBECONFIG_NAME = "kubeconfig"    # in the sandbox's private dir
RELAY = Path(__file__).with_name("socket_relay.py")
READY_TIMEOUT_S = 20
POD_SECURITY = "pod-security.kubernetes.io/enforce=baseline"
# Never handed to the sandbox: the course's admin kubeconfigs (kwok's PKI, kind's) and the
# file that tells a run it created the cluster (its cleanup would try to delete it).
SECRET_CACHE_ENTRIES = ("kwok", k8s.KIND_KUBECONFIG.name, k8s.OWNER_FILE.name)

ALL = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
READ = ["get", "list", "watch"]
# What a namespaced application of the course is made of (Deployment, its ReplicaSets and
# pods, Service, ConfigMap); Secrets hold Helm's releases.
WORKLOAD_RULES = [
    {"apiGroups": [""], "resources": ["configmaps", "services", "pods", "secrets",
                                      "serviceaccounts", "persistentvolumeclaims"], "verbs": ALL},
    {"apiGroups": [""], "resources": ["pods/log", "endpoints", "events"], "verbs": READ},
    {"apiGroups": ["apps"], "resources": ["deployments", "replicasets", "statefulsets",
                                          "deployments/scale"], "verbs": ALL},
    # `kubectl apply` of the namespace itself (unchanged: it was created here) reads it.
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
]


@dataclass(frozen=True)
class LabAccess:
    suffixes: tuple[str, ...]     # Cluster.namespace(run, suffix) of notebook and checks
    rules: list[dict]
    crd_groups: tuple[str, ...] = ()  # course.crds groups the lab applies (host installs them)
    ensure: bool = True           # the ordinary grader creates a cluster if none (ensure_cluster)


# The one place that says which namespaces each cluster lab uses (see the labs' notebooks
# and checks: `cluster.namespace(run, ...)`, lab06's `<run>-<environment>` destinations).
LAB_ACCESS: dict[str, LabAccess] = {
    "lab04": LabAccess(
        ("", "prod", "instalar", "rollback", "kustomize"),
        WORKLOAD_RULES + [  # what a student's Helm chart may add to the service
            {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ALL},
            {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ALL},
            {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "networkpolicies"],
             "verbs": ALL},
        ]),
    "lab06": LabAccess(
        ("argocd", "dev", "prod", "corrector", "validacion", "corrector-converge",
         "corrector-deriva", "corrector-poda", "corrector-roto"),
        WORKLOAD_RULES + [
            {"apiGroups": ["argoproj.io"], "resources": ["applications", "applications/status"],
             "verbs": ALL},
        ],
        crd_groups=("argo-cd",)),
    "lab05": LabAccess(("ci-github", "ci-gitlab"), WORKLOAD_RULES),  # the pipelines' deploy job
    "lab10": LabAccess(("lab10",), WORKLOAD_RULES, ensure=False),
}


class AccessUnavailable(RuntimeError):
    """The limited credential could not be prepared (Spanish message)."""


@dataclass
class Access:
    run: str
    namespaces: list[str]
    kubeconfig: Path                         # on the host, inside the private dir
    env: dict[str, str] = field(default_factory=dict)  # for the inner grader


def cache_mounts(cache: Path) -> dict[Path, str]:
    """The course's cache for the sandbox, entry by entry, minus the cluster credentials."""
    if not cache.is_dir():
        return {}
    return {entry: str(entry) for entry in sorted(cache.iterdir())
            if entry.name not in SECRET_CACHE_ENTRIES}


def namespaces(lab: str, run: str) -> list[str]:
    return [k8s.namespace_name(run, suffix) for suffix in LAB_ACCESS[lab].suffixes]


def manifests(lab: str, run: str, crd_names: list[str] = ()) -> list[dict]:
    """Namespaces, ServiceAccount, Roles, RoleBindings and the read-only ClusterRole."""
    access = LAB_ACCESS[lab]
    home = k8s.namespace_name(run, ACCESS_SUFFIX)
    labels = {RUN_LABEL: run}
    subject = [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": home}]
    docs: list[dict] = [k8s.namespace_manifest(run, ACCESS_SUFFIX)]
    docs += [k8s.namespace_manifest(run, suffix) for suffix in access.suffixes]
    docs.append({"apiVersion": "v1", "kind": "ServiceAccount",
                 "metadata": {"name": SERVICE_ACCOUNT, "namespace": home, "labels": labels},
                 "automountServiceAccountToken": False})
    for ns in namespaces(lab, run):
        meta = {"name": "entrega", "namespace": ns, "labels": labels}
        docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                     "metadata": meta, "rules": access.rules})
        docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                     "metadata": meta, "subjects": subject,
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                 "name": "entrega"}})
    # Cluster-wide, read-only: nodes, because the grader tells simulated nodes (kwok) from
    # real ones by their annotations (Cluster.pods); the lab's CRDs by name, because
    # crds.install waits until they are Established. Nothing else outside the namespaces.
    rules = [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}]
    if crd_names:
        rules.append({"apiGroups": ["apiextensions.k8s.io"],
                      "resources": ["customresourcedefinitions"], "verbs": ["get"],
                      "resourceNames": list(crd_names)})
    cluster_meta = {"name": f"{run}-entrega", "labels": labels}
    docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                 "metadata": cluster_meta, "rules": rules})
    docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                 "metadata": cluster_meta, "subjects": subject,
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                             "name": f"{run}-entrega"}})
    return docs


def grant(cluster: k8s.Cluster, lab: str, run: str, private_dir: Path, *,
          seconds: float) -> Access:
    """Create the lab's namespaces and the limited ServiceAccount, and write a kubeconfig
    with a token valid ``seconds`` into ``private_dir`` (the sandbox's). The kubeconfig
    points at the API server's own port on the sandbox's loopback (see ``connect``)."""
    access = LAB_ACCESS[lab]
    names: list[str] = []
    if access.crd_groups and not crds.missing(*access.crd_groups):
        names = crds.install(cluster, *access.crd_groups)  # cluster-wide: the host does it
    docs = manifests(lab, run, names)
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs), echo=False, timeout=60)
    # Pod Security "baseline": no privileged, hostPath or host-namespace pods, the usual
    # ways out of a node. Set apart from the apply, so that the notebook's own apply of
    # its namespace (without the label) still changes nothing.
    cluster.kubectl("label", "--overwrite", "namespace", *namespaces(lab, run), POD_SECURITY,
                    echo=False, timeout=60)
    home = k8s.namespace_name(run, ACCESS_SUFFIX)
    # TokenRequest has a 10-minute minimum; the token is bound to the ServiceAccount, so
    # deleting its namespace at cleanup revokes it before it expires.
    token = cluster.kubectl("create", "token", SERVICE_ACCOUNT,
                            f"--duration={max(600, int(seconds))}s", namespace=home,
                            echo=False, timeout=30).stdout.strip()
    kubeconfig = private_dir / KUBECONFIG_NAME
    kubeconfig.write_text(yaml.safe_dump(_kubeconfig(cluster, token, namespaces(lab, run)[0])))
    kubeconfig.chmod(0o644)  # read by the inner grader, whatever its uid
    return Access(run, namespaces(lab, run), kubeconfig,
                  {"KUBECONFIG": f"{SOCKET_DIR}/{KUBECONFIG_NAME}", k8s.CONTEXT_ENV: CONTEXT})


def _server(cluster: k8s.Cluster) -> dict:
    """The admin kubeconfig's cluster entry, with its CA inlined (its files stay out)."""
    args = ["config", "view", "--raw", "--minify", "--flatten", "-o", "yaml"]
    context = ["--context", cluster.context] if cluster.context else []
    done = k8s.run_tool("kubectl", *args, *context, env=cluster.env(), echo=False, timeout=30)
    return yaml.safe_load(done.stdout)["clusters"][0]["cluster"]


def _kubeconfig(cluster: k8s.Cluster, token: str, namespace: str) -> dict:
    server = _server(cluster)
    url = urlsplit(server["server"])
    entry = {"server": f"https://127.0.0.1:{url.port or 443}"}
    if url.hostname != "127.0.0.1":
        entry["tls-server-name"] = server.get("tls-server-name", url.hostname)
    for key in ("certificate-authority-data", "insecure-skip-tls-verify"):
        if key in server:
            entry[key] = server[key]
    return {"apiVersion": "v1", "kind": "Config", "current-context": CONTEXT,
            "clusters": [{"name": CONTEXT, "cluster": entry}],
            "users": [{"name": SERVICE_ACCOUNT, "user": {"token": token}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": SERVICE_ACCOUNT,
                                                       "namespace": namespace}}]}


def api_endpoint(cluster: k8s.Cluster) -> tuple[str, int]:
    url = urlsplit(_server(cluster)["server"])
    return url.hostname or "127.0.0.1", url.port or 443


def connect(cluster: k8s.Cluster, run: str, container: str, private_dir: Path,
            inner_dir: str) -> None:
    """Join the sandbox's loopback port to the API server: a relay on the host from a unix
    socket in the private dir to the server, and one in the sandbox from 127.0.0.1 at the
    server's port number to that socket. The host relay carries the run id (cleanup stops
    it); the inner one dies with the sandbox."""
    host, port = api_endpoint(cluster)
    socket_name, host_ready, inner_ready = "kube-api.sock", "relay-host.ready", "relay-inner.ready"
    relay = processes.spawn("relay-api", [sys.executable, "-I", str(RELAY), "unix-a-tcp",
                                          str(private_dir / socket_name), host, str(port),
                                          str(private_dir / host_ready)],
                            log_dir=private_dir / "registros", run=run)
    _wait_file(private_dir / host_ready, relay.alive, relay.tail)
    subprocess.run(["docker", "exec", "--detach", container, sys.executable, "-I", str(RELAY),
                    "tcp-a-unix", str(port), f"{inner_dir}/{socket_name}",
                    f"{inner_dir}/{inner_ready}"], check=True, capture_output=True, timeout=60)
    _wait_file(private_dir / inner_ready, lambda: True, lambda: "")


def _wait_file(path: Path, alive, tail) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not path.exists():
        if not alive() or time.monotonic() > deadline:
            raise AccessUnavailable(f"El relé hacia el API server no arrancó: {tail()}")
        time.sleep(0.05)


def prepare(lab: str, run: str, container: str, private_dir: Path, inner_dir: str, *,
            seconds: float) -> dict[str, str]:
    """The inner grader's environment for ``lab``: for a cluster lab with a cluster, the
    limited kubeconfig and the relay; otherwise a static-mode marker, so that the inner
    grader never tries to create a cluster of its own inside the sandbox."""
    static = {k8s.MODE_ENV: "ninguno"}
    if lab not in LAB_ACCESS:
        return static
    try:
        cluster = k8s.ensure(run) if LAB_ACCESS[lab].ensure else k8s.find()
        if cluster is None:
            return static
        access = grant(cluster, lab, run, private_dir, seconds=seconds)
        connect(cluster, run, container, private_dir, inner_dir)
    except (k8s.ClusterUnavailable, k8s.CommandFailed, AccessUnavailable,
            subprocess.SubprocessError) as exc:
        # The grading machine's fault: the cluster checks say they could not run.
        show.warn(f"Sin acceso limitado al clúster para esta corrección: {exc}")
        return static
    return access.env


def can_i(kubeconfig: Path, verb: str, resource: str, namespace: str | None = None, *,
          subresource: str | None = None) -> bool:
    """``kubectl auth can-i`` with ``kubeconfig``: what the API server would allow."""
    args = ["auth", "can-i", verb, resource, *(["-n", namespace] if namespace else []),
            *([f"--subresource={subresource}"] if subresource else [])]
    done = k8s.run_tool("kubectl", *args, env={**os.environ, "KUBECONFIG": str(kubeconfig),
                                                "PATH": k8s.tools_path()},
                        check=False, echo=False, timeout=30)
    return done.stdout.strip() == "yes"
