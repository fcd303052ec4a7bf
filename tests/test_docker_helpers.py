"""course.docker: readable build errors, layer tables, health waits and cleanup by run."""
import pytest

from course import docker as cdocker
from course import imagebuild
from course import images


@pytest.fixture(scope="module")
def base(docker_client):
    return images.ensure("debian")


def test_a_failed_sdk_build_leaves_no_intermediate_container(base, docker_client):
    """A student's own ``client.images.build(...)`` (15.1) that fails: its intermediate
    container has no run label, so no cleanup could find it; it must not be left."""
    import io

    from docker.errors import BuildError

    # A step of its own: another test's failing build may have its container alive right now.
    step = f"exit 3 # {cdocker.new_run_id()}"
    with pytest.raises(BuildError):
        docker_client.images.build(fileobj=io.BytesIO(f"FROM {base}\nRUN {step}\n".encode()))
    # The low-level list: the high-level one inspects each container, and another test's
    # intermediate container may vanish in between (NotFound).
    left = [c["Id"] for c in docker_client.api.containers(all=True, filters={"ancestor": base})
            if step in c.get("Command", "")]
    assert left == []


def test_build_failure_names_the_step(base, run_id, tmp_path):
    (tmp_path / "Dockerfile").write_text(f"FROM {base}\nRUN echo antes\nRUN exit 3\n")
    with pytest.raises(imagebuild.BuildFailed) as err:
        imagebuild.build(tmp_path, f"{run_id}-roto:1", run=run_id, quiet=True)
    message = str(err.value)
    assert "falló en «RUN exit 3»" in message
    assert "últimas líneas" in message and "returned a non-zero code: 3" in message


def test_build_report_and_layers(base, run_id, tmp_path, capsys):
    (tmp_path / "Dockerfile").write_text(f"FROM {base}\nRUN head -c 3000000 /dev/zero > /relleno\n")
    report = imagebuild.build(tmp_path, f"{run_id}-capas:1", run=run_id, quiet=True)
    assert report.steps >= 2 and report.seconds > 0
    assert report.image.labels[cdocker.RUN_LABEL] == run_id
    sizes = dict(imagebuild.layers(report.image))
    assert any("relleno" in k and 2.9e6 < v < 3.2e6 for k, v in sizes.items())
    again = imagebuild.build(tmp_path, f"{run_id}-capas:1", run=run_id, quiet=True)
    assert again.cached_steps >= 1  # the RUN layer comes from cache
    imagebuild.show_layers(report.image)
    assert "relleno" in capsys.readouterr().out


def test_unhealthy_container_is_explained_and_removed(docker_client, base, run_id, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base}\nHEALTHCHECK --interval=1s --timeout=1s --retries=1 CMD false\n"
        'CMD ["sh", "-c", "echo arrancando; sleep 60"]\n')
    report = imagebuild.build(tmp_path, f"{run_id}-enfermo:1", run=run_id, quiet=True)
    with pytest.raises(cdocker.NotHealthy, match="(?s)no quedó sano.*arrancando"):
        cdocker.run_until_healthy(report.image.id, suffix="enfermo", run=run_id, timeout=6)
    assert not docker_client.containers.list(all=True, ignore_removed=True, filters={"name": f"{run_id}-enfermo"})


def test_cleanup_removes_only_its_run(docker_client, base):
    with cdocker.run_scope() as mine, cdocker.run_scope() as other:
        for rid in (mine, other):
            docker_client.containers.run(base, "sleep 60", detach=True,
                                         name=cdocker.name("c", rid), labels=cdocker.labels(rid))
            docker_client.networks.create(cdocker.name("red", rid), labels=cdocker.labels(rid))
            docker_client.volumes.create(cdocker.name("vol", rid), labels=cdocker.labels(rid))
        removed = cdocker.cleanup(mine, quiet=True)
        assert removed == {"contenedores": 1, "redes": 1, "volúmenes": 1, "imágenes": 0}
        left = docker_client.containers.list(all=True, ignore_removed=True, filters={"label": f"{cdocker.RUN_LABEL}={other}"})
        assert [c.name for c in left] == [cdocker.name("c", other)]


def test_cleanup_tolerates_a_container_removed_by_someone_else_meanwhile(docker_client, base,
                                                                        monkeypatch):
    """Parallel gradings: another cleanup removes a container between this cleanup's list
    and its inspect (seen in CI as NotFound from ``containers.list``)."""
    with cdocker.run_scope() as run:
        made = [docker_client.containers.run(base, "sleep 60", detach=True, labels=cdocker.labels(run),
                                             name=cdocker.name(f"c{i}", run)) for i in (1, 2)]
        inspect = docker_client.api.inspect_container

        def removed_by_another_cleanup(container_id, *args, **kwargs):
            if container_id == made[0].id:
                made[0].remove(force=True)
            return inspect(container_id, *args, **kwargs)

        monkeypatch.setattr(cdocker.client().api, "inspect_container", removed_by_another_cleanup)
        removed = cdocker.cleanup(run, quiet=True)
        monkeypatch.undo()
        assert removed["contenedores"] == 1
        assert not docker_client.api.containers(all=True, filters={"label": f"{cdocker.RUN_LABEL}={run}"})


