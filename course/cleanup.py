"""One cleanup entry point for a run, and one list of what a run left behind.

A run (a notebook, a grading, a test) may leave local processes, Kubernetes namespaces
and cluster-wide RBAC objects (and the cluster, if the run created it), throwaway
pipeline repositories in the temp directory, and Docker objects (containers, networks,
volumes, images, Compose projects).
``run(run_id)`` removes all of them; ``leftovers()`` lists what is still there. The
grader, ``curso limpiar``, the notebook tests and the end of the test session use these
two functions, so a new kind of resource is added here once.
"""
from __future__ import annotations


from course import show, waiting

# What leftovers() reports, in the order users read it.
KINDS = ("procesos", "espacios de nombres", "permisos del clúster", "contenedores", "redes",
         "volúmenes", "imágenes")


def run(run_id: str, *, since: float | None = None, quiet: bool = True) -> None:
    """Remove everything of ``run_id`` ("*": every course run). Never raises for a
    resource that is already gone; meant for ``finally`` blocks. ``since`` (Unix time):
    also the untagged images built after it (see ``course.docker.cleanup``)."""
    from course import docker as cdocker
    from course import env, k8s, pipelines, processes

    stopped = processes.cleanup(run_id)
    if not quiet:
        show.info(f"Procesos locales del curso detenidos: {stopped}.")
    k8s.cleanup(run_id, quiet=quiet)
    if run_id != "*":
        pipelines.cleanup(run_id)
    if env.has("docker"):
        cdocker.cleanup(run_id, quiet=quiet, since=since)
    elif not quiet:
        show.skipped("Sin motor Docker no hay contenedores que borrar "
                     f"({env.get('docker').detail}).")


def leftovers(*, wait: float = 0) -> dict[str, list[str]]:
    """What any course run left: {kind: [names]}, only the kinds with something.
    Namespaces are deleted asynchronously: ``wait`` seconds are given to them."""
    from course import docker as cdocker
    from course import env, k8s, processes

    found: dict[str, list[str]] = {"procesos": [str(p) for p in processes.leftovers("*")]}
    cluster = k8s.find()
    if cluster is not None:
        try:
            waiting.wait_for(cluster.namespaces, until=lambda names: not names, timeout=wait,
                             interval=1)
        except waiting.NotReady:
            pass  # still there: reported below
        found["espacios de nombres"] = cluster.namespaces()
        found["permisos del clúster"] = cluster.cluster_roles()
    if env.has("docker"):
        found.update(_docker_leftovers(cdocker))
    return {kind: sorted(set(names)) for kind, names in found.items() if names}


def _docker_leftovers(cdocker) -> dict[str, list[str]]:
    c = cdocker.client()
    labelled = {"label": cdocker.RUN_LABEL}
    named = f"{cdocker.NAME_PREFIX}*"
    return {
        "contenedores": [x.name for x in c.containers.list(all=True, ignore_removed=True, filters=labelled)]
        + [x.name for x in c.containers.list(all=True, ignore_removed=True, filters={"name": f"^{cdocker.NAME_PREFIX}"})],
        "redes": [x.name for x in c.networks.list(filters=labelled)],
        "volúmenes": [x.name for x in c.volumes.list(filters=labelled)],
        "imágenes": [x.id[:19] for x in cdocker.list_images(c, all=True, filters=labelled)]
        + [t for x in cdocker.list_images(c, filters={"reference": named}) for t in x.tags],
    }


def describe(left: dict[str, list[str]]) -> str:
    """One Spanish line per kind, e.g. for the end of a test session."""
    return "\n".join(f"  {kind}: {', '.join(left[kind][:10])}"
                     + (f" y {len(left[kind]) - 10} más" if len(left[kind]) > 10 else "")
                     for kind in KINDS if kind in left)
