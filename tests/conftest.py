"""Shared fixtures: a Docker engine when present (skip with the reason when not, fail
in CI), a run id whose resources are removed after each test module."""
from __future__ import annotations

import os
import socket

import pytest

from course import env


def engine_or_skip() -> None:
    if env.has("docker"):
        return
    reason = f"sin motor Docker ({env.get('docker').detail})"
    if os.environ.get("TEMA15_REQUIERE_DOCKER"):
        pytest.fail(f"TEMA15_REQUIERE_DOCKER está activo pero hay {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def k8s_cluster():
    """The Kubernetes cluster of the course: the one in use, or the local control plane
    (or kind) started for this test session and deleted at its end. Skipped with the
    reason when none can be had; a failure in CI (TEMA15_REQUIERE_CLUSTER)."""
    from course import k8s

    cluster, created = k8s.find(), False
    if cluster is None and k8s.can_create():
        # No owner: a test that cleans up every run ("*") must not delete it midway.
        cluster, created = k8s.create(progress=False), True
    if cluster is None:
        reason = f"sin clúster Kubernetes ({k8s.why_none()})"
        if os.environ.get("TEMA15_REQUIERE_CLUSTER"):
            pytest.fail(f"TEMA15_REQUIERE_CLUSTER está activo pero hay {reason}")
        pytest.skip(reason)
    env.refresh()
    yield cluster
    if created:
        k8s.delete(progress=False)


@pytest.fixture(scope="session")
def gitops_cluster(k8s_cluster):
    """The course's cluster with Argo CD's CRDs applied, and git's daemon at hand: what
    15.6 needs. Skipped with the reason when missing; a failure in CI."""
    from course import crds, gitserver

    reason = gitserver.available() or (
        f"faltan las CRD de {', '.join(crds.missing('argo-cd'))}. {crds.HOW_TO}" if crds.missing("argo-cd") else None)
    if reason:
        if os.environ.get("TEMA15_REQUIERE_CLUSTER"):
            pytest.fail(f"TEMA15_REQUIERE_CLUSTER está activo pero {reason}")
        pytest.skip(reason)
    crds.install(k8s_cluster, "argo-cd")
    return k8s_cluster


@pytest.fixture
def without(monkeypatch):
    """``without("cluster", "docker")``: grade as if those capabilities were missing
    (their checks are skipped), e.g. to test the static checks quickly."""
    def hide(*keys: str) -> None:
        real = env.detect

        def detect():
            caps = dict(real())
            for key in keys:
                cap = caps[key]
                caps[key] = env.Capability(cap.key, cap.name, False, "oculto por la prueba",
                                           cap.how_to)
            return caps
        detect.cache_clear = real.cache_clear  # env.refresh() keeps hiding them
        monkeypatch.setattr(env, "detect", detect)
    return hide


@pytest.fixture
def graded_as_on_binder(monkeypatch):
    """For labs that create nothing in Docker (lab07): grade as on Binder (no engine), so
    the grader skips its Docker cleanup, which has nothing to remove there and would only
    make these tests depend on other runs' images."""
    real = env.has
    monkeypatch.setattr(env, "has", lambda key: False if key == "docker" else real(key))


@pytest.fixture(scope="session")
def docker_client():
    engine_or_skip()
    from course import docker as cdocker

    return cdocker.client()


@pytest.fixture(scope="module")
def run_id(docker_client):
    """A fresh run id per module; everything labelled with it is removed afterwards."""
    from course import docker as cdocker

    with cdocker.run_scope() as rid:
        yield rid


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_full_marks(result, lab: str, min_checks: int) -> None:
    """The solution of ``lab``: clean run, every check verifiable and passed, and the
    JSON and JUnit renderings agree."""
    import json
    import xml.etree.ElementTree as ET

    assert result.execution.status == "ok", result.execution.message
    assert result.score == 1.0, result.to_markdown()
    assert result.success
    assert len(result.checks) >= min_checks
    assert result.verifiable_points == result.total_points  # everything verifiable here
    data = json.loads(result.to_json())
    assert data["puntuacion"] == 1.0 and data["lab"] == lab
    suite = ET.fromstring(result.to_junit())
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
