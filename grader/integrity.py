"""Tamper evidence for the course's own code while a submission runs.

A submission runs with the grader's permissions, so it can rewrite the grader, the
course package or the reference service on disk. The grading in progress is not
affected (its checks are already in memory and look at reality), but every later one
would be: a batch of a class would grade the next students with the altered code. So
``grade()`` takes a snapshot of those files before running a submission and, if any
changed, restores them and reports the submission as tampering. This is evidence and
repair, not a sandbox: see the README's warning for instructors."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from course import REPO_ROOT

WATCHED = ("course", "grader", "service/app", "service/Dockerfile", "service/requirements.txt",
           "service/requirements.lock", "deploy", "pyproject.toml")
SKIP_PARTS = {"__pycache__", ".pytest_cache"}

Snapshot = dict[Path, bytes]


def _files(roots: Iterable[str]) -> Iterable[Path]:
    for root in roots:
        path = REPO_ROOT / root
        if path.is_file():
            yield path
        elif path.is_dir():
            for child in path.rglob("*"):
                if child.is_file() and not SKIP_PARTS.intersection(child.parts):
                    yield child


def snapshot(roots: Iterable[str] = WATCHED) -> Snapshot:
    return {path: path.read_bytes() for path in _files(roots)}


def changes(before: Snapshot, roots: Iterable[str] = WATCHED) -> list[str]:
    """Repository-relative paths changed, added or deleted since ``before``."""
    now = set(_files(roots))
    changed = [p for p in before if p not in now or p.read_bytes() != before[p]]
    added = [p for p in now if p not in before]
    return sorted(str(p.relative_to(REPO_ROOT)) for p in changed + added)


def restore(before: Snapshot, roots: Iterable[str] = WATCHED) -> None:
    """Put every watched file back as it was; remove the ones that appeared."""
    for path in set(_files(roots)) - set(before):
        path.unlink(missing_ok=True)
    for path, content in before.items():
        if not path.is_file() or path.read_bytes() != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
