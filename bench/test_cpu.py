"""What single tests cost the machine: each one runs alone (no xdist), and the machine's
whole CPU time (the tests, the engine, the containers, the kernel) is read
before and after it. The CI battery runs on two cores: CPU, not wall time, is what a test
takes from the others (issue 15).

Run: .venv/bin/python bench/test_cpu.py NODEID [NODEID …]
     (needs what the tests need: the engine, the cluster for those that use it)
"""
from __future__ import annotations

import subprocess
import sys
import time

import psutil
from results_io import save  # sibling module (run as a script)

from course import REPO_ROOT, show


def machine_cpu_seconds() -> float:
    """Busy CPU time of every core since boot (psutil reads /proc/stat): all but idle and
    iowait, without guest time, which Linux already counts in user and nice."""
    times = psutil.cpu_times()
    idle = sum(getattr(times, name, 0.0) for name in ("idle", "iowait", "guest", "guest_nice"))
    return sum(times) - idle


def measure(nodeid: str) -> dict:
    cpu, wall = machine_cpu_seconds(), time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
                           nodeid], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    return {"test": nodeid, "ok": done.returncode == 0,
            "wall_s": time.perf_counter() - wall, "cpu_s": machine_cpu_seconds() - cpu}


def main(nodeids: list[str]) -> list[dict]:
    rows = [measure(nodeid) for nodeid in nodeids]
    show.table("CPU de la máquina por prueba, sola", ["Prueba", "Pasa", "Pared", "CPU"],
               [(r["test"], "sí" if r["ok"] else "NO", f"{r['wall_s']:.0f} s", f"{r['cpu_s']:.0f} s")
                for r in rows])
    save("test_cpu", {"tests": rows})
    return rows


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    main(sys.argv[1:])
