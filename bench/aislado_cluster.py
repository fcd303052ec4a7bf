"""Cluster labs under `curso corregir --aislado`: what the limited access costs (the lab's
namespaces, ServiceAccount, Roles, token and the two relays, on a started sandbox) and,
per lab, the solution graded plainly and isolated (score and seconds, one run each).

Run: .venv/bin/python bench/aislado_cluster.py [labNN ...]   (needs a Docker engine and the
course's cluster; default: lab10's cluster checks only, the cheapest; name labs to grade
them whole, e.g. lab04 lab06 lab10)
"""
from __future__ import annotations

import sys
import time

from results_io import show_and_save  # sibling module (run as a script)

from course import REPO_ROOT, cleanup, k8s
from course import docker as cdocker
from grader import isolated, kube_access, sandbox
from grader.grade import grade

CHEAPEST = ("lab10", ("k8s.estrategia", "k8s.forma", "k8s.atasco_detectado",
                      "k8s.undo_restaura"))


def access_seconds(lab: str) -> float:
    """Seconds from a started sandbox to a working limited kubeconfig inside it."""
    run = cdocker.new_run_id()
    box = isolated.start(run, (), limits=sandbox.Limits(), seeded=False)
    try:
        started = time.perf_counter()
        env = kube_access.prepare(lab, run, box.container_name, box.socket_dir,
                                  sandbox.SOCKET_DIR, seconds=600)
        done = sandbox.execute(box, [k8s.tool("kubectl") or "kubectl", "get", "deployments",
                                     "-n", f"{run}-lab10", "-o", "name"], env=env)
        assert done.returncode == 0, done.output
        return time.perf_counter() - started
    finally:
        sandbox.stop(box)
        cleanup.run(run)


def main(labs: list[str]) -> dict:
    if k8s.find() is None:
        raise SystemExit(f"Sin clúster ({k8s.why_none()}): créalo con `curso cluster crear`.")
    sandbox.ensure_image()
    results: dict[str, object] = {"acceso_limitado_lab10_s": access_seconds("lab10")}
    cases = [(lab, None) for lab in labs] or [CHEAPEST]
    for lab, only in cases:
        solution = next((REPO_ROOT / "solutions").glob(f"{lab}_*.ipynb"))
        plain = grade(solution, lab, only=only)
        contained = isolated.grade(solution, lab, only=only)
        key = lab if only is None else f"{lab}_k8s"
        results.update({
            f"{key}_normal_s": plain.seconds, f"{key}_aislado_s": contained.seconds,
            f"{key}_puntuacion_normal": plain.score, f"{key}_puntuacion_aislado": contained.score,
            f"{key}_mismos_estados": plain.statuses() == contained.statuses(),
        })
    show_and_save("Laboratorios de clúster con --aislado (una ejecución)", "aislado_cluster",
                  results)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
