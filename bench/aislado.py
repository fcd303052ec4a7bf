"""Overhead of `curso corregir --aislado` per submission: the same solution graded plainly
and inside its sandbox (its own container and Docker daemon, the lab's images copied in),
one run each; also the sandbox's start-up and the copy time of each image.

Run: .venv/bin/python bench/aislado.py [labNN ...]   (needs a Docker engine; default:
lab07, which needs no image build, and lab01, which builds and runs an image)
"""
from __future__ import annotations

import sys
import time

from results_io import show_and_save  # sibling module (run as a script)

from course import REPO_ROOT
from course import docker as cdocker
from grader import isolated, sandbox
from grader.grade import grade

SOLUTIONS = {"lab01": "lab01_dockerfile.ipynb", "lab07": "lab07_logging.ipynb"}


def sandbox_start() -> tuple[float, dict[str, float]]:
    """Seconds to a working inner daemon, and seconds to copy each image into it."""
    started = time.perf_counter()
    box = sandbox.start(cdocker.new_run_id())
    try:
        ready = time.perf_counter() - started
        refs = sorted({sandbox_ref for key in ("python-slim", "debian")
                       for sandbox_ref in [isolated.images.CATALOG[key].reference]})
        return ready, sandbox.load_images(box, refs)
    finally:
        sandbox.stop(box)


def main(labs: list[str]) -> dict:
    sandbox.ensure_image()  # built once; not part of the per-submission overhead
    ready, loads = sandbox_start()
    results: dict[str, object] = {"arranque_docker_interior_s": ready}
    results.update({f"copia_{ref}_s": seconds for ref, seconds in loads.items()})
    for lab in labs:
        solution = REPO_ROOT / "solutions" / SOLUTIONS[lab]
        plain = grade(solution, lab)
        contained = isolated.grade(solution, lab)
        results.update({
            f"{lab}_normal_s": plain.seconds, f"{lab}_aislado_s": contained.seconds,
            f"{lab}_aislado_sobre_normal": contained.seconds / plain.seconds,
            f"{lab}_sobrecoste_s": contained.seconds - plain.seconds,
            f"{lab}_puntuacion_normal": plain.score, f"{lab}_puntuacion_aislado": contained.score,
            f"{lab}_mismos_estados": plain.statuses() == contained.statuses(),
        })
    show_and_save("Sobrecoste de --aislado por entrega (una ejecución)", "aislado", results)
    return results


if __name__ == "__main__":
    main(sys.argv[1:] or ["lab07", "lab01"])
