"""Records when each test ran and on which xdist worker (issue 15: "measure and list the
slowest"): one JSON line per test in ``reports/cronologia.jsonl`` (or the file named by
``TEMA15_CRONOLOGIA``), read by ``bench/ci_timeline.py`` to show how busy the workers were
and which tests made the tail of the run. The controller empties the file when a session
starts (``reset``, from conftest); workers append (one short write each, O_APPEND)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from course import REPO_ROOT

DEFAULT = REPO_ROOT / "reports" / "cronologia.jsonl"


def timeline_path() -> Path:
    return Path(os.environ.get("TEMA15_CRONOLOGIA") or DEFAULT)


def reset(*, nested: bool) -> None:
    """Called by the controller as its session starts: an outermost session empties the
    file; a session started by a test (15.5's act, the cleanup tests) writes nowhere, and
    its workers inherit that."""
    if nested:
        os.environ["TEMA15_CRONOLOGIA"] = os.devnull
        return
    path = timeline_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    start = time.time()
    yield
    line = json.dumps({"worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
                       "test": item.nodeid, "start": round(start, 3),
                       "stop": round(time.time(), 3)})
    try:
        with timeline_path().open("a") as out:
            out.write(line + "\n")
    except OSError:
        pass  # a read-only tree: the timeline is a diagnostic, never a reason to fail
