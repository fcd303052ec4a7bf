"""grader.engine_watch: an image the notebook tags is seen however it was built, with the
SDK (classic builder: a «tag» event) or with BuildKit (`docker buildx build --load`: on
engine 20.10 no event, seen when a container starts from it)."""
from __future__ import annotations

import subprocess

import pytest

from course import buildkit, images
from course import docker as cdocker
from course.waiting import wait_for
from grader.engine_watch import EngineWatch


@pytest.fixture
def context(docker_client, tmp_path):
    (tmp_path / "Dockerfile").write_text(f"FROM {images.ensure('python-slim')}\n"
                                         "LABEL curso=tema15\n")
    return tmp_path


def _seen_tag(seen, tag: str) -> dict:
    return wait_for(lambda: seen.images.get(tag), timeout=10, what=f"ver {tag}")


def test_an_sdk_build_is_seen_by_its_tag_event(docker_client, run_id, context):
    tag = f"{run_id}-visto-sdk:1"
    with EngineWatch(run_id) as seen:
        # course.docker makes every SDK build hold the build lock shared (_builds_hold_the_lock).
        image, _ = docker_client.images.build(path=str(context), tag=tag,
                                              labels=cdocker.labels(run_id))
        recorded = _seen_tag(seen, tag)
    assert recorded["id"] == image.id
    assert recorded["labels"][cdocker.RUN_LABEL] == run_id
    assert not seen.containers


@pytest.mark.skipif(not buildkit.available(), reason="sin el plugin docker buildx (BuildKit)")
def test_a_buildkit_image_is_seen_when_a_container_starts_from_it(docker_client, run_id, context):
    tag = f"{run_id}-visto-buildkit:1"
    with EngineWatch(run_id) as seen:
        with cdocker.build_lock(exclusive=False):  # as every build of the course's code
            subprocess.run(["docker", "buildx", "build", "--load", "--tag", tag, str(context)],
                           capture_output=True, check=True)
        image = docker_client.images.get(tag)
        docker_client.containers.run(image.id, ["python", "-c", "pass"], detach=True,
                                     name=cdocker.name("visto", run_id))
        recorded = _seen_tag(seen, tag)
        wait_for(lambda: seen.containers, timeout=10, what="ver el contenedor")
    assert recorded["id"] == image.id and recorded["labels"]["curso"] == "tema15"
    assert cdocker.RUN_LABEL not in recorded["labels"]  # a missing label is there to see
    assert [c["image"] for c in seen.containers] == [image.id]
