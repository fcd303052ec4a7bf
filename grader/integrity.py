"""Tamper evidence for the course's own code while a submission runs.

A submission runs with the grader's permissions, so it can rewrite the grader, the
course package or the reference service on disk. The grading in progress is not
affected (its checks are already in memory and look at reality), but every later one
would be: a batch of a class would grade the next students with the altered code. So
``grade()`` takes a snapshot of those files before running a submission and, if any
changed, restores them and reports the submission as tampering. This is evidence and
repair, not a sandbox: see the README's warning for instructors.

Besides the course's files, the interpreter's startup hooks are watched: a ``.pth`` file,
``sitecustomize.py`` or ``usercustomize.py`` dropped into site-packages runs in every later
Python process, the next gradings included. The installed packages' own modules are not
watched (too many to compare on every grading): only ``--aislado`` protects them."""
from __future__ import annotations

import site
from collections.abc import Iterable
from pathlib import Path

from course import REPO_ROOT

WATCHED = ("course", "grader", "service/app", "service/Dockerfile", "service/requirements.txt",
           "service/requirements.lock", "deploy", "pyproject.toml")
SKIP_PARTS = {"__pycache__", ".pytest_cache"}

STARTUP_HOOKS = ("*.pth", "sitecustomize.py", "usercustomize.py")

Snapshot = dict[Path, bytes]


def _site_dirs() -> list[Path]:
    dirs = [*site.getsitepackages(), site.getusersitepackages()]
    return [Path(d) for d in dirs if Path(d).is_dir()]


def _startup_hooks() -> Iterable[Path]:
    for folder in _site_dirs():
        for pattern in STARTUP_HOOKS:
            yield from (p for p in folder.glob(pattern) if p.is_file())


def _files(roots: Iterable[str]) -> Iterable[Path]:
    if roots is WATCHED:
        yield from _startup_hooks()
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
    return sorted(_shown(p) for p in changed + added)


def _shown(path: Path) -> str:
    """Repository-relative when inside the repository, else absolute (site-packages)."""
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def restore(before: Snapshot, roots: Iterable[str] = WATCHED) -> None:
    """Put every watched file back as it was; remove the ones that appeared."""
    for path in set(_files(roots)) - set(before):
        path.unlink(missing_ok=True)
    for path, content in before.items():
        if not path.is_file() or path.read_bytes() != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
