"""The course's local package index for ``curso corregir --aislado``, whose sandbox has
no network at all.

A wheelhouse of what the labs' images install (``requirements/offline-index.txt``: the
service's requirements, pinned by its lock and the course constraints, plus pip,
setuptools and wheel) is downloaded once on the host with ``pip download``, as wheels for
the images' platform, and cached under ``$TEMA15_CACHE`` with a static PEP 503 index.
Inside each sandbox that index is served over HTTP on the inner bridge's gateway; the
course's Python images are loaded into the sandbox as variants whose ``/etc/pip.conf``
points at it, under the very references students' ``FROM`` lines use. So unmodified
Dockerfiles (``pip install -r requirements.txt``, venvs, ``--prefix``, ``python -m pip``)
build with no network, and a package the index lacks fails the build at once (low
timeout, one retry): ``explain`` turns pip's error into a Spanish message."""
from __future__ import annotations

import hashlib
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from docker.errors import ImageNotFound
from packaging.utils import canonicalize_name, parse_wheel_filename

from course import REPO_ROOT, imagebuild
from course import docker as cdocker
from grader import sandbox
from grader.report import LabResult

REQUIREMENTS = REPO_ROOT / "requirements" / "offline-index.txt"
PINS = (REPO_ROOT / "service" / "requirements.lock", REPO_ROOT / "requirements" / "constraints.txt")
# The images' interpreter: CPython 3.11 on glibc 2.36 (Debian bookworm), this machine's CPU.
PYTHON_VERSION = "3.11"
ARCH = os.uname().machine
# Every manylinux tag glibc 2.36 accepts (older pip does not expand them from the newest).
PLATFORMS = (*(f"manylinux_2_{minor}_{ARCH}" for minor in range(36, 4, -1)),
             f"manylinux2014_{ARCH}", f"manylinux2010_{ARCH}", f"manylinux1_{ARCH}")
PORT = 3141
MOUNT = "/srv/tema15-indice"     # in the sandbox, read-only
IMAGE_REPO = "tema15/indice-pip"  # host tag of a Python image with the index as pip's default
READY_TIMEOUT_S = 20
MISSING = re.compile(r"No matching distribution found for (\S+)")
UNREACHABLE = re.compile(r"NewConnectionError|Failed to establish a new connection|"
                         r"Temporary failure in name resolution|Network is unreachable")


class IndexUnavailable(sandbox.SandboxUnavailable):
    """The wheelhouse cannot be prepared here (no PyPI on first use); Spanish message."""


def cache_dir() -> Path:
    return Path(os.environ.get("TEMA15_CACHE", Path.home() / ".cache" / "tema15")) / "indice-pip"


def key() -> str:
    """Hash of what decides the wheelhouse's contents."""
    digest = hashlib.sha256(f"{PLATFORMS} {PYTHON_VERSION}".encode())
    for path in (REQUIREMENTS, REPO_ROOT / "service" / "requirements.txt",
                 REPO_ROOT / "service" / "requirements-dev.txt", *PINS):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def wheelhouse() -> Path:
    """The cached wheelhouse with its index (``files/`` and ``simple/``), downloaded from
    PyPI the first time."""
    target = cache_dir() / key()
    if (target / "simple" / "index.html").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{key()}-", dir=target.parent))
    try:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                   "--only-binary=:all:", "--python-version", PYTHON_VERSION,
                   "--implementation", "cp", "--abi", f"cp{PYTHON_VERSION.replace('.', '')}",
                   "--dest", str(work / "files"), "-r", str(REQUIREMENTS)]
        for platform in PLATFORMS:
            command += ["--platform", platform]
        for pins in PINS:
            command += ["-c", str(pins)]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
        if done.returncode != 0:
            raise IndexUnavailable(
                "No se pudo preparar el índice local de paquetes de la corrección aislada "
                "(hace falta acceso a PyPI la primera vez; después queda en "
                f"{target.parent}):\n{done.stderr.strip()[-1500:]}")
        write_index(work)
        try:
            work.rename(target)
        except OSError:  # another process prepared it meanwhile
            if not (target / "simple" / "index.html").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def write_index(root: Path) -> None:
    """A static PEP 503 "simple" index over ``root/files``, with sha256 fragments."""
    projects: dict[str, list[Path]] = {}
    for wheel in sorted((root / "files").glob("*.whl")):
        projects.setdefault(canonicalize_name(parse_wheel_filename(wheel.name)[0]), []).append(wheel)
    simple = root / "simple"
    for project, wheels in projects.items():
        links = []
        for wheel in wheels:
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            links.append(f'<a href="../../files/{html.escape(wheel.name)}#sha256={digest}">'
                         f"{html.escape(wheel.name)}</a><br>")
        (simple / project).mkdir(parents=True)
        (simple / project / "index.html").write_text(_page(project, links))
    (simple / "index.html").write_text(
        _page("índice local del curso", [f'<a href="{p}/">{p}</a><br>' for p in sorted(projects)]))


