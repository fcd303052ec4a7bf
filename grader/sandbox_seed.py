"""Seeded disks for ``grader.sandbox``: the inner /var/lib/docker with a lab's images
already loaded, made once (a sandbox loads them, its daemon stops cleanly, its disk file
is kept under ``$TEMA15_CACHE``) and copied sparsely for each new sandbox. A copy of the
used blocks is several times cheaper than ``docker save | docker load`` of the same images
into every sandbox, which had to export, hash and unpack each layer again."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from course import docker as cdocker
from grader import sandbox

KEEP = 8              # seeds kept in the cache, least recently used first out
DETACH_TIMEOUT_S = 20


def seeds_dir() -> Path:
    return Path(os.environ.get("TEMA15_CACHE", Path.home() / ".cache" / "tema15")) / "aislado-semillas"


def key(references: Mapping[str, str], disk_gb: float) -> str:
    """What decides a seed's contents: the sandbox recipe, its inner bridge, the disk size
    and the exact host images (by id) under the references they get inside."""
    c = cdocker.client()
    images = sorted((source, target, c.images.get(source).id) for source, target in references.items())
    text = json.dumps([sandbox.recipe_hash(), sandbox.INNER_BRIDGE, disk_gb, images])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def seed(references: Mapping[str, str], disk_gb: float) -> Path:
    """The seeded disk file for these images (host image → reference inside), made now if
    missing. Images the host lacks are left out (the grader inside reports them)."""
    present = {s: t for s, t in references.items() if cdocker.client().images.list(name=s)}
    folder = seeds_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key(present, disk_gb)}.ext4"
    with cdocker.file_lock(folder / ".lock"):  # two workers needing the same seed make it once
        if not path.is_file():
            _make(path, present, disk_gb)
            _prune(folder)
    os.utime(path)
    return path


def _make(path: Path, references: Mapping[str, str], disk_gb: float) -> None:
    box = sandbox.start(cdocker.new_run_id(), limits=sandbox.Limits(disk_gb=disk_gb, wall_clock_s=900))
    try:
        sandbox.load_images(box, references)
        # A clean stop: the daemon exits, the filesystem is unmounted and its loop device
        # flushed and detached when the container's mount namespace goes.
        disk = sandbox.file_id(box.disk_file)
        cdocker.client().containers.get(box.container_name).stop(timeout=30)
        deadline = time.monotonic() + DETACH_TIMEOUT_S
        while sandbox.loop_devices(disk):
            if time.monotonic() > deadline:
                raise sandbox.SandboxUnavailable("El disco del entorno aislado no se liberó al parar.")
            time.sleep(0.2)
        partial = path.with_suffix(f".{os.getpid()}.parcial")
        subprocess.run(["cp", "--sparse=always", str(box.disk_file), str(partial)], check=True)
        partial.replace(path)
    finally:
        sandbox.stop(box)


def _prune(folder: Path) -> None:
    seeds = sorted(folder.glob("*.ext4"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in seeds[KEEP:]:
        old.unlink(missing_ok=True)
