"""Work directories for labs: a fresh copy of the course service, without the files the
lab asks the student to write (each lab module lists them in ``SERVICE_WITHOUT``)."""
from __future__ import annotations

import importlib
import shutil
from pathlib import Path

from course import REPO_ROOT

JUNK = ("__pycache__", "*.pyc", ".pytest_cache", ".venv", "venv")


def service_without(lab: str) -> tuple[str, ...]:
    return tuple(getattr(importlib.import_module(f"grader.labs.{lab}"), "SERVICE_WITHOUT", ()))


def prepare(dest: Path, lab: str) -> Path:
    """Copy ``service/`` into ``dest/service`` minus the lab's files; return that path."""
    target = dest / "service"
    shutil.copytree(REPO_ROOT / "service", target, ignore=shutil.ignore_patterns(*JUNK))
    for name in service_without(lab):
        path = target / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    return target


def workdir(given: str | None, lab: str) -> Path:
    """The lab's work dir: the grader's (``given``), or ``trabajo/<lab>`` in the repo for a
    student working by hand, created on first use and never wiped afterwards."""
    if given:
        return Path(given).resolve()
    own = REPO_ROOT / "trabajo" / lab
    if not (own / "service").exists():
        own.mkdir(parents=True, exist_ok=True)
        prepare(own, lab)
    return own
