"""The ``before_execution`` hook of the labs that need a Kubernetes cluster."""
from __future__ import annotations

from pathlib import Path

from course import k8s, show


def grader_owner(run_id: str) -> str:
    """The owner of a cluster created for a grading. Not the run id itself: the notebook
    runs with that id, and its own cleanup (``k8s.cleanup(run)``) would delete the cluster
    before the checks read it."""
    return f"{run_id}-corrector"


def ensure_cluster(workdir: Path, run_id: str) -> dict:
    """A cluster for the notebook and the checks: the one in use, or one created for this
    grading (``delete_created_cluster`` deletes it again). Without one, the cluster checks
    are skipped with the reason; the rest still runs."""
    try:
        k8s.ensure(grader_owner(run_id))
    except (k8s.ClusterUnavailable, k8s.CommandFailed) as exc:
        show.warn(f"Sin clúster para esta corrección: {exc}")
    return {}


def delete_created_cluster(run_id: str) -> None:
    """Delete the cluster ``ensure_cluster`` created for this grading, if it did (never raises)."""
    k8s.delete_if_created_by(grader_owner(run_id))
