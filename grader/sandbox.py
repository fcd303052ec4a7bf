"""A container with its own Docker daemon for one submission (``curso corregir --aislado``).

The container runs Debian's ``dockerd`` (image built from ``grader/sandbox_image``) with
CPU, memory, pids, /tmp and disk limits and ``--network none``: the inner daemon's bridge
lives in the container's own network namespace, so inner containers reach each other and
the sandbox's loopback, never the host's network (pip gets the course's local index,
``grader.offline_index``). The daemon's socket is in a private host directory
bind-mounted into the container, so the host side talks to it as
``unix://<dir>/docker.sock``.

Disk: the container's root filesystem is read-only; what it writes goes to size-limited
tmpfs mounts (memory) or to the inner /var/lib/docker, an ext4 filesystem in a sparse file
of ``Limits.disk_gb`` in the private directory, loop-mounted by the container itself with
auto-clear: when the container ends, the mount and the loop device go with it.

``--privileged`` does not work on this kind of host (the engine lacks CAP_SYS_RESOURCE),
so the sandbox gets every capability but that one, no seccomp/AppArmor profile and all
devices (see ``PRIVILEGES``). That contains ordinary mistakes and mischief (it cannot see
the host's containers or processes), but it is NOT a security boundary against a
determined attacker: use a disposable VM for hostile code.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import LogConfig

from course import docker as cdocker
from course import imagebuild

RECIPE_DIR = Path(__file__).parent / "sandbox_image"
IMAGE_REPO = "tema15/aislado"   # tagged by recipe hash: worktrees with other recipes coexist
BASE_IMAGE = "debian:12.12-slim"  # the course's Debian base (catalog key "debian")
RECIPE_LABEL = "tema15.receta"
SOCKET_DIR = "/run/tema15"        # inside the sandbox; bind-mounted from a private host dir
DISK_FILE = "disco.ext4"          # in the private dir: the inner /var/lib/docker
DISK_MOUNT = "/run/tema15-disco.ext4"  # where the container sees it until it loop-mounts it
# The inner daemon's default bridge, fixed so that images can name its gateway (the local
# package index listens there, see grader.offline_index).
INNER_BRIDGE = "172.17.0.1/16"
INNER_GATEWAY = INNER_BRIDGE.split("/")[0]
# Writable places of the read-only root filesystem (size in MB; tmpfs counts as memory).
WRITABLE_MB = {"/run": 64, "/var/tmp": 64, "/etc/docker": 1}
FULL_BELOW_KB = 8 * 1024          # free space under which a filesystem counts as full
HOME_MB = 512                     # $HOME of the inner grader: Jupyter, IPython, buildx state
READY_TIMEOUT_S = 60
PRIVILEGES = {
    "cap_add": ["ALL"],
    "cap_drop": ["SYS_RESOURCE"],  # the host engine does not hold it: asking for it fails
    "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
    "device_cgroup_rules": ["a *:* rwm"],
}
# `docker run --security-opt systempaths=unconfined`: the CLI sends it as empty masked and
# read-only /proc paths (the inner daemon writes /proc/sys); the Python SDK lacks the option.
UNMASKED_PATHS = {"MaskedPaths": [], "ReadonlyPaths": []}


class SandboxUnavailable(RuntimeError):
    """No sandbox can be started here; the message says why (Spanish)."""


@dataclass(frozen=True)
class Limits:
    cpus: float = 1.0
    memory_mb: int = 2048        # memory and swap: no swap beyond it
    pids: int = 1024
    tmp_mb: int = 1024           # /tmp (the grader's work dirs) is a tmpfs of this size
    wall_clock_s: float = 2100.0
    disk_gb: float = 10.0        # the inner /var/lib/docker (images, containers, builds)


@dataclass
class Sandbox:
    run_id: str
    container_name: str
    private_dir: Path
    limits: Limits
    load_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def docker_host(self) -> str:
        """DOCKER_HOST for the sandbox's own daemon, seen from the host."""
        return f"unix://{self.socket_dir / 'docker.sock'}"

    @property
    def socket_dir(self) -> Path:
        """The host side of SOCKET_DIR: the daemon's socket and the grader's report."""
        return self.private_dir / "socket"

    @property
    def disk_file(self) -> Path:
        return self.private_dir / DISK_FILE

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.docker_host, timeout=120)


