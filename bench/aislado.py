"""Overhead of `curso corregir --aislado` per submission: the same solution graded plainly
and inside its sandbox (its own container and Docker daemon with no network, the lab's
images in it, the local package index), one run each, with the seconds of each phase of
the isolated grading (read from the grader's own progress messages): disk with the images
(a copy of the cached seeded disk, or `docker save | docker load` of each image), daemon
start, index start, the grading inside, removal.

Run: .venv/bin/python bench/aislado.py [labNN ...]   (needs a Docker engine; default:
lab07, which needs no image, and lab01, which builds and runs an image with pip)
"""
from __future__ import annotations

import sys
import time
from itertools import pairwise

from results_io import show_and_save  # sibling module (run as a script)

from course import REPO_ROOT, images
from grader import isolated, sandbox
from grader.grade import grade

SOLUTIONS = {"lab01": "lab01_dockerfile.ipynb", "lab03": "lab03_compose.ipynb",
             "lab05": "lab05_ci_cd.ipynb", "lab07": "lab07_logging.ipynb",
             "lab08": "lab08_metricas.ipynb"}
# The grader's progress messages (grader.isolated) → the phase they start.
PHASES = {"Preparando el índice": "indice_preparar", "Preparando el disco": "disco_sembrado",
          "Arrancando el contenedor": "arranque_docker", "Copiando las imágenes": "carga_imagenes",
          "Arrancando el índice": "indice_arranque", "Corrigiendo": "correccion_dentro",
          "Borrando": "borrado"}


class Phases:
    """Seconds between the grader's progress messages, per phase."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, str]] = [(time.perf_counter(), "otros")]

    def __call__(self, message: str) -> None:
        phase = next((name for prefix, name in PHASES.items() if message.startswith(prefix)), None)
        if phase:
            self.marks.append((time.perf_counter(), phase))

    def seconds(self) -> dict[str, float]:
        self.marks.append((time.perf_counter(), "fin"))
        out: dict[str, float] = {}
        for (start, phase), (end, _) in pairwise(self.marks):
            out[phase] = out.get(phase, 0.0) + end - start
        return out


def contained(solution, lab: str, *, seeded: bool) -> tuple[object, dict[str, float]]:
    phases = Phases()
    result = isolated.grade(solution, lab, notify=phases, seeded=seeded)
    return result, phases.seconds()


def main(labs: list[str]) -> dict:
    sandbox.ensure_image()  # built once; not part of the per-submission overhead
    results: dict[str, object] = {}
    for lab in labs:
        for key in isolated.LAB_IMAGES.get(lab, isolated.DEFAULT_IMAGES):
            images.ensure(key)
        solution = REPO_ROOT / "solutions" / SOLUTIONS[lab]
        # First isolated run: prepares the wheelhouse and the seeded disk (once per machine).
        started = time.perf_counter()
        first, _ = contained(solution, lab, seeded=True)
        results[f"{lab}_primera_aislada_con_preparacion_s"] = time.perf_counter() - started
        plain = grade(solution, lab)
        seeded, seeded_phases = contained(solution, lab, seeded=True)
        loaded, loaded_phases = contained(solution, lab, seeded=False)
        results.update({
            f"{lab}_normal_s": plain.seconds,
            f"{lab}_aislado_s": seeded.seconds,
            f"{lab}_aislado_cargando_imagenes_s": loaded.seconds,
            f"{lab}_aislado_sobre_normal": seeded.seconds / plain.seconds,
            f"{lab}_sobrecoste_s": seeded.seconds - plain.seconds,
            f"{lab}_puntuacion_normal": plain.score,
            f"{lab}_puntuacion_aislado": seeded.score,
            f"{lab}_puntuacion_aislado_cargando": loaded.score,
            f"{lab}_mismos_estados": plain.statuses() == seeded.statuses() == loaded.statuses()
                                     == first.statuses(),
            f"{lab}_fases_aislado_s": {k: round(v, 2) for k, v in seeded_phases.items()},
            f"{lab}_fases_aislado_cargando_s": {k: round(v, 2) for k, v in loaded_phases.items()},
        })
    show_and_save("Sobrecoste de --aislado por entrega (una ejecución)", "aislado", results)
    return results


if __name__ == "__main__":
    main(sys.argv[1:] or ["lab07", "lab01"])
