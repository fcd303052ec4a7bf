"""The child process of ``grader.runner``: execute one notebook with papermill's Python API
and write how it ended to a JSON file, from the exception *types* papermill and nbclient
raise (a cell that raises its own ``TimeoutError("timed out")`` is a failing cell, not the
cell time limit). Run as ``python -m grader.papermill_child REQUEST.json``.

Request: {"input", "output", "cwd", "parameters", "cell_timeout", "result"}.
Result: {"kind": "ok" | "cell_error" | "cell_timeout" | "dead_kernel" | "other",
         "ename", "evalue", "cell_index", "strays"}.

The child is a Linux "child subreaper": a process the notebook detaches (``setsid``, a
double fork) and whose environment it wipes, so that the run id no longer marks it, is
re-parented here instead of to init when its parent (the kernel) exits. ``strays`` lists
those still alive when papermill is done, as ``[pid, create_time]``; the grader stops them
after its checks, as it stops every other process of the run.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def run(request: dict) -> dict:
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(
            request["input"], request["output"], parameters=request["parameters"],
            cwd=request["cwd"], execution_timeout=request["cell_timeout"],
            kernel_name="python3", progress_bar=False)
    except PapermillExecutionError as exc:  # a cell raised: its own exception, typed
        return {"kind": "cell_error", "ename": exc.ename, "evalue": exc.evalue,
                "cell_index": exc.cell_index}
    except CellTimeoutError as exc:
        return {"kind": "cell_timeout", "ename": type(exc).__name__, "evalue": str(exc)}
    except DeadKernelError as exc:
        return {"kind": "dead_kernel", "ename": type(exc).__name__, "evalue": str(exc)}
    except Exception as exc:  # papermill itself could not run it (kernel missing, I/O...)
        return {"kind": "other", "ename": type(exc).__name__, "evalue": str(exc)}
    return {"kind": "ok"}


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Orphans of the kernel come to this process (Linux ≥ 3.4; elsewhere a no-op)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def strays() -> list[list[float]]:
    """Descendants still alive: what the notebook left running, however detached."""
    import psutil

    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                found.append([proc.pid, proc.create_time()])
        except psutil.Error:
            continue
    return found


def main(argv: list[str]) -> int:
    become_subreaper()
    request = json.loads(Path(argv[0]).read_text())
    outcome = run(request)
    outcome["strays"] = strays()
    Path(request["result"]).write_text(json.dumps(outcome, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
