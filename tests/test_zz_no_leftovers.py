"""Runs last (file order): nothing labelled tema15.run may survive the suite."""
from course.docker import RUN_LABEL


def test_nothing_labelled_remains(docker_client):
    flt = {"label": RUN_LABEL}
    left = {
        "contenedores": [c.name for c in docker_client.containers.list(all=True, filters=flt)],
        "redes": [n.name for n in docker_client.networks.list(filters=flt)],
        "volúmenes": [v.name for v in docker_client.volumes.list(filters=flt)],
        "imágenes": [i.id[:19] for i in docker_client.images.list(all=True, filters=flt)],
    }
    assert not any(left.values()), f"recursos sin limpiar: {left}"
