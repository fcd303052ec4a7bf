"""Cluster labs under `curso corregir --aislado` (grader.kube_access, grader.socket_relay):
namespaces of the submission's own, a ServiceAccount limited to them with a short-lived
token, never an admin credential in the sandbox, a relay of bytes to the API server, and
nothing left behind.

The credential is checked with the API server's own authorizer (`kubectl auth can-i`) and
by real requests. The grade comparison runs one lab (the cheapest) by default; the other
cluster labs with TEMA15_AISLADO_COMPLETO=1."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from course import REPO_ROOT, cleanup, crds, k8s, waiting
from course import docker as cdocker
from grader import isolated, kube_access, runner, sandbox, socket_relay
from grader.grade import grade

FULL = bool(os.environ.get("TEMA15_AISLADO_COMPLETO"))
FLIP = bytes(255 - b for b in range(256))  # the echo server's answer: each byte changed


# --- what is granted, read from the manifests -------------------------------------------

@pytest.mark.parametrize("lab", sorted(kube_access.LAB_ACCESS))
def test_manifests_grant_nothing_outside_the_submissions_namespaces(lab):
    run = "t15-0badc0de"
    docs = kube_access.manifests(lab, run, ["applications.argoproj.io"])
    wanted = set(kube_access.namespaces(lab, run))
    kinds = [d["kind"] for d in docs]
    assert kinds.count("Namespace") == len(wanted) + 1  # plus the ServiceAccount's own
    roles = [d for d in docs if d["kind"] == "Role"]
    assert {r["metadata"]["namespace"] for r in roles} == wanted
    for doc in docs:
        assert doc["metadata"]["labels"] == {cdocker.RUN_LABEL: run}, doc["kind"]
        if doc["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            assert doc["roleRef"]["name"] not in ("cluster-admin", "admin", "edit")
    for rule in (r for role in roles for r in role["rules"]):
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
        # Nothing that mints credentials or widens access.
        assert not {"roles", "rolebindings", "serviceaccounts/token"} & set(rule["resources"])
        assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])
    (cluster_role,) = [d for d in docs if d["kind"] == "ClusterRole"]
    for rule in cluster_role["rules"]:
        assert set(rule["verbs"]) <= {"get", "list"}, rule
        assert set(rule["resources"]) <= {"nodes", "customresourcedefinitions"}, rule
    account = next(d for d in docs if d["kind"] == "ServiceAccount")
    assert account["metadata"]["namespace"] == k8s.namespace_name(run, kube_access.ACCESS_SUFFIX)
    assert account["metadata"]["namespace"] not in wanted  # the submission cannot touch it


def test_lab_namespaces_are_the_ones_the_grader_asks_for():
    # Cluster.namespace(run, suffix) is what notebooks and checks call: same names.
    run = "t15-0badc0de"
    assert kube_access.namespaces("lab04", run)[:2] == [run, f"{run}-prod"]
    assert f"{run}-corrector-roto" in kube_access.namespaces("lab06", run)
    assert kube_access.namespaces("lab10", run) == [f"{run}-lab10"]
    assert k8s.namespace_manifest(run, "x")["metadata"] == {
        "name": f"{run}-x", "labels": {cdocker.RUN_LABEL: run}}


def test_cache_mounts_leave_out_the_admin_kubeconfigs(tmp_path):
    for name in ("kwok", "k8s", "crds"):
        (tmp_path / name).mkdir()
    for name in (k8s.KIND_KUBECONFIG.name, k8s.OWNER_FILE.name, "otro.txt"):
        (tmp_path / name).write_text("x")
    mounted = {p.name for p in kube_access.cache_mounts(tmp_path)}
    assert mounted == {"k8s", "crds", "otro.txt"}


# --- the relay ---------------------------------------------------------------------------

def _echo_server() -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data.translate(FLIP))
    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def _wait(path):
    waiting.wait_for(path.exists, until=bool, timeout=20, interval=0.05)


def test_relays_carry_bytes_both_ways_unchanged(tmp_path):
    from course import processes

    server, port = _echo_server()
    sock, inner_port = tmp_path / "api.sock", processes.free_port()
    relays = [subprocess.Popen([sys.executable, "-I", socket_relay.__file__, "unix-a-tcp",
                                str(sock), "127.0.0.1", str(port), str(tmp_path / "a.ready")]),
              subprocess.Popen([sys.executable, "-I", socket_relay.__file__, "tcp-a-unix",
                                str(inner_port), str(sock), str(tmp_path / "b.ready")])]
    try:
        _wait(tmp_path / "a.ready")
        _wait(tmp_path / "b.ready")
        payload = os.urandom(300_000)
        with socket.create_connection(("127.0.0.1", inner_port), timeout=10) as client:
            client.sendall(payload)
            client.shutdown(socket.SHUT_WR)
            received = b""
            while chunk := client.recv(65536):
                received += chunk
        assert received == payload.translate(FLIP)  # every byte, in order
        assert oct(sock.stat().st_mode & 0o777) == "0o600"
    finally:
        for relay in relays:
            relay.terminate()
            relay.wait(timeout=10)
        server.close()


def test_relay_refuses_bad_arguments():
    assert socket_relay.main(["otra-cosa"]) == 2
    assert socket_relay.main(["tcp-a-unix", "no-es-un-puerto", "x"]) == 2


# --- the credential on a real API server --------------------------------------------------

@pytest.fixture
def granted(gitops_cluster, tmp_path):
    """lab06's access (the widest: Applications and CRDs) for a fresh run; always revoked."""
    run = cdocker.new_run_id()
    try:
        access = kube_access.grant(gitops_cluster, "lab06", run, tmp_path, seconds=600)
        yield gitops_cluster, access
    finally:
        cleanup.run(run)


