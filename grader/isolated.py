"""Grade one submission inside its own sandbox (``curso corregir --aislado``).

The whole ordinary grading (``curso corregir`` without ``--aislado``: notebook execution,
checks, cleanup) runs inside a ``grader.sandbox`` container whose own Docker daemon holds
copies of the images the lab needs. The course code, its virtual environment and the
submission are mounted read-only; the grade comes back as the inner grader's JSON report.
The same code grades with and without ``--aislado``, so both give the same grade. The
sandbox has no network: image builds that run pip get the course's local package index
(``grader.offline_index``), loaded Python images use it by default."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from course import REPO_ROOT, cleanup, images
from course import docker as cdocker
from grader import checks, kube_access, offline_index, runner, sandbox, sandbox_seed
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
    "lab02": ("python-slim", "registry"),  # it publishes the service's image to a registry
    "lab03": ("python-slim", "postgres", "redis"),
    "lab05": ("python-slim", "registry"),  # the pipelines push to a local registry
    "lab07": (),  # its grader runs the service as a local process: no image
    "lab08": ("python-slim", "prometheus", "alertmanager"),
    "lab10": ("python-slim", "prometheus"),  # the canary: its stack scrapes both versions
}
DEFAULT_IMAGES = ("python-slim",)
# Images students build on with `pip install`: loaded with the local index as pip's default.
PIP_IMAGES = {"python-slim", "python"}
SUBMISSION_DIR = "/entrega"
MARGIN_S = 300  # beyond the inner total timeout: loading the kernel, the checks, cleanup
CACHE = Path(os.environ.get("TEMA15_CACHE", Path.home() / ".cache" / "tema15"))


def grade(submission: Path, lab: str | None = None, *, cell_timeout: float = CELL_TIMEOUT,
          total_timeout: float = TOTAL_TIMEOUT, limits: sandbox.Limits | None = None,
          notify: Callable[[str], None] = lambda _: None,
          only: Sequence[str] | None = None, seeded: bool = True) -> LabResult:
    """Grade ``submission`` in a sandbox; raises ``sandbox.SandboxUnavailable`` (Spanish)
    when this machine cannot start one, never grading without it. ``seeded``: see
    ``start``."""
    submission = Path(submission).resolve()
    if not submission.exists():
        raise GradingError(f"No existe la entrega «{submission}».")
    lab = lab or infer_lab(submission)
    load_lab(lab)
    try:
        checks.select(lab, only)
    except ValueError as exc:
        raise GradingError(str(exc)) from None
    limits = limits or sandbox.Limits(wall_clock_s=total_timeout + MARGIN_S)
    started = time.perf_counter()
    run_id = cdocker.new_run_id()
    box = start(run_id, LAB_IMAGES.get(lab, DEFAULT_IMAGES), limits=limits,
                read_only={submission: f"{SUBMISSION_DIR}/{submission.name}"},
                seeded=seeded, notify=notify)
    try:
        # Cluster labs: their namespaces and a credential limited to them (never admin).
        env = {**_inner_env(), RUN_ID_ENV: run_id, **kube_access.prepare(
            lab, run_id, box.container_name, box.socket_dir, sandbox.SOCKET_DIR,
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
        result = offline_index.explain(_result(box, lab, submission, execution, result_file))
        full = sandbox.disk_full(box)
        if full and not result.success:
            result.execution.message = (f"La entrega llenó {' y '.join(full)} del contenedor "
                                        f"aislado. {result.execution.message}").strip()
        result.run_id = run_id
        result.seconds = time.perf_counter() - started
        return result
    finally:
        notify("Borrando el contenedor aislado…")
        sandbox.stop(box)
        cleanup.run(run_id)


def start(run_id: str, keys: Sequence[str], *, limits: sandbox.Limits,
          read_only: dict[Path, str] | None = None, seeded: bool = True,
          notify: Callable[[str], None] = lambda _: None) -> sandbox.Sandbox:
    """A sandbox holding the images of ``keys`` (catalog keys) and, when one of them is a
    Python image, the local package index as their pip's default. ``seeded``: its disk is
    a copy of a cached one with the images (``grader.sandbox_seed``), else they are loaded
    one by one. The course, its interpreter and tools are mounted read-only, plus
    ``read_only`` (host path → path inside). Nothing is left behind on failure."""
    with_index = bool(PIP_IMAGES.intersection(keys))
    mounts = {**_course_mounts(), **(read_only or {})}
    if with_index:
        notify("Preparando el índice local de paquetes (la primera vez descarga de PyPI)…")
        mounts.update(offline_index.mounts())
    references = _images(keys)
    disk = None
    if seeded:
        notify("Preparando el disco con las imágenes del curso (la primera vez las carga)…")
        try:
            disk = sandbox_seed.seed(references, limits.disk_gb)
        except cdocker.EngineUnavailable as exc:  # no engine: no sandbox either, say why
            raise sandbox.SandboxUnavailable(str(exc)) from None
    notify("Arrancando el contenedor aislado con su propio Docker…")
    box = sandbox.start(run_id, limits=limits, read_only=mounts, seed=disk)
    try:
        if not seeded:
            notify("Copiando las imágenes del curso al Docker aislado…")
            sandbox.load_images(box, references)
        if with_index:
            notify("Arrancando el índice local de paquetes…")
            offline_index.serve(box)
    except BaseException:
        sandbox.stop(box)
        raise
    if box.load_seconds:
        notify("Imágenes copiadas: " + ", ".join(
            f"{ref} ({seconds:.1f} s)" for ref, seconds in box.load_seconds.items()))
    return box


def _images(keys: Sequence[str]) -> dict[str, str]:
    """Host image → reference inside the sandbox; Python images as their variant whose
    pip uses the local index, under the official reference students' FROM lines use."""
    refs = {}
    for key in keys:
        reference = images.CATALOG[key].reference
        present = cdocker.client().images.list(name=reference)
        refs[offline_index.image_variant(reference) if key in PIP_IMAGES and present
             else reference] = reference
    return refs


