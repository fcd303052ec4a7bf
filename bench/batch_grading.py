"""Batch grading throughput: a class of lab 07 submissions (solutions, untouched labs and a
broken notebook) graded with `curso corregir --clase`, next to one single grading of the
solution measured in the same run. Lab 07 needs no Docker, so this runs on Binder too.

Run: .venv/bin/python bench/batch_grading.py [--estudiantes 8]   (~2 minutes)

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
from course import REPO_ROOT
from grader import batch
from grader.grade import grade

SOLUTION = REPO_ROOT / "solutions" / "lab07_logging.ipynb"
LAB = REPO_ROOT / "labs" / "lab07_logging.ipynb"


def make_class(folder: Path, students: int) -> None:
    """Mostly solutions (the slowest case: every check runs), one untouched lab and one
    broken notebook."""
    folder.mkdir()
    for i in range(students - 2):
        shutil.copy(SOLUTION, folder / f"estudiante{i:02d}.ipynb")
    shutil.copy(LAB, folder / "sin_hacer.ipynb")
    (folder / "roto.ipynb").write_text("{ no es JSON")


def main(students: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="t15-bench-lote-") as tmp:
        tmp = Path(tmp)
        grade(SOLUTION)  # warm-up: imports, bytecode, page cache
        started = time.perf_counter()
        single = grade(SOLUTION)
        single_s = time.perf_counter() - started
        make_class(tmp / "clase", students)
        started = time.perf_counter()
        entries = batch.grade_class(tmp / "clase", "lab07", tmp / "informes",
                                    cell_timeout=120, total_timeout=600)
        batch_s = time.perf_counter() - started
    solved = [e.seconds for e in entries if e.student.startswith("estudiante")]
    return {
        "students": students,
        "single_solution_s": single_s,
        "single_score": single.score,
        "batch_total_s": batch_s,
        "batch_s_per_submission": batch_s / len(entries),
        "batch_solution_median_s": statistics.median(solved),
        "batch_solution_over_single": statistics.median(solved) / single_s,
        "batch_overhead_s": batch_s - sum(e.seconds for e in entries),
        "scores": {e.student: (round(e.result.score, 3) if e.result else None) for e in entries},
        "all_graded": all(e.result is not None for e in entries),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estudiantes", type=int, default=8)
    args = parser.parse_args()
    show_and_save("Corrección por lotes (lab07)", "batch_grading", main(max(3, args.estudiantes)))