def test_limited_credential_allows_only_the_submissions_namespaces(granted):
    cluster, access = granted
    config, ns, other = access.kubeconfig, access.namespaces[0], access.namespaces[-1]
    assert "client-key-data" not in config.read_text()  # a token, not the admin's cert
    allowed = [("create", "deployments.apps", ns), ("delete", "pods", other),
               ("get", "secrets", ns), ("patch", "applications.argoproj.io", ns),
               ("get", f"namespace/{ns}", ns)]
    denied = [("list", "namespaces", None), ("create", "namespaces", None),
              ("get", "secrets", "kube-system"), ("list", "pods", "default"),
              ("delete", f"namespace/{ns}", ns), ("create", "rolebindings", ns),
              ("create", "clusterrolebindings", None),
              ("create", "customresourcedefinitions", None),
              ("get", "serviceaccounts", k8s.namespace_name(access.run, "acceso")),
              ("impersonate", "serviceaccounts", ns), ("*", "*", None)]
    for verb, resource, namespace in allowed:
        assert kube_access.can_i(config, verb, resource, namespace), (verb, resource, namespace)
    for verb, resource, namespace in denied:
        assert not kube_access.can_i(config, verb, resource, namespace), (verb, resource, namespace)
    # No new credentials: not even for accounts it may create in its own namespaces.
    assert kube_access.can_i(config, "create", "serviceaccounts", ns)
    assert not kube_access.can_i(config, "create", "serviceaccounts", ns, subresource="token")
    # Real requests, as the inner grader makes them, with the kubeconfig it gets.
    env = {**os.environ, "KUBECONFIG": str(config), k8s.CONTEXT_ENV: kube_access.CONTEXT}
    mine = k8s.Cluster(k8s.CONTEXT, kube_access.CONTEXT, config, kube_access.CONTEXT,
                       cluster.version, cluster.pods)
    assert mine.namespace(access.run, "dev") == f"{access.run}-dev"  # unchanged: no write
    denied_ns = mine.kubectl("get", "namespaces", check=False, echo=False)
    assert denied_ns.returncode != 0 and "forbidden" in denied_ns.stderr.lower()
    assert crds.install(mine, "argo-cd")  # installed by the host; waited for, not written
    privileged = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "escapa"},
                  "spec": {"containers": [{"name": "c", "image": "debian:12.12-slim",
                                           "securityContext": {"privileged": True}}],
                           "volumes": [{"name": "raiz", "hostPath": {"path": "/"}}]}}
    refused = mine.kubectl("apply", "-f", "-", namespace=ns, input=json.dumps(privileged),
                           check=False, echo=False)
    assert refused.returncode != 0 and "podsecurity" in refused.stderr.lower().replace(" ", ""), \
        refused.stderr
    probe = subprocess.run([sys.executable, "-c", ("from course import k8s; c = k8s.find(); "
                            "print(c.provider, c.version)")], env=env, capture_output=True,
                           text=True, cwd=REPO_ROOT, timeout=60, check=False)
    assert probe.stdout.split() == [k8s.CONTEXT, cluster.version], probe.stderr


def test_cleanup_removes_namespaces_roles_and_revokes_the_token(gitops_cluster, tmp_path):
    run = cdocker.new_run_id()
    try:
        access = kube_access.grant(gitops_cluster, "lab04", run, tmp_path, seconds=600)
        assert set(gitops_cluster.namespaces(run)) == {*access.namespaces, f"{run}-acceso"}
        assert gitops_cluster.cluster_roles(run)
    finally:
        cleanup.run(run)
    assert gitops_cluster.cluster_roles(run) == []
    waiting.wait_for(lambda: gitops_cluster.namespaces(run), until=lambda left: not left,
                     timeout=90, interval=1)
    # The ServiceAccount is gone with its namespace: its token no longer authenticates.
    done = k8s.run_tool("kubectl", "get", "pods", "-n", access.namespaces[0],
                        env={**os.environ, "KUBECONFIG": str(access.kubeconfig),
                             "PATH": k8s.tools_path()}, check=False, echo=False)
    assert done.returncode != 0 and "unauthorized" in (done.stderr + done.stdout).lower()