def test_cleanup_removes_compose_project_of_the_run(docker_client):
    with cdocker.run_scope() as run:
        compose = {cdocker.COMPOSE_PROJECT: run}
        docker_client.networks.create(f"{run}_default", labels=compose)
        docker_client.volumes.create(f"{run}_datos", labels=compose)
        removed = cdocker.cleanup(run, quiet=True)
        assert removed["redes"] == 1 and removed["volúmenes"] == 1


def test_dockerfile_parsing_writes_nothing_to_disk(tmp_path, monkeypatch):
    from course import dockerfile as cdockerfile

    monkeypatch.chdir(tmp_path)
    stages = cdockerfile.stages("ARG V=3.11.13\nFROM python:${V}-slim AS b\nFROM b\nUSER 1001\n")
    assert [s["base"] for s in stages][0] == "python:3.11.13-slim"
    assert list(tmp_path.iterdir()) == []


def test_cleanup_waits_for_other_builds_only_when_it_removes_classic_images(base, tmp_path):
    """Removing an image of the classic builder also deletes its untagged parents, which a
    build of another run may be using: that cleanup waits for the builds in progress (the
    build lock). A BuildKit image has no parent: its cleanup does not wait (in CI it used to
    wait for the pipelines of other tests, which held the lock for minutes)."""
    import threading

    from course import buildkit

    if not buildkit.available():
        pytest.skip("sin BuildKit (docker buildx)")

    def cleanup_finishes_during_a_build(run: str) -> bool:
        """Whether cleanup(run) finished while the lock was held shared, as by a build."""
        done = threading.Event()
        with cdocker.build_lock(exclusive=False):
            worker = threading.Thread(target=lambda: (cdocker.cleanup(run, quiet=True), done.set()))
            worker.start()
            finished = done.wait(timeout=20)
        worker.join(timeout=120)
        assert done.is_set(), "la limpieza no terminó tras liberar el cerrojo"
        return finished

    with cdocker.run_scope() as modern_run, cdocker.run_scope() as classic_run:
        (tmp_path / "Dockerfile").write_text(f"FROM {base}\nRUN echo {modern_run} > /marca\n")
        modern = buildkit.build(tmp_path, f"{modern_run}-moderna:1", run=modern_run)
        classic = imagebuild.build(tmp_path, f"{classic_run}-clasica:1", run=classic_run, quiet=True)
        assert not modern.image.attrs.get("Parent") and classic.image.attrs.get("Parent")

        assert cleanup_finishes_during_a_build(modern_run) is True
        assert cleanup_finishes_during_a_build(classic_run) is False
        for report in (modern, classic):
            assert not cdocker.list_images(cdocker.client(), filters={"reference": report.tag})


def test_cleanup_never_sweeps_a_stage_image_that_appeared_after_it_looked(docker_client,
                                                                         monkeypatch):
    """No untagged image when the cleanup decides whether to take the build lock; one
    appears right after (a step of another run's classic build): it is left alone."""
    seen = iter([[], ["sha256:de-otra-construccion"]])
    monkeypatch.setattr(cdocker, "_stage_images", lambda c, since: next(seen, []))
    swept = []
    real = cdocker._remove_images
    monkeypatch.setattr(cdocker, "_remove_images",
                        lambda c, images, removed, **kw: (swept.extend(images),
                                                          real(c, images, removed, **kw)))
    cdocker.cleanup(cdocker.new_run_id(), quiet=True, since=0)
    assert "sha256:de-otra-construccion" not in swept


def test_compose_errors_end_with_the_error_not_with_the_build_log():
    """Compose prints the build's progress on stdout and its error on stderr: the message
    keeps the error (and says when the cause is a port taken meanwhile)."""
    import subprocess

    from course import compose

    build = "".join(f"#{n} DONE 0.0s\n" for n in range(60))
    error = ("Error response from daemon: driver failed programming external connectivity on "
             "endpoint p-api-1: Error starting userland proxy: listen tcp4 0.0.0.0:24567: bind: "
             "address already in use\n")
    done = subprocess.CompletedProcess([], 1, stdout=build, stderr=" Container p-api-1 Starting\n" + error)
    failure = compose.ComposeError(compose._explain(["up", "-d"], done))
    assert str(failure).rstrip().endswith("address already in use")
    assert compose.port_taken(failure, 24567)
    assert not compose.port_taken(failure, 8000)

