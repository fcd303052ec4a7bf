"""Labs: the per-lab contract (one table, read by the lab notebooks and by the grader) and
work directories: a fresh copy of the course service, without the files the lab asks the
student to write."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from course import REPO_ROOT

JUNK = ("__pycache__", "*.pyc", ".pytest_cache", ".venv", "venv")


@dataclass(frozen=True)
class Contract:
    """What a lab's work dir and its grading need to know besides its checks
    (``grader/labs/labNN.py``, which may also define ``before_execution``)."""
    service_without: tuple[str, ...] = ()  # files of service/ the student writes
    submission_root: str = "service"       # where a directory submission is copied
    keep_git: bool = False                 # keep a directory submission's .git (its history is graded)


CONTRACTS = {
    "lab01": Contract(service_without=("Dockerfile", ".dockerignore")),
    "lab02": Contract(submission_root="."),   # etiquetas.py at the root
    "lab03": Contract(submission_root="."),   # compose.yaml at the root
    "lab04": Contract(submission_root="."),   # chart/ and kustomize/
    "lab05": Contract(submission_root="."),   # .github/ and .gitlab-ci.yml
    "lab06": Contract(submission_root=".", keep_git=True),  # entornos/, aplicaciones/ and history
    "lab07": Contract(service_without=("app/logging_config.py", "app/middleware.py")),
    "lab08": Contract(service_without=("app/metrics.py",), submission_root="."),  # service/, prometheus/
    "lab09": Contract(submission_root="."),   # logs/
    "lab10": Contract(submission_root="."),   # rollout/
}


def contract(lab: str) -> Contract:
    return CONTRACTS.get(lab, Contract())


def service_without(lab: str) -> tuple[str, ...]:
    return contract(lab).service_without


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