def _page(title: str, lines: list[str]) -> str:
    body = "\n".join(lines)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title></head><body>\n{body}\n</body></html>\n")


def pip_conf(host: str = sandbox.INNER_GATEWAY) -> str:
    """pip's global configuration in the images: the local index over plain HTTP (hence
    trusted-host), and a failing request fails fast instead of retrying for minutes."""
    return (f"[global]\nindex-url = http://{host}:{PORT}/simple/\ntrusted-host = {host}\n"
            "timeout = 10\nretries = 1\ndisable-pip-version-check = true\n")


def image_variant(reference: str) -> str:
    """A host image ``reference`` plus ``/etc/pip.conf`` for the index, tagged by the hash
    of both (built once; shared by every worktree)."""
    base = cdocker.client().images.get(reference)
    tag = f"{IMAGE_REPO}:{hashlib.sha256((pip_conf() + base.id).encode()).hexdigest()[:16]}"
    try:
        cdocker.client().images.get(tag)
        return tag
    except ImageNotFound:
        pass
    with tempfile.TemporaryDirectory(prefix="t15-indice-") as tmp:
        (Path(tmp) / "pip.conf").write_text(pip_conf())
        (Path(tmp) / "Dockerfile").write_text(
            f"FROM {reference}\n# corrección aislada: pip usa el índice local del curso\n"
            "COPY pip.conf /etc/pip.conf\n")
        imagebuild.build(tmp, tag, run="", quiet=True)
    return tag


def mounts() -> dict[Path, str]:
    """Read-only mount of the wheelhouse into the sandbox."""
    return {wheelhouse(): MOUNT}


def serve(box: sandbox.Sandbox) -> None:
    """Serve the index inside ``box`` on every address of its network namespace (the
    inner bridges' gateways included) and wait until it answers."""
    python = sys.executable  # the course's interpreter, mounted at the same path
    subprocess.run(["docker", "exec", "--detach", box.container_name, python, "-m", "http.server",
                    str(PORT), "--bind", "0.0.0.0", "--directory", MOUNT],
                   check=True, capture_output=True)
    probe = ("import time, urllib.request\n"
             f"deadline = time.monotonic() + {READY_TIMEOUT_S}\n"
             "while True:\n"
             "    try:\n"
             f"        urllib.request.urlopen('http://127.0.0.1:{PORT}/simple/', timeout=2); break\n"
             "    except OSError:\n"
             "        if time.monotonic() > deadline: raise\n"
             "        time.sleep(0.1)\n")
    done = subprocess.run(["docker", "exec", box.container_name, python, "-c", probe],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise sandbox.SandboxUnavailable("El índice local de paquetes no arrancó dentro del "
                                         f"contenedor aislado: {done.stderr.strip()[-500:]}")


def inner_env() -> dict[str, str]:
    """pip run directly in the sandbox (a pipeline step) uses the index too."""
    return {"PIP_INDEX_URL": f"http://127.0.0.1:{PORT}/simple/", "PIP_TRUSTED_HOST": "127.0.0.1",
            "PIP_TIMEOUT": "10", "PIP_RETRIES": "1"}


def message(text: str) -> str | None:
    """The Spanish explanation of pip's failure in ``text`` (a build log), if any."""
    missing = MISSING.search(text)
    if not missing:
        return None
    if UNREACHABLE.search(text):
        return ("la corrección aislada no tiene red: pip intentó descargar "
                f"{missing[1]} de un índice externo; sin --index-url pip usa el índice local del curso")
    return (f"la corrección aislada no tiene red: el paquete {missing[1]} no está en el índice "
            "local del curso")


def explain(result: LabResult) -> LabResult:
    """Put the explanation first in every message of ``result`` where pip failed."""
    for check in result.checks:
        note = message(check.message)
        if note and note not in check.message:
            check.message = f"{note[0].upper()}{note[1:]}. {check.message}"
    note = message(result.execution.message)
    if note and note not in result.execution.message:
        result.execution.message = f"{note[0].upper()}{note[1:]}. {result.execution.message}"
    return result

