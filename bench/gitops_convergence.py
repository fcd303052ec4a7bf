"""The course's GitOps reconciler, measured per reconcile interval: seconds from a pushed
commit to the cluster converged (the Deployment as the commit says, observed by polling
the API) and from a manual `kubectl scale` to the drift undone, on the course's cluster and git server.

    .venv/bin/python -m bench.gitops_convergence [--intervalos 0.5 1 2 4] [--veces 5]

Needs a cluster (`curso cluster crear`) and the Argo CD CRDs (scripts/install_crds.sh).
Everything it creates carries its own run id and is removed at the end.
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from bench.results_io import show_and_save
from course import crds, envrepo, gitops, gitserver, k8s, processes
from course import docker as cdocker


def replicas(cluster: k8s.Cluster, namespace: str) -> str:
    return cluster.kubectl("get", "deployment", "catalogo", "-o", "jsonpath={.spec.replicas}",
                           namespace=namespace, echo=False, check=False).stdout


def until(predicate, timeout: float = 120) -> float:
    """Poll the cluster until ``predicate()``; return that moment (time.monotonic())."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.05)
    raise TimeoutError(f"sin convergencia en {timeout} s")


def measure(cluster: k8s.Cluster, interval: float, times: int, root: Path, run: str) -> dict:
    server = gitserver.start(root / f"servidor-{interval}", run=run)
    repo = envrepo.EnvRepo(root / f"entornos-{interval}", server.create("entornos.git"))
    envrepo.scaffold(repo)
    repo.commit("inicio")
    apps_ns = cluster.namespace(run, f"argocd-{str(interval).replace('.', '')}")
    dest = f"{apps_ns}-dev"
    app = gitops.application("catalogo-dev", apps_ns, repo.url, repo.overlay("dev"), dest)
    cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(app), echo=False)
    reconciler = gitops.Reconciler(cluster, apps_ns, "catalogo-dev", root / f"rec-{interval}",
                                   run=run).start(interval)
    commit_s, drift_s = [], []
    try:
        reconciler.wait_for(lambda o: o.sync == "Synced", timeout=120)
        for i in range(times):
            count = 2 + i % 2
            repo.set_replicas("dev", count)
            # A change lands at a random moment of the loop, not always just after a pass.
            time.sleep(random.uniform(0, interval))
            pushed = time.monotonic()
            repo.commit(f"dev: {count} réplicas")
            commit_s.append(until(lambda c=count: replicas(cluster, dest) == str(c)) - pushed)
            time.sleep(random.uniform(0, interval))
            changed = time.monotonic()
            cluster.kubectl("scale", "deployment/catalogo", "--replicas=7", namespace=dest, echo=False)
            until(lambda: replicas(cluster, dest) == "7", timeout=10)  # the change itself...
            drift_s.append(until(lambda c=count: replicas(cluster, dest) == str(c)) - changed)
    finally:
        reconciler.stop()
        server.stop()
    passes = [o.seconds for o in reconciler.outcomes if o.action == "nada"]
    return {f"intervalo {interval} s: commit → convergido (mediana, s)": statistics.median(commit_s),
            f"intervalo {interval} s: commit → convergido (máx., s)": max(commit_s),
            f"intervalo {interval} s: deriva → corregida (mediana, s)": statistics.median(drift_s),
            f"intervalo {interval} s: deriva → corregida (máx., s)": max(drift_s),
            f"intervalo {interval} s: pasada sin cambios (mediana, s)": statistics.median(passes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervalos", type=float, nargs="+", default=[0.5, 1.0, 2.0, 4.0])
    parser.add_argument("--veces", type=int, default=5)
    args = parser.parse_args()
    cluster = k8s.find()
    if cluster is None:
        raise SystemExit(f"Sin clúster: {k8s.why_none()}")
    crds.install(cluster, "argo-cd")
    run = cdocker.new_run_id()
    results: dict = {"clúster": cluster.summary()}
    try:
        with tempfile.TemporaryDirectory(prefix=f"{run}-") as tmp:
            for interval in args.intervalos:
                results.update(measure(cluster, interval, args.veces, Path(tmp), run))
    finally:
        processes.cleanup(run)
        cluster.delete_namespaces(run)
    show_and_save("GitOps: convergencia por intervalo de reconciliación", "gitops_convergence", results)


if __name__ == "__main__":
    main()
