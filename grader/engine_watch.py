"""What a notebook did with the Docker engine while it ran, seen from outside: the
grader follows the engine's event stream during the execution and inspects each image
the run tags and each container of the run as it starts, before the notebook's own
cleanup removes them. Checks then grade what the notebook really asked the engine for
(tags, labels, published ports), not what it printed.

A container or image belongs to the run when its name or tag carries the run id, or
(containers) when it was created from an image of the run: a label the student forgot
is exactly what a check must see missing, so labels cannot be the filter."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from docker.errors import DockerException

from course import docker as cdocker
from course import env


@dataclass
class Seen:
    """Images tagged and containers started by one run, as the engine described them
    at that moment."""
    images: dict[str, dict] = field(default_factory=dict)      # tag → {"id", "labels"}
    containers: list[dict] = field(default_factory=list)       # name, image, labels, ports
    problem: str = ""                                          # why nothing could be seen


class EngineWatch:
    """``with EngineWatch(run_id) as seen:`` around a notebook's execution."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.seen = Seen()
        self._stream = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Seen:
        if not env.has("docker"):
            self.seen.problem = f"sin motor Docker ({env.get('docker').detail})"
            return self.seen
        try:
            self._client = cdocker.client()
            self._stream = self._client.events(decode=True,
                                               filters={"type": ["image", "container"]})
        except (DockerException, cdocker.EngineUnavailable) as exc:
            self.seen.problem = f"no se pudo seguir los eventos del motor: {exc}"
            return self.seen
        self._thread = threading.Thread(target=self._follow, name=f"eventos-{self.run_id}",
                                        daemon=True)
        self._thread.start()
        return self.seen

    def __exit__(self, *exc) -> None:
        if self._stream is not None:
            self._stream.close()   # ends the blocking read in the thread
        if self._thread is not None:
            self._thread.join(timeout=5)
        # What the notebook left running is gone now (checks read the records): also a
        # container it forgot to label, which the run's cleanup would not find.
        for container in self.seen.containers:
            try:
                self._client.api.remove_container(container["id"], force=True, v=True)
            except DockerException:
                pass  # already removed by the notebook's own cleanup

    def _follow(self) -> None:
        try:
            for event in self._stream:
                self._record(event)
        except Exception:  # the stream was closed (normal end) or the engine went away
            pass

    def _record(self, event: dict) -> None:
        kind, action = event.get("Type"), event.get("Action", "")
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        if kind == "image" and action == "tag" and self.run_id in attributes.get("name", ""):
            image_id = (event.get("Actor") or {}).get("ID") or event.get("id", "")
            try:
                labels = self._client.images.get(image_id).labels or {}
            except DockerException:
                labels = {k: v for k, v in attributes.items() if k != "name"}
            self.seen.images[attributes["name"]] = {"id": image_id, "labels": labels}
        elif kind == "container" and action == "start":
            # "start", not "create": the classic builder creates (and never starts) a
            # container to commit a LABEL step, which carries the run label too.
            reference = attributes.get("image", "")
            if reference and reference not in self._known_images():
                self._note_image(reference)
            ours = (self.run_id in attributes.get("name", "")
                    or reference in self._known_images()
                    or attributes.get(cdocker.RUN_LABEL) == self.run_id)
            if not ours:
                return
            container_id = (event.get("Actor") or {}).get("ID") or event.get("id", "")
            try:
                attrs = self._client.api.inspect_container(container_id)
            except DockerException:
                return
            self.seen.containers.append({
                "id": container_id,
                "name": attrs.get("Name", "").lstrip("/"),
                "image": attrs.get("Image", ""),
                "labels": (attrs.get("Config") or {}).get("Labels") or {},
                "ports": (attrs.get("HostConfig") or {}).get("PortBindings") or {},
            })

    def _known_images(self) -> set[str]:
        """Ids and tags of the run's images seen so far."""
        return {i["id"] for i in self.seen.images.values()} | set(self.seen.images)

    def _note_image(self, reference: str) -> None:
        """Record the run's tags of a container's image. BuildKit (``docker buildx build
        --load``) tags without an event on some engines (20.10): the image is seen when a
        container starts from it."""
        try:
            image = self._client.images.get(reference)
        except DockerException:
            return
        for tag in image.tags:
            if self.run_id in tag:
                self.seen.images.setdefault(tag, {"id": image.id, "labels": image.labels or {}})