def _course_mounts() -> dict[Path, str]:
    """The course (with its venv), the interpreter the venv points to, the docker CLI and
    its plugins and the course's tool cache: all read-only, at the same paths as on the
    host so that the venv's absolute paths keep working."""
    paths = {REPO_ROOT, Path(sys.prefix), Path(sys.base_prefix).resolve()}
    docker_cli = Path(os.popen("command -v docker").read().strip() or "/usr/bin/docker").resolve()
    plugins = Path.home() / ".docker" / "cli-plugins"
    mounts = {p: str(p) for p in _outermost(paths)}
    mounts[docker_cli] = "/usr/local/bin/docker"  # the same client version as the host's
    node = shutil.which("node")
    if node:  # gitlab-ci-local (lab 05) runs on Node
        mounts[Path(node).resolve()] = "/usr/local/bin/node"
    if plugins.is_dir():
        mounts[plugins] = str(plugins)  # buildx: the grader builds with BuildKit
    mounts.update(kube_access.cache_mounts(CACHE))  # without the cluster's admin kubeconfigs
    return mounts


def _outermost(paths: set[Path]) -> list[Path]:
    """Drop paths inside another one of the set (a venv inside the repository)."""
    return [p for p in paths if not any(p != q and p.is_relative_to(q) for q in paths)]


def _inner_env() -> dict[str, str]:
    env = {"DOCKER_HOST": f"unix://{sandbox.SOCKET_DIR}/docker.sock", "HOME": str(Path.home()),
           "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "TEMA15_CACHE": str(CACHE), "PYTHONDONTWRITEBYTECODE": "1", **offline_index.inner_env()}
    for key in ("TEMA15_K8S_BIN", "LANG", "LC_ALL"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    return env


def _result(box: sandbox.Sandbox, lab: str, submission: Path,
            execution: sandbox.Execution, result_file: str) -> LabResult:
    """The inner grader's report; when there is none, a report whose every check failed
    and says why (wall-clock limit, out of memory, a crashed grader)."""
    path = box.socket_dir / result_file
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
