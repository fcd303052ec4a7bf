"""Grade one submission inside its own sandbox (``curso corregir --aislado``).

The whole ordinary grading (``curso corregir`` without ``--aislado``: notebook execution,
checks, cleanup) runs inside a ``grader.sandbox`` container whose own Docker daemon holds
copies of the images the lab needs. The course code, its virtual environment and the
submission are mounted read-only; the grade comes back as the inner grader's JSON report.
The same code grades with and without ``--aislado``, so both give the same grade."""
from __future__ import annotations

import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from course import REPO_ROOT, cleanup, images
from course import docker as cdocker
from grader import checks, kube_access, runner, sandbox
from grader.grade import (
    CELL_TIMEOUT,
    RUN_ID_ENV,
    TOTAL_TIMEOUT,
    GradingError,
    infer_lab,
    load_lab,
)
from grader.report import LabResult

# Images each lab's notebook and checks build from or run (catalog keys of course.images).
LAB_IMAGES: dict[str, tuple[str, ...]] = {
    "lab01": ("python-slim",),
    "lab03": ("python-slim", "postgres", "redis"),
    "lab07": (),  # its grader runs the service as a local process: no image
    "lab08": ("python-slim", "prometheus", "alertmanager"),
}
DEFAULT_IMAGES = ("python-slim",)
# Labs whose image builds run `pip install` from the package index: their sandbox gets a
# network of its own with a route out (see ``sandbox.Limits.network``); the rest, none.
NEEDS_PACKAGE_INDEX = {"lab01", "lab03", "lab04", "lab05", "lab08"}  # lab04 builds the service
SUBMISSION_DIR = "/entrega"
MARGIN_S = 300  # beyond the inner total timeout: loading the kernel, the checks, cleanup
CACHE = Path(os.environ.get("TEMA15_CACHE", Path.home() / ".cache" / "tema15"))


def grade(submission: Path, lab: str | None = None, *, cell_timeout: float = CELL_TIMEOUT,
          total_timeout: float = TOTAL_TIMEOUT, limits: sandbox.Limits | None = None,
          notify: Callable[[str], None] = lambda _: None,
          only: Sequence[str] | None = None) -> LabResult:
    """Grade ``submission`` in a sandbox; raises ``sandbox.SandboxUnavailable`` (Spanish)
    when this machine cannot start one, never grading without it."""
    submission = Path(submission).resolve()
    if not submission.exists():
        raise GradingError(f"No existe la entrega «{submission}».")
    lab = lab or infer_lab(submission)
    load_lab(lab)
    try:
        checks.select(lab, only)
    except ValueError as exc:
        raise GradingError(str(exc)) from None
    limits = limits or sandbox.Limits(wall_clock_s=total_timeout + MARGIN_S,
                                      network="salida" if lab in NEEDS_PACKAGE_INDEX else "none")
    started = time.perf_counter()
    run_id = cdocker.new_run_id()
    notify("Arrancando el contenedor aislado con su propio Docker…")
    box = sandbox.start(run_id, limits=limits, read_only=_read_only_mounts(submission))
    try:
        notify("Copiando las imágenes del curso al Docker aislado…")
        sandbox.load_images(box, [images.CATALOG[key].reference
                                  for key in LAB_IMAGES.get(lab, DEFAULT_IMAGES)])
        if box.load_seconds:
            notify("Imágenes copiadas: " + ", ".join(
                f"{ref} ({seconds:.1f} s)" for ref, seconds in box.load_seconds.items()))
        # Cluster labs: their namespaces and a credential limited to them (never admin).
        env = {**_inner_env(), RUN_ID_ENV: run_id, **kube_access.prepare(
            lab, run_id, box.container_name, box.private_dir, sandbox.SOCKET_DIR,
            seconds=limits.wall_clock_s)}
        notify("Corrigiendo dentro del contenedor aislado…")
        inner = f"{SUBMISSION_DIR}/{submission.name}"
        # An unguessable name: the notebook runs in the same container before the grader
        # writes its report (a hurdle, not a guarantee: it can read the grader's argv).
        result_file = f"resultado-{secrets.token_hex(8)}.json"
        argv = [sys.executable, "-m", "curso", "corregir", inner, "--lab", lab,
                "--json", f"{sandbox.SOCKET_DIR}/{result_file}",
                "--timeout-celda", str(int(cell_timeout)), "--timeout-total", str(int(total_timeout))]
        if only:
            argv += ["--solo", ",".join(only)]
        execution = sandbox.execute(box, argv, env=env, workdir=str(REPO_ROOT))
        result = _result(box, lab, submission, execution, result_file)
        result.run_id = run_id
        result.seconds = time.perf_counter() - started
        return result
    finally:
        notify("Borrando el contenedor aislado…")
        sandbox.stop(box)
        cleanup.run(run_id)


