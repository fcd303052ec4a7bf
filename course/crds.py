"""CustomResourceDefinitions of the field's controllers (Argo CD, Flux, Argo Rollouts,
Flagger, Prometheus Operator), so that the API server validates their objects.

The files come from one place: ``scripts/install_crds.sh`` fetches the releases pinned in
``deploy/crds/sources.txt`` from the Go module proxy into ``<cache>/crds/<group>/``. Here we
only find those files and apply them to a cluster (server-side: the Argo CD ones are too big
for the client-side ``last-applied`` annotation).
"""
from __future__ import annotations

import json
from pathlib import Path

from course import REPO_ROOT, waiting
from course.k8s import CACHE, Cluster, CommandFailed, objects

SOURCES = REPO_ROOT / "deploy" / "crds" / "sources.txt"
DIRECTORY = CACHE / "crds"
HOW_TO = ("`bash scripts/install_crds.sh` descarga una vez las CRD fijadas en "
          "deploy/crds/sources.txt desde el proxy de módulos de Go (necesita Go); con "
          "internet también puedes aplicarlas desde las publicaciones de cada proyecto.")


def sources() -> dict[str, str]:
    """group -> ``module@version`` as pinned in sources.txt."""
    pinned = {}
    for line in SOURCES.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            group, module, *_ = line.split()
            pinned[group] = module
    return pinned


def files(group: str) -> list[Path]:
    return sorted((DIRECTORY / group).glob("*.yaml"))


def missing(*groups: str) -> list[str]:
    """The groups (of those asked, or of all pinned ones) whose files are not installed."""
    return [g for g in (groups or tuple(sources())) if not files(g)]


def crd_names(*groups: str) -> list[str]:
    """The names of the CRDs in the files of ``groups``."""
    return [doc["metadata"]["name"] for g in groups for f in files(g)
            for doc in objects(f.read_text())]


def install(cluster: Cluster, *groups: str, echo: bool = False) -> list[str]:
    """Apply the CRDs of ``groups`` and wait until the API server serves them. Returns the
    CRD names. Idempotent: CRDs are cluster-wide and shared by every run."""
    absent = missing(*groups)
    if absent:
        raise FileNotFoundError(f"Faltan las CRD de {', '.join(absent)}. {HOW_TO}")
    args = [arg for g in groups for f in files(g) for arg in ("-f", str(f))]
    done = cluster.kubectl("apply", "--server-side", "--force-conflicts",
                           "--field-manager=tema15-crds", *args, "-o", "name", echo=echo,
                           check=False)
    if done.returncode == 0:
        names = [line.split("/", 1)[1] for line in done.stdout.split()]
    elif "forbidden" in done.stderr.lower():
        # A credential that may not write cluster-wide objects (the one `curso corregir
        # --aislado` gives a submission): the grader installed them; wait for those.
        names = crd_names(*groups)
    else:
        raise CommandFailed(f"No se pudieron aplicar las CRD: {done.stderr.strip()[-2000:]}", done)
    _wait_established(cluster, names)
    return names


def _wait_established(cluster: Cluster, names: list[str], timeout: float = 60) -> None:
    """Poll until every CRD is Established. (`kubectl wait --for=condition=Established`
    fails at once, instead of waiting, on a CRD created a moment ago whose status has no
    conditions yet.)"""
    pending = list(names)

    def still_pending() -> list[str]:
        out = cluster.kubectl("get", "crd", *pending, "-o", "json", echo=False).stdout
        data = json.loads(out)
        items = data["items"] if "items" in data else [data]  # one name: the object itself
        pending[:] = [item["metadata"]["name"] for item in items
                      if not any(c.get("type") == "Established" and c.get("status") == "True"
                                 for c in (item.get("status") or {}).get("conditions") or [])]
        return pending

    if not pending:
        return
    try:
        waiting.wait_for(still_pending, until=lambda left: not left, timeout=timeout)
    except waiting.NotReady:
        raise waiting.NotReady(f"Las CRD {', '.join(pending)} no quedaron establecidas en "
                               f"{timeout:.0f} s.") from None