def recipe_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted(RECIPE_DIR.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def image_tag() -> str:
    return f"{IMAGE_REPO}:{recipe_hash()}"


def ensure_image() -> str:
    """The sandbox image, built once per recipe (tagged by its hash)."""
    c = cdocker.client()
    tag = image_tag()
    try:
        c.images.get(tag)
        return tag
    except ImageNotFound:
        pass
    try:
        c.images.get(BASE_IMAGE)
    except ImageNotFound:
        raise SandboxUnavailable(
            f"Falta la imagen base {BASE_IMAGE} para construir el entorno aislado: "
            "prepárala con `curso imagenes debian`.") from None
    try:
        imagebuild.build(RECIPE_DIR, tag, buildargs={"BASE": BASE_IMAGE}, run="", quiet=True,
                         extra_labels={RECIPE_LABEL: recipe_hash()})
    except imagebuild.BuildFailed as exc:
        raise SandboxUnavailable("No se pudo construir la imagen del entorno aislado (instala "
                                 f"el paquete docker.io de Debian dentro): {exc}") from None
    return tag


def start(run_id: str, *, limits: Limits = Limits(), read_only: dict[Path, str] | None = None,
          seed: Path | None = None) -> Sandbox:
    """Start the sandbox of ``run_id`` and wait for its daemon. ``read_only``: host paths
    mounted read-only at the given container paths; ``seed``: a disk file to start from
    (``grader.sandbox_seed``) instead of an empty one. On failure nothing is left behind."""
    image = ensure_image()
    private = Path(tempfile.mkdtemp(prefix=f"{run_id}-aislado-"))
    box = Sandbox(run_id, cdocker.name("aislado", run_id), private, limits)
    try:
        _make_disk(box, seed)
    except (OSError, subprocess.CalledProcessError) as exc:
        stop(box)
        raise SandboxUnavailable(f"No se pudo crear el disco del entorno aislado: {exc}") from None
    box.socket_dir.mkdir()
    mounts = {str(box.socket_dir): {"bind": SOCKET_DIR, "mode": "rw"},
              str(box.disk_file): {"bind": DISK_MOUNT, "mode": "rw"}}
    for host_path, inner in (read_only or {}).items():
        mounts[str(host_path)] = {"bind": inner, "mode": "ro"}
    # /tmp with exec (Docker's tmpfs default is noexec): the grader's work dirs live there,
    # and gitlab-ci-local runs each job as a script file in its work repository, as on a
    # student's machine. The submission runs code anyway: noexec would only break that.
    tmpfs = {"/tmp": f"size={limits.tmp_mb}m,exec", str(Path.home()): f"size={HOME_MB}m",
             **{path: f"size={mb}m" for path, mb in WRITABLE_MB.items()}}
    c = cdocker.client()
    try:
        host_config = c.api.create_host_config(
            network_mode="none", nano_cpus=int(limits.cpus * 1e9),
            mem_limit=f"{limits.memory_mb}m", memswap_limit=f"{limits.memory_mb}m",
            pids_limit=limits.pids, read_only=True, tmpfs=tmpfs, binds=mounts,
            # dockerd logs to the container's output: bounded, it is a file on the host
            log_config=LogConfig(type="json-file", config={"max-size": "5m", "max-file": "1"}),
            **PRIVILEGES)
        host_config.update(UNMASKED_PATHS)
        created = c.api.create_container(
            image, name=box.container_name, labels=cdocker.labels(run_id),
            environment={"TEMA15_SOCKET_DIR": SOCKET_DIR, "TEMA15_DISK": DISK_MOUNT,
                         "TEMA15_DISK_FORMAT": "0" if seed else "1"},
            command=["--bip", INNER_BRIDGE], host_config=host_config,
            volumes=[m["bind"] for m in mounts.values()])
        c.api.start(created["Id"])
        _wait_ready(box)
    except (APIError, DockerException, SandboxUnavailable) as exc:
        logs = _logs(box)
        stop(box)
        if isinstance(exc, SandboxUnavailable):
            raise
        raise SandboxUnavailable(
            "El motor Docker no permite arrancar un contenedor con su propio Docker "
            f"dentro ({str(exc).splitlines()[0]}).{logs}") from None
    return box


def _make_disk(box: Sandbox, seed: Path | None) -> None:
    if seed:  # only the used blocks are copied: the copy stays sparse
        subprocess.run(["cp", "--sparse=always", str(seed), str(box.disk_file)], check=True,
                       capture_output=True)
    else:
        with box.disk_file.open("wb") as disk:
            disk.truncate(int(box.limits.disk_gb * 2**30))  # sparse: host blocks only as written


def _wait_ready(box: Sandbox) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        container = cdocker.client().containers.get(box.container_name)
        if container.status in ("exited", "dead"):
            raise SandboxUnavailable("El Docker interior terminó al arrancar." + _logs(box))
        if (box.socket_dir / "docker.sock").exists():
            try:
                box.client().ping()
                return
            except DockerException:
                pass  # socket created, API not serving yet
        time.sleep(0.2)
    raise SandboxUnavailable(f"El Docker interior no respondió en {READY_TIMEOUT_S} s." + _logs(box))


def _logs(box: Sandbox) -> str:
    try:
        tail = cdocker.client().containers.get(box.container_name).logs(tail=15)
        return "\n--- registro del Docker interior ---\n" + tail.decode(errors="replace")
    except (NotFound, APIError):
        return ""


def load_images(box: Sandbox, references: Mapping[str, str] | list[str]) -> dict[str, float]:
    """Copy host images into the sandbox's daemon (``docker save | docker load``); a
    mapping loads a host image under another reference (the host's tag is then dropped
    inside). The seconds each took are also kept in ``box.load_seconds``. An image the
    host lacks is skipped (the grader inside says so if the submission needs it)."""
    if not isinstance(references, Mapping):
        references = {ref: ref for ref in references}
    for source, target in references.items():
        try:
            cdocker.client().images.get(source)
        except ImageNotFound:
            continue
        started = time.perf_counter()
        save = subprocess.Popen(["docker", "save", source], stdout=subprocess.PIPE)
        load = subprocess.run(["docker", "--host", box.docker_host, "load", "--quiet"],
                              stdin=save.stdout, capture_output=True, text=True, check=False)
        save.stdout.close()
        save.wait()
        if save.returncode or load.returncode:
            raise SandboxUnavailable(f"No se pudo copiar la imagen {source} al Docker interior: "
                                     f"{load.stderr.strip()[-500:]}")
        if target != source:
            inner = box.client()
            repo, tag = target.rsplit(":", 1)
            inner.images.get(source).tag(repo, tag)
            inner.images.remove(source, noprune=True)
        box.load_seconds[target] = time.perf_counter() - started
    return box.load_seconds


@dataclass
class Execution:
    returncode: int | None    # None: stopped by the wall-clock limit
    output: str
    seconds: float


def execute(box: Sandbox, argv: list[str], *, env: dict[str, str], workdir: str = "/") -> Execution:
    """Run ``argv`` inside the sandbox with its wall-clock limit; past it, the whole
    sandbox is killed (every process of the submission with it)."""
    command = ["docker", "exec", "--workdir", workdir]
    for key, value in env.items():
        command += ["--env", f"{key}={value}"]
    command += [box.container_name, *argv]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, errors="replace",
                              timeout=box.limits.wall_clock_s, check=False)
    except subprocess.TimeoutExpired as exc:
        _kill(box)
        output = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return Execution(None, output, time.perf_counter() - started)
    return Execution(done.returncode, done.stdout + done.stderr, time.perf_counter() - started)