def _read_only_mounts(submission: Path) -> dict[Path, str]:
    """The course (with its venv), the interpreter the venv points to, the docker CLI and
    its plugins, the course's tool cache and the submission: all read-only, at the same
    paths as on the host so that the venv's absolute paths keep working."""
    paths = {REPO_ROOT, Path(sys.prefix), Path(sys.base_prefix).resolve()}
    docker_cli = Path(os.popen("command -v docker").read().strip() or "/usr/bin/docker").resolve()
    plugins = Path.home() / ".docker" / "cli-plugins"
    mounts = {p: str(p) for p in _outermost(paths)}
    mounts[docker_cli] = "/usr/local/bin/docker"  # the same client version as the host's
    if plugins.is_dir():
        mounts[plugins] = str(plugins)  # buildx: the grader builds with BuildKit
    mounts.update(kube_access.cache_mounts(CACHE))  # without the cluster's admin kubeconfigs
    mounts[submission] = f"{SUBMISSION_DIR}/{submission.name}"
    return mounts


def _outermost(paths: set[Path]) -> list[Path]:
    """Drop paths inside another one of the set (a venv inside the repository)."""
    return [p for p in paths if not any(p != q and p.is_relative_to(q) for q in paths)]


def _inner_env() -> dict[str, str]:
    env = {"DOCKER_HOST": f"unix://{sandbox.SOCKET_DIR}/docker.sock", "HOME": str(Path.home()),
           "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "TEMA15_CACHE": str(CACHE), "PYTHONDONTWRITEBYTECODE": "1"}
    for key in ("TEMA15_K8S_BIN", "LANG", "LC_ALL"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    return env


def _result(box: sandbox.Sandbox, lab: str, submission: Path,
            execution: sandbox.Execution, result_file: str) -> LabResult:
    """The inner grader's report; when there is none, a report whose every check failed
    and says why (wall-clock limit, out of memory, a crashed grader)."""
    path = box.private_dir / result_file
    if execution.returncode is not None and path.is_file():
        try:
            result = LabResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
            result.submission = str(submission)
            return result
        except (ValueError, KeyError, TypeError):
            pass  # unreadable: reported below
    state = sandbox.status(box)
    if execution.returncode is None:
        status, message = runner.TIMEOUT, (
            f"La corrección aislada superó el límite de {box.limits.wall_clock_s:.0f} s y se "
            "detuvo el contenedor entero.")
    elif state.get("OOMKilled"):
        status, message = runner.DEAD_KERNEL, (
            f"La entrega agotó la memoria del contenedor aislado ({box.limits.memory_mb} MB).")
    else:
        tail = [line for line in execution.output.splitlines() if line.strip()][-3:]
        status, message = runner.CELL_ERROR, (
            "El corrector aislado terminó sin informe (código "
            f"{execution.returncode}): {' / '.join(tail) or 'sin salida'}")
    report = runner.ExecutionReport(status, message, None, execution.seconds)
    failed = [checks.CheckResult(c.id, checks.FAILED, c.points, c.description, message)
              for c in checks.REGISTRY.checks.get(lab, [])]
    return LabResult(lab, str(submission), report, failed)
