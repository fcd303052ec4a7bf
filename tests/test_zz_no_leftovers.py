"""Runs last (file order): nothing labelled tema15.run or named t15-… may survive."""
import time

from course import k8s, processes
from course.docker import NAME_PREFIX, RUN_LABEL


def test_no_local_process_remains():
    assert processes.leftovers("*") == [], "procesos del curso sin detener"


def test_nothing_labelled_remains(docker_client):
    flt = {"label": RUN_LABEL}
    left = {
        "contenedores": [c.name for c in docker_client.containers.list(all=True, filters=flt)],
        "redes": [n.name for n in docker_client.networks.list(filters=flt)],
        "volúmenes": [v.name for v in docker_client.volumes.list(filters=flt)],
        "imágenes": [i.id[:19] for i in docker_client.images.list(all=True, filters=flt)],
        "imágenes con nombre t15-": [t for i in docker_client.images.list(
            filters={"reference": f"{NAME_PREFIX}*"}) for t in i.tags],
        "contenedores con nombre t15-": [c.name for c in docker_client.containers.list(
            all=True, filters={"name": f"^{NAME_PREFIX}"})],
    }
    assert not any(left.values()), f"recursos sin limpiar: {left}"


def test_no_course_namespace_remains():
    cluster = k8s.find()
    if cluster is None:
        return  # no cluster: nothing can remain in one
    deadline = time.monotonic() + 60  # deletion is asynchronous (pods first)
    while cluster.namespaces() and time.monotonic() < deadline:
        time.sleep(1)
    assert cluster.namespaces() == [], "espacios de nombres del curso sin borrar"