def _kill(box: Sandbox) -> None:
    try:
        cdocker.client().containers.get(box.container_name).kill()
    except (NotFound, APIError):
        pass


def status(box: Sandbox) -> dict:
    """State of the sandbox container (OOMKilled, exit code…), for diagnosis."""
    try:
        return cdocker.client().containers.get(box.container_name).attrs["State"]
    except (NotFound, APIError):
        return {}


def file_id(path: Path) -> tuple[int, int]:
    """(device, inode) of a file: how the kernel's loop devices name their backing file
    (its path is the one seen inside the sandbox)."""
    st = path.stat()
    return st.st_dev, st.st_ino


def loop_devices(backing: tuple[int, int]) -> list[str]:
    """This kernel's loop devices backed by the file ``backing`` (``file_id``)."""
    done = subprocess.run(["losetup", "--list", "--json", "-O", "NAME,BACK-INO,BACK-MAJ:MIN"],
                          capture_output=True, text=True, check=False)
    device, inode = backing
    wanted = (str(inode), f"{os.major(device)}:{os.minor(device)}")
    try:
        devices = json.loads(done.stdout or "{}").get("loopdevices", [])
    except ValueError:
        return []
    return [d["name"] for d in devices
            if (str(d.get("back-ino")), str(d.get("back-maj:min", "")).strip()) == wanted]


def disk_full(box: Sandbox) -> list[str]:
    """The sandbox's size-limited filesystems that are (almost) full, as Spanish phrases:
    the inner Docker's disk and /tmp."""
    done = subprocess.run(["docker", "exec", box.container_name, "df", "-P", "-k",
                           "/var/lib/docker", "/tmp"], capture_output=True, text=True, check=False)
    full = []
    for line in done.stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 6 and fields[3].isdigit() and int(fields[3]) < FULL_BELOW_KB:
            full.append(f"el disco de Docker ({box.limits.disk_gb:g} GB)"
                        if fields[5] == "/var/lib/docker" else f"/tmp ({box.limits.tmp_mb} MB)")
    return full


def stop(box: Sandbox) -> None:
    """Remove the sandbox (its loop-mounted disk goes with it) and its private dir.
    Never raises."""
    try:
        cdocker.client().containers.get(box.container_name).remove(force=True, v=True)
    except (NotFound, APIError):
        pass
    shutil.rmtree(box.private_dir, ignore_errors=True)
