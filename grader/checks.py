"""Check registry. A check inspects reality (files, images, containers, answers) and
either returns (passed), raises AssertionError (failed: its message is the student's
feedback) or raises anything else (error: the check itself broke). A check whose
``needs`` are missing on this machine is skipped with the reason, never passed."""
from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from course import env

PASSED, FAILED, SKIPPED, ERROR = "passed", "failed", "skipped", "error"
BLOCKED = "blocked"  # 0 points: a fact it builds on failed because of the submission
MANUAL = "manual"    # 0 automatic points: a person grades it (prose for the instructor)
STATUS_ES = {PASSED: "superada", FAILED: "fallida", SKIPPED: "omitida", ERROR: "error",
             BLOCKED: "bloqueada", MANUAL: "revisión manual"}


class NotVerifiable(Exception):
    """Raise inside a check when it cannot be verified for this submission (e.g. a
    directory of files for a check that needs the notebook's execution): it is reported
    as skipped with the message, never as passed."""


class ManualReview(Exception):
    """Raise inside a check that no program can grade (an explanation in prose): it is
    reported as "revisión manual" with the message (what the instructor should read),
    never as passed, and its points (0) do not count in the automatic score."""


class Blocked(AssertionError):
    """Raise inside a check when a fact it needs could not be established because of the
    submission (e.g. its image does not build): 0 points, and every dependent check
    carries the same message, so the report names the cause once."""


@dataclass(frozen=True)
class Check:
    id: str
    points: int
    needs: tuple[str, ...]
    func: Callable
    description: str


@dataclass
class CheckResult:
    id: str
    status: str
    points: int
    description: str
    message: str = ""
    seconds: float = 0.0

    @property
    def earned(self) -> int:
        return self.points if self.status == PASSED else 0


@dataclass
class Registry:
    checks: dict[str, list[Check]] = field(default_factory=dict)

    def add(self, lab: str, chk: Check) -> None:
        existing = self.checks.setdefault(lab, [])
        if any(c.id == chk.id for c in existing):
            raise ValueError(f"Comprobación duplicada en {lab}: {chk.id}")
        existing.append(chk)


REGISTRY = Registry()


def check(check_id: str, *, points: int, needs: tuple[str, ...] = ()):
    """Register a check for the lab whose module defines it (``grader.labs.labNN``)."""
    def decorator(func: Callable) -> Callable:
        lab = func.__module__.rsplit(".", 1)[-1]
        description = (func.__doc__ or check_id).strip().splitlines()[0]
        REGISTRY.add(lab, Check(check_id, points, tuple(needs), func, description))
        return func
    return decorator


def run_check(chk: Check, ctx) -> CheckResult:
    result = CheckResult(chk.id, SKIPPED, chk.points, chk.description)
    absent = env.missing(*chk.needs)
    if absent:
        result.message = "No verificable en esta máquina: " + "; ".join(
            f"{c.name} ({c.detail})" for c in absent)
        return result
    started = time.perf_counter()
    try:
        chk.func(ctx)
        result.status = PASSED
    except NotVerifiable as exc:
        result.status = SKIPPED
        result.message = f"No verificable en esta entrega: {exc}"
    except ManualReview as exc:
        result.status = MANUAL
        result.message = str(exc)
    except Blocked as exc:
        result.status = BLOCKED
        result.message = str(exc)
    except AssertionError as exc:
        result.status = FAILED
        result.message = str(exc) or "La comprobación no se cumple."
    except Exception as exc:  # the check itself broke: report it, keep grading
        result.status = ERROR
        where = traceback.extract_tb(exc.__traceback__)[-1]
        result.message = (f"El corrector falló en esta comprobación ({exc.__class__.__name__}: "
                          f"{exc}; {where.filename.rsplit('/', 1)[-1]}:{where.lineno}).")
    result.seconds = time.perf_counter() - started
    return result


def select(lab: str, only: Sequence[str] | None = None) -> list[Check]:
    """The lab's checks in registration order, or only the ``only`` ids in that order (an
    instructor re-checking one item; a test proving the order does not matter).
    ValueError (Spanish) for an id the lab does not have."""
    registered = REGISTRY.checks.get(lab, [])
    if only is None:
        return registered
    by_id = {chk.id: chk for chk in registered}
    unknown = [i for i in only if i not in by_id]
    if unknown:
        raise ValueError(f"{lab} no tiene las comprobaciones {', '.join(unknown)}. "
                         f"Las suyas: {', '.join(by_id)}.")
    return [by_id[i] for i in only]


def run_all(lab: str, ctx, notify: Callable[[str], None] = lambda _: None,
            only: Sequence[str] | None = None) -> list[CheckResult]:
    selected = select(lab, only)
    results = []
    for chk in selected:
        notify(f"Comprobando {chk.id}…")
        results.append(run_check(chk, ctx))
    return results
