"""The student's GitOps decisions (``drifted`` and ``to_prune`` from their module), run in a
process of their own so that their code never runs inside the grader.

    python -I gitops_student.py casos <module.py> <cases.json> <out.json>
        Call both functions on every case; write {case id: result or error} as JSON.
    python -I gitops_student.py controlador <module.py> <namespace> <state dir> <run> <interval>
        Run the course's GitOps controller over the Applications of <namespace> with the
        student's functions until SIGTERM; each pass is appended to <state>/pasadas.jsonl.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import signal
import sys
import threading
from pathlib import Path


def load(path: str):
    spec = importlib.util.spec_from_file_location("reconciliador_alumno", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    missing = [name for name in ("drifted", "to_prune") if not callable(getattr(module, name, None))]
    if missing:
        raise AttributeError(f"{Path(path).name} no define {' ni '.join(missing)}")
    return module


def cases(module_path: str, cases_file: str, out_file: str) -> None:
    out = Path(out_file)
    try:
        module = load(module_path)
    except Exception as exc:  # noqa: BLE001 - any import failure is the student's to read
        out.write_text(json.dumps({"__import__": f"{type(exc).__name__}: {exc}"}))
        return
    results = {}
    for case in json.loads(Path(cases_file).read_text()):
        try:
            if case["function"] == "drifted":
                value = bool(module.drifted(case["desired"], case["live"]))
            else:
                value = [[o.get("kind"), o.get("metadata", {}).get("name")]
                         for o in module.to_prune(case["desired"], case["live"], case["app"])]
            results[case["id"]] = {"value": value}
        except Exception as exc:  # noqa: BLE001
            results[case["id"]] = {"error": f"{type(exc).__name__}: {exc}"}
        out.write_text(json.dumps(results))  # partial results survive a timeout


def controller(module_path: str, namespace: str, state: str, run: str, interval: str) -> None:
    from course import gitops, k8s

    state_dir = Path(state)
    state_dir.mkdir(parents=True, exist_ok=True)
    log, lock = state_dir / "pasadas.jsonl", threading.Lock()
    try:
        module = load(module_path)
    except Exception as exc:  # noqa: BLE001
        (state_dir / "error.txt").write_text(f"{type(exc).__name__}: {exc}")
        sys.exit(3)
    cluster = k8s.find()
    if cluster is None:
        (state_dir / "error.txt").write_text(f"Sin clúster: {k8s.why_none()}")
        sys.exit(3)

    def record(name: str, outcome) -> None:
        with lock, log.open("a") as handle:
            handle.write(json.dumps({"app": name, **dataclasses.asdict(outcome)}) + "\n")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    gitops.Controller(cluster, namespace, state_dir / "repos", run=run, interval=float(interval),
                      on_outcome=record, drifted=module.drifted,
                      to_prune=module.to_prune).run_until(stop)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"casos": cases, "controlador": controller}[command](*args)
