"""How busy the xdist workers of a test run were, from the timeline tests/timeline.py
records (issue 15: where the CI time goes).

Run after `make test` (or `.ci/run`):
    .venv/bin/python bench/ci_timeline.py [reports/cronologia.jsonl]
Prints the span of the parallel phase, each worker's busy share, the seconds spent with
0, 1, … workers busy, the tail after the last moment every worker was busy and the
slowest tests; draws one bar per test and worker in bench/results/ci_timeline.png.
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from results_io import RESULTS_DIR, show_and_save  # sibling module (run as a script)

from course import REPO_ROOT, show


def load(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise SystemExit(f"{path} está vacío: corre antes `make test`.")
    return rows


def busy_profile(rows: list[dict], workers: int) -> tuple[dict[int, float], float]:
    """Seconds with k workers running a test, and the moment all of them last were."""
    events = sorted([(r["start"], 1) for r in rows] + [(r["stop"], -1) for r in rows])
    seconds: dict[int, float] = defaultdict(float)
    running, previous, last_full = 0, events[0][0], events[0][0]
    for moment, change in events:
        seconds[running] += moment - previous
        if running == workers:
            last_full = moment
        running += change
        previous = moment
    return dict(sorted(seconds.items())), last_full


def plot(rows: list[dict], origin: float, out: Path) -> None:
    workers = sorted({r["worker"] for r in rows})
    fig, ax = plt.subplots(figsize=(12, 0.6 * len(workers) + 1.5))
    for lane, worker in enumerate(workers):
        mine = [r for r in rows if r["worker"] == worker]
        ax.broken_barh([(r["start"] - origin, r["stop"] - r["start"]) for r in mine],
                       (lane - 0.4, 0.8), edgecolor="white", linewidth=0.3)
        for r in mine:
            if r["stop"] - r["start"] > 60:  # name the long ones
                ax.text(r["start"] - origin + 1, lane, r["test"].split("::")[-1][:28],
                        va="center", fontsize=6, color="white")
    ax.set_yticks(range(len(workers)), workers)
    ax.set_xlabel("segundos desde el inicio de la batería")
    ax.set_title("Pruebas por worker de pytest-xdist")
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main(path: Path) -> dict:
    everything = load(path)
    rows = [r for r in everything if r["worker"] != "main"] or everything
    origin, end = min(r["start"] for r in rows), max(r["stop"] for r in rows)
    span = end - origin
    workers = sorted({r["worker"] for r in rows})
    profile, last_full = busy_profile(rows, len(workers))
    results = {"tests": len(rows), "span_s": span, "workers": len(workers)}
    for worker in workers:
        busy = sum(r["stop"] - r["start"] for r in rows if r["worker"] == worker)
        results[f"busy_{worker}_share"] = busy / span
    for running, seconds in profile.items():
        results[f"s_with_{running}_busy"] = seconds
    results["tail_after_last_full_s"] = end - last_full
    show_and_save("Cronología de la batería", "ci_timeline", results)
    slowest = sorted(rows, key=lambda r: r["start"] - r["stop"])[:20]
    show.table("Las 20 pruebas más lentas", ["Segundos", "Empieza en", "Worker", "Prueba"],
               [(f"{r['stop'] - r['start']:.0f}", f"{r['start'] - origin:.0f}", r["worker"], r["test"])
                for r in slowest])
    plot(rows, origin, RESULTS_DIR / "ci_timeline.png")
    print(f"Gráfico: {RESULTS_DIR / 'ci_timeline.png'}")
    return results


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT / "reports" / "cronologia.jsonl")
