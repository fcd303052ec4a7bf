"""Batch grading throughput: a class of submissions (solutions, an untouched lab and a
broken notebook) graded with `curso corregir --clase`, next to one single grading of the
solution measured in the same run. Default: lab 07, which needs no Docker (runs on Binder
too). With `--lab lab01 --aislado --paralelo 2`: the class of issue 14's goal (30 lab 01
submissions with `--aislado --paralelo 2` in ≤ 10 minutes on a 2-core machine), measured
with --estudiantes N and extrapolated linearly to 30 (said so in the results).

With `--uno-a-uno`, the same class is graded again one submission at a time, for issue
14's ratio (20 submissions with 2 workers vs one by one; goal ≤ 0.6) and to see that both
give the same grades.

Run: .venv/bin/python bench/batch_grading.py [--estudiantes 8] [--lab lab01] [--aislado]
     [--paralelo 2] [--uno-a-uno]   (lab07: ~2 minutes; lab07, 20, --paralelo 2
     --uno-a-uno: ~10 minutes)

The batch grades one submission after another on the same core as a single grading, so
seconds per submission should stay close to a single grading: the ratio shows what the
batch adds (reports, gradebook, plot) and whether anything leaks from one to the next.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from results_io import show_and_save  # sibling module (run as a script)
from course import REPO_ROOT, images
from grader import batch, isolated
from grader.grade import grade

NOTEBOOKS = {"lab07": "lab07_logging.ipynb", "lab01": "lab01_dockerfile.ipynb"}
CLASS_GOAL = 30            # issue 14: 30 lab 01 submissions…
CLASS_GOAL_S = 600         # …in at most 10 minutes with --aislado --paralelo 2
PARALLEL_GOAL = 0.6        # 2 workers vs one by one (issue 14)


def make_class(folder: Path, lab: str, students: int) -> None:
    """Mostly solutions (the slowest case: every check runs), one untouched lab and one
    broken notebook."""
    folder.mkdir()
    for i in range(students - 2):
        shutil.copy(REPO_ROOT / "solutions" / NOTEBOOKS[lab], folder / f"estudiante{i:02d}.ipynb")
    shutil.copy(REPO_ROOT / "labs" / NOTEBOOKS[lab], folder / "sin_hacer.ipynb")
    (folder / "roto.ipynb").write_text("{ no es JSON")


def main(students: int, lab: str = "lab07", contained: bool = False, jobs: int = 1,
         one_by_one: bool = False) -> dict:
    solution = REPO_ROOT / "solutions" / NOTEBOOKS[lab]
    single_fn = isolated.grade if contained else grade
    for key in isolated.LAB_IMAGES.get(lab, isolated.DEFAULT_IMAGES):
        images.ensure(key)
    with tempfile.TemporaryDirectory(prefix="t15-bench-lote-") as tmp:
        tmp = Path(tmp)
        single_fn(solution, lab)  # warm-up: imports, bytecode, page cache (and the seeded disk)
        started = time.perf_counter()
        single = single_fn(solution, lab)
        single_s = time.perf_counter() - started
        make_class(tmp / "clase", lab, students)
        started = time.perf_counter()
        entries = batch.grade_class(tmp / "clase", lab, tmp / "informes", cell_timeout=120,
                                    total_timeout=600, jobs=jobs, isolated=contained)
        batch_s = time.perf_counter() - started
        if one_by_one:
            started = time.perf_counter()
            serial = batch.grade_class(tmp / "clase", lab, tmp / "informes-uno-a-uno",
                                       cell_timeout=120, total_timeout=600, jobs=1,
                                       isolated=contained)
            serial_s = time.perf_counter() - started
    solved = [e.seconds for e in entries if e.student.startswith("estudiante")]
    results = {
        "lab": lab,
        "aislado": contained,
        "paralelo": jobs,
        "students": students,
        "single_solution_s": single_s,
        "single_score": single.score,
        "batch_total_s": batch_s,
        "batch_s_per_submission": batch_s / len(entries),
        "batch_solution_median_s": statistics.median(solved),
        "batch_solution_over_single": statistics.median(solved) / single_s,
        "batch_overhead_s": batch_s - sum(e.seconds for e in entries) / jobs,
        "scores": {e.student: (round(e.result.score, 3) if e.result else None) for e in entries},
        "all_graded": all(e.result is not None for e in entries),
        "solutions_full_marks": all(e.result and e.result.score == 1.0 for e in entries
                                    if e.student.startswith("estudiante")),
    }
    if one_by_one:
        differences = _differences(_outcome(entries), _outcome(serial))
        results.update({
            "uno_a_uno_s": serial_s,
            f"paralelo_{jobs}_sobre_uno_a_uno": batch_s / serial_s,
            f"objetivo_{PARALLEL_GOAL}_cumplido": batch_s / serial_s <= PARALLEL_GOAL,
            "mismos_estados_que_uno_a_uno": not differences,
            "diferencias": differences,
        })
    if lab == "lab01" and contained:
        projected = batch_s / students * CLASS_GOAL
        results.update({
            f"clase_de_{CLASS_GOAL}_extrapolada_s": projected,
            f"clase_de_{CLASS_GOAL}_extrapolacion": (
                f"lineal desde {students} entregas medidas ({batch_s:.0f} s)"
                if students != CLASS_GOAL else "medida, sin extrapolar"),
            f"objetivo_{CLASS_GOAL_S}_s_cumplido": projected <= CLASS_GOAL_S,
        })
    return results


def _outcome(entries: list) -> dict:
    """student → every check's status, or why there is no result."""
    return {e.student: e.result.statuses() if e.result else e.problem for e in entries}


def _differences(parallel: dict, serial: dict) -> dict:
    """student → {check: [status in parallel, status one by one]} where they differ (or
    the two outcomes whole when one of them has no result)."""
    found = {}
    for student in sorted(parallel.keys() | serial.keys()):
        a, b = parallel.get(student), serial.get(student)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            found[student] = {c: [a.get(c), b.get(c)] for c in sorted(a.keys() | b.keys())
                              if a.get(c) != b.get(c)}
        else:
            found[student] = [a, b]
    return found


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estudiantes", type=int, default=8)
    parser.add_argument("--lab", choices=sorted(NOTEBOOKS), default="lab07")
    parser.add_argument("--aislado", action="store_true")
    parser.add_argument("--paralelo", type=int, default=1)
    parser.add_argument("--uno-a-uno", action="store_true",
                        help="corrige la clase también de una en una y da el cociente")
    args = parser.parse_args()
    name = "batch_grading" + ("" if args.lab == "lab07" else f"_{args.lab}") + (
        "_aislado" if args.aislado else "") + ("_uno_a_uno" if args.uno_a_uno else "")
    show_and_save(f"Corrección por lotes ({args.lab}{', aislada' if args.aislado else ''}, "
                  f"{args.paralelo} a la vez)", name,
                  main(max(3, args.estudiantes), args.lab, args.aislado, args.paralelo,
                       args.uno_a_uno))