# --- inside the sandbox ------------------------------------------------------------------

@pytest.fixture(scope="module")
def sandbox_ready(docker_client):
    try:
        sandbox.ensure_image()
    except sandbox.SandboxUnavailable as exc:
        if os.environ.get("TEMA15_REQUIERE_AISLADO"):
            pytest.fail(f"Sin aislamiento en esta máquina: {exc}")
        pytest.skip(f"Sin aislamiento en esta máquina: {exc}")


def test_sandbox_reaches_the_api_server_only_with_the_limited_token(
        sandbox_ready, gitops_cluster):
    run = cdocker.new_run_id()
    box = sandbox.start(run, limits=sandbox.Limits(wall_clock_s=120),
                        read_only=isolated._course_mounts())
    try:
        env = {**isolated._inner_env(), **kube_access.prepare(
            "lab10", run, box.container_name, box.socket_dir, sandbox.SOCKET_DIR, seconds=600)}
        assert env[k8s.CONTEXT_ENV] == kube_access.CONTEXT
        kubectl = k8s.tool("kubectl")

        def inside(*args: str) -> sandbox.Execution:
            return sandbox.execute(box, [kubectl, *args], env=env)
        assert inside("auth", "can-i", "create", "deployments.apps", "-n", f"{run}-lab10"
                      ).output.split()[0] == "yes"
        for denied in (["list", "namespaces"], ["get", "secrets", "-n", "kube-system"],
                       ["create", "namespaces"]):
            assert inside("auth", "can-i", *denied).output.split()[0] == "no", denied
        served = inside("get", "deployments", "-n", f"{run}-lab10", "-o", "name")
        assert served.returncode == 0, served.output  # through the relay, TLS verified
        # No admin credential anywhere the sandbox can read.
        for secret in (k8s.KWOK_WORKDIR, k8s.KIND_KUBECONFIG, k8s.OWNER_FILE):
            assert sandbox.execute(box, ["test", "-e", str(secret)], env={}).returncode == 1, secret
        # An admin kubeconfig carries a client certificate and key; the sandbox's, a token.
        found = sandbox.execute(box, ["grep", "-rlI", "-e", "client-key-data", "-e",
                                      "client-certificate", str(k8s.CACHE), sandbox.SOCKET_DIR],
                                env={})
        assert found.returncode == 1 and not found.output.strip(), found.output
    finally:
        sandbox.stop(box)
        cleanup.run(run)
    from course import processes

    assert processes.leftovers(run) == []  # the host relay is stopped
    assert k8s.find().cluster_roles(run) == []


def _cluster_lab_cases():
    cheapest = [("lab10", ("k8s.estrategia", "k8s.forma", "k8s.atasco_detectado",
                           "k8s.undo_restaura"))]
    rest = [("lab04", None), ("lab06", None), ("lab10", None)]
    return [pytest.param(*case, id=case[0]) for case in cheapest] + [
        pytest.param(*case, id=f"{case[0]}-completo", marks=pytest.mark.skipif(
            not FULL, reason="solo con TEMA15_AISLADO_COMPLETO=1 (minutos por laboratorio)"))
        for case in rest]


@pytest.mark.parametrize(("lab", "only"), _cluster_lab_cases())
def test_cluster_lab_scores_the_same_isolated(sandbox_ready, gitops_cluster, lab, only):
    solution = next((REPO_ROOT / "solutions").glob(f"{lab}_*.ipynb"))
    started = time.perf_counter()
    plain = grade(solution, lab, only=only)
    middle = time.perf_counter()
    contained = isolated.grade(solution, lab, only=only)
    print(f"{lab}: sin aislar {plain.score:.3f} en {middle - started:.0f} s; aislado "
          f"{contained.score:.3f} en {time.perf_counter() - middle:.0f} s")
    assert contained.execution.status == plain.execution.status, contained.execution.message
    assert contained.statuses() == plain.statuses()
    assert contained.score == plain.score
    assert plain.score > 0, "la solución no puntúa: la comparación no diría nada"
    left = cleanup.leftovers(wait=60)
    assert not [n for n in left.get("espacios de nombres", []) if n.startswith(contained.run_id)]
    assert not [n for n in left.get("permisos del clúster", []) if contained.run_id in n]


def test_timeout_still_removes_namespaces_roles_and_relay(sandbox_ready, gitops_cluster):
    from course import processes

    solution = REPO_ROOT / "solutions" / "lab10_rollout.ipynb"
    result = isolated.grade(solution, "lab10", limits=sandbox.Limits(wall_clock_s=20))
    assert result.execution.status == runner.TIMEOUT, result.execution.message
    run = result.run_id
    assert processes.leftovers(run) == []
    assert gitops_cluster.cluster_roles(run) == []
    waiting.wait_for(lambda: gitops_cluster.namespaces(run), until=lambda left: not left,
                     timeout=90, interval=1)
