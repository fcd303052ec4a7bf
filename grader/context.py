"""What a check gets: the work dir the submission produced, the run id, the execution
report, and a memo so expensive facts (an image build) are computed once per grading."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.checks import NotVerifiable
from grader.runner import ExecutionReport


class PreconditionFailed(AssertionError):
    """A check cannot be verified because something it builds on failed (counts as failed)."""


@dataclass
class GradingContext:
    lab: str
    workdir: Path
    run_id: str
    execution: ExecutionReport
    parameters: dict[str, Any] = field(default_factory=dict)  # extra ones from the lab hook
    _memo: dict[str, Any] = field(default_factory=dict)

    @property
    def service_dir(self) -> Path:
        return self.workdir / "service"

    def forget(self, key: str) -> None:
        """Drop a memoized fact that a check has just destroyed (e.g. a stack it tore
        down), so that a check running after it computes it again: checks with side
        effects do not depend on running last."""
        self._memo.pop(key, None)

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """Compute once; a failure is remembered too, so dependent checks fail alike, and
        so is "not verifiable here" (e.g. the grader lacks a base image) and an error of
        the grader itself: computing it again would not report the same cause (a second
        try may trip over what the first one left, e.g. a container name in use)."""
        if key not in self._memo:
            try:
                self._memo[key] = ("ok", compute())
            except NotVerifiable as exc:
                self._memo[key] = ("unverifiable", str(exc))
            except AssertionError as exc:
                self._memo[key] = ("failed", str(exc))
            except Exception as exc:  # noqa: BLE001 (re-raised below, to every dependent check)
                self._memo[key] = ("error", exc)
        state, value = self._memo[key]
        if state == "failed":
            raise PreconditionFailed(value)
        if state == "unverifiable":
            raise NotVerifiable(value)
        if state == "error":
            raise value
        return value
