"""The course's local control plane, measured: seconds from `create` to a ready cluster
(API answering, nodes Ready), memory of its processes, a rollout of a small Deployment,
and (with --compilar) the time to rebuild the binaries with Go's caches present.

    .venv/bin/python -m bench.k8s_cluster [--veces 3] [--compilar]

It needs the binaries (scripts/install_k8s.sh). If a course cluster is already running,
it is deleted first and recreated at the end, so the machine ends as it started.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time

import psutil

from bench.results_io import show_and_save
from course import REPO_ROOT, k8s
from course import docker as cdocker

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def control_plane_rss_mb() -> float:
    total = 0
    for proc in psutil.process_iter(["exe", "memory_info"]):
        exe = os.path.basename(proc.info.get("exe") or "")
        if exe in COMPONENTS and str(k8s.BIN_DIR) in (proc.info.get("exe") or ""):
            total += proc.info["memory_info"].rss
    return total / 2**20


def rollout_seconds(cluster: k8s.Cluster) -> float:
    run = cdocker.new_run_id()
    ns = cluster.namespace(run)
    try:
        started = time.perf_counter()
        cluster.helm("install", "catalogo", str(REPO_ROOT / "deploy" / "helm" / "catalogo"),
                     "--wait", "--timeout", "120s", namespace=ns, echo=False)
        return time.perf_counter() - started
    finally:
        k8s.cleanup(run)


def rebuild_seconds() -> float:
    """Rebuild kube-apiserver & co into a temporary folder, with Go's caches as they are."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run(["bash", str(REPO_ROOT / "scripts" / "install_k8s.sh")], check=True,
                       env={**os.environ, "TEMA15_CACHE": tmp}, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--veces", type=int, default=3)
    parser.add_argument("--compilar", action="store_true")
    args = parser.parse_args()
    if k8s.local_binaries()[1]:
        raise SystemExit("Faltan los binarios: bash scripts/install_k8s.sh")
    was_running = k8s.find() is not None
    if was_running:
        k8s.delete(progress=False)
    creates, memory = [], []
    try:
        for _ in range(args.veces):
            started = time.perf_counter()
            cluster = k8s.create(progress=False)
            creates.append(time.perf_counter() - started)
            time.sleep(2)
            memory.append(control_plane_rss_mb())
            rollout = rollout_seconds(cluster)
            k8s.delete(progress=False)
    finally:
        if was_running and k8s.find() is None:
            k8s.create(progress=False)
    results = {"crear → listo, mediana (s)": statistics.median(creates),
               "crear → listo, máximo (s)": max(creates),
               "memoria del plano de control (MB)": statistics.median(memory),
               "helm install --wait de 3 réplicas (s)": rollout, "repeticiones": args.veces}
    if args.compilar:
        results["recompilar con las cachés de Go (s)"] = rebuild_seconds()
    show_and_save("Plano de control local", "k8s_cluster", results)


if __name__ == "__main__":
    main()
