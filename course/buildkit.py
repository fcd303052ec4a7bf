"""Build as `docker build` does on current Docker: with BuildKit, through the buildx CLI
plugin (``docker buildx build --load``). The Docker SDK for Python only speaks the classic
builder, which rejects BuildKit-only syntax (``RUN --mount``, heredocs…) that students'
own ``docker build`` accepts; graders use this module so both build the same files."""
from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from course import docker as cdocker
from course import imagebuild
from course import env

STEP = re.compile(r"^#(\d+) \[([^\]]+)\] (.*)$")       # "#8 [builder 4/4] RUN pip install …"
STATE = re.compile(r"^#(\d+) (CACHED|DONE [\d.]+s|ERROR.*)$")
BUILD_TIMEOUT_S = 900


def available() -> bool:
    """The buildx plugin answers (``course.env`` capability ``buildx``)."""
    return env.has("buildx")


def build(path: str | Path, tag: str, *, run: str | None = None,
          buildargs: dict[str, str] | None = None,
          extra_labels: dict[str, str] | None = None) -> imagebuild.BuildReport:
    """Build ``path`` with BuildKit into the engine's image store as ``tag``. The image
    gets the run label; BuildKit leaves no untagged stage images behind (its cache lives
    in the engine's build cache). Raises ``imagebuild.BuildFailed`` with the last lines."""
    labels = {**(extra_labels or {}), cdocker.RUN_LABEL: run or cdocker.run_id()}
    command = ["docker", "buildx", "build", "--load", "--progress=plain", "--tag", tag]
    for key, value in labels.items():
        command += ["--label", f"{key}={value}"]
    for key, value in (buildargs or {}).items():
        command += ["--build-arg", f"{key}={value}"]
    command.append(str(path))
    started = time.perf_counter()
    with cdocker.build_lock(exclusive=False):  # a cleanup sweep waits for this build
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False,
                                  timeout=BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise imagebuild.BuildFailed(f"La construcción de {tag} no terminó en "
                                      f"{BUILD_TIMEOUT_S} s.") from None
    log = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    steps = _steps(log)
    if done.returncode != 0:
        failed = next((instr for instr, state in steps if state.startswith("ERROR")), "")
        raise imagebuild.BuildFailed(f"La construcción de {tag} falló en «{failed}»:\n"
                                  + "\n".join(log[-15:]))
    step_cache = [(instr, state == "CACHED") for instr, state in steps]
    image = cdocker.client().images.get(tag)
    return imagebuild.BuildReport(image, tag, time.perf_counter() - started, len(step_cache),
                               sum(cached for _, cached in step_cache), log, step_cache)


def _steps(log: list[str]) -> list[tuple[str, str]]:
    """(instruction, final state) of every Dockerfile step in plain progress output."""
    instructions: dict[str, str] = {}
    states: dict[str, str] = {}
    for line in log:
        step, state = STEP.match(line), STATE.match(line)
        if step and "internal" not in step[2] and not step[3].startswith("FROM "):
            instructions.setdefault(step[1], step[3])
        elif state:
            states[state[1]] = state[2]
    return [(instr, states.get(n, "")) for n, instr in instructions.items()]
