"""Where the bench scripts leave their numbers: bench/results/<name>.json (not committed,
except service_throughput.json, which notebooks 07 and 08 plot, and the --aislado
measures of issue 14: aislado.json, batch_grading_lab01_aislado.json,
batch_grading_uno_a_uno.json, batch_grading_lab01_uno_a_uno.json)."""
from __future__ import annotations

import json

from course import REPO_ROOT, show

RESULTS_DIR = REPO_ROOT / "bench" / "results"


def save(name: str, results: dict) -> None:
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")


def show_and_save(title: str, name: str, results: dict) -> None:
    """A two-column table of the measures, then the JSON file."""
    show.table(title, ["Medida", "Valor"],
               [(k, f"{v:.2f}" if isinstance(v, float) else v) for k, v in results.items()])
    save(name, results)
