"""Building images with the classic builder for notebook cells and graders (15.1 and
every later section that builds the course service): progress per Dockerfile step, a
report of which steps came from the cache, readable errors, stage images named for the
run's cleanup, and the layer table of an image.

Every build holds the engine's build lock shared (``course.docker.build_lock``)."""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import docker
from docker.errors import NotFound
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from course import show
from course.docker import RUN_LABEL, build_lock, client, run_id

STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)")
LAYER_RE = re.compile(r"^ ---> ([0-9a-f]{12})$")


class BuildFailed(RuntimeError):
    """A build failed; the message names the step and shows the last log lines."""


@dataclass
class BuildReport:
    image: docker.models.images.Image
    tag: str
    seconds: float
    steps: int = 0
    cached_steps: int = 0
    log: list[str] = field(default_factory=list)
    step_cache: list[tuple[str, bool]] = field(default_factory=list)  # (instruction, cached)


def build(path: str | Path, tag: str, *, dockerfile: str | None = None,
          buildargs: dict[str, str] | None = None, run: str | None = None,
          extra_labels: dict[str, str] | None = None, nocache: bool = False,
          quiet: bool = False) -> BuildReport:
    """Build with the classic builder, showing progress per Dockerfile step.

    The image gets the run label (so ``cleanup`` finds it) unless ``run=""``.
    """
    api = client().api
    image_labels = dict(extra_labels or {})
    if run != "":
        image_labels[RUN_LABEL] = run or run_id()
    started = time.perf_counter()
    log: list[str] = []
    steps = cached = 0
    current = ""
    last_layer = None
    stage_results: list[str] = []
    step_cache: list[tuple[str, bool]] = []
    with build_lock(exclusive=False), _progress(quiet) as progress:
        task = progress.add_task(f"Construyendo {tag}", total=None)
        stream = api.build(path=str(path), tag=tag, dockerfile=dockerfile, buildargs=buildargs,
                           labels=image_labels or None, rm=True, forcerm=True, decode=True,
                           nocache=nocache)
        for chunk in stream:
            if "error" in chunk:
                tail = "\n".join(log[-15:])
                raise BuildFailed(f"La construcción de {tag} falló en «{current}»:\n"
                                  f"{chunk['error'].strip()}\n--- últimas líneas ---\n{tail}")
            text = chunk.get("stream", "")
            for line in text.splitlines():
                line = line.rstrip()
                if not line:
                    continue
                log.append(line)
                match = STEP_RE.match(line)
                layer = LAYER_RE.match(line)
                if layer:
                    last_layer = layer[1]
                elif match:
                    steps, total, current = int(match[1]), int(match[2]), match[3]
                    step_cache.append((current, False))
                    if current.upper().startswith("FROM ") and last_layer:
                        stage_results.append(last_layer)  # an earlier stage just ended
                    progress.update(task, completed=steps - 1, total=total,
                                    description=f"{tag}: paso {steps}/{total}")
                elif "Using cache" in line:
                    cached += 1
                    if step_cache:
                        step_cache[-1] = (step_cache[-1][0], True)
        progress.update(task, completed=steps)
        image = client().images.get(tag)
        if run != "":  # name the stage images while still holding the lock
            _name_stage_images(stage_results, run or run_id())
    report = BuildReport(image, tag, time.perf_counter() - started, steps, cached, log, step_cache)
    if not quiet:
        show.ok(f"{tag}: {report.steps} pasos ({report.cached_steps} desde caché) "
                f"en {report.seconds:.1f} s, {show.megabytes(image.attrs['Size'])}")
    return report


def _name_stage_images(image_ids: list[str], run: str) -> None:
    """Tag the results of earlier stages (the classic builder leaves them untagged and
    unlabelled) with the run's name prefix, so ``cleanup`` can find them."""
    for image_id in image_ids:
        try:
            client().images.get(image_id).tag(f"{run}-etapa", tag=image_id)
        except NotFound:
            pass  # a stage whose result was also the base of nothing kept: nothing to name


@contextmanager
def _progress(quiet: bool) -> Iterator[Progress]:
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                        console=show.console, transient=True, disable=quiet)
    with progress:
        yield progress


def layers(image: docker.models.images.Image) -> list[tuple[str, int]]:
    """(instruction, size in bytes) per history entry, oldest first."""
    rows = []
    for entry in reversed(image.history()):
        created_by = entry.get("CreatedBy", "")
        created_by = created_by.replace("/bin/sh -c #(nop) ", "").replace("/bin/sh -c ", "RUN ")
        rows.append((created_by.strip()[:100], int(entry.get("Size", 0))))
    return rows


def show_layers(image: docker.models.images.Image) -> None:
    """Print the layer table of an image: what created each layer and its size."""
    rows = [(created_by, show.megabytes(size)) for created_by, size in layers(image) if size]
    total = show.megabytes(image.attrs["Size"])
    show.table(f"Capas con contenido ({total} en total)", ["Instrucción", "Tamaño"], rows)
