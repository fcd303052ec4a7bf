"""Grading overhead: time to grade the lab 01 solution, split into notebook execution
(papermill, kernel included) and the grader's own work (preparing the work dir, the
checks, cleanup), next to a bare papermill run of the same notebook for comparison.

Run: .venv/bin/python bench/grading.py   (needs a Docker engine; ~2 minutes)
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_io import show_and_save  # sibling module (run as a script)
from course import REPO_ROOT, lab
from course import docker as cdocker
from grader.grade import grade

SOLUTION = REPO_ROOT / "solutions" / "lab01_dockerfile.ipynb"


def bare_papermill() -> float:
    """The same notebook with plain papermill in a prepared work dir (no checks)."""
    with cdocker.run_scope() as run, tempfile.TemporaryDirectory(prefix=f"{run}-") as tmp:
        lab.prepare(Path(tmp), "lab01")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "papermill", str(SOLUTION), str(Path(tmp) / "o.ipynb"),
                        "-p", "workdir", tmp, "-p", "run_id", run, "--no-progress-bar"],
                       check=True, capture_output=True)
        return time.perf_counter() - started


def main() -> dict:
    bare_papermill()  # warm the build cache so both measured runs see the same cache
    bare = bare_papermill()
    result = grade(SOLUTION)
    checks = sum(c.seconds for c in result.checks)
    results = {
        "score": result.score,
        "total_s": result.seconds,
        "execution_s": result.execution.seconds,
        "checks_s": checks,
        "other_overhead_s": result.seconds - result.execution.seconds - checks,
        "bare_papermill_s": bare,
        "execution_over_bare": result.execution.seconds / bare,
        "total_over_bare": result.seconds / bare,
        "slowest_checks": sorted(((c.id, round(c.seconds, 2)) for c in result.checks),
                                 key=lambda x: -x[1])[:3],
    }
    show_and_save("Corrección de lab01 (una sola ejecución)", "grading", results)
    return results


if __name__ == "__main__":
    main()
