"""Shared fixtures: a Docker engine when present (skip with the reason when not, fail
in CI), a run id whose resources are removed after each test module, the course's
cluster shared by every xdist worker, and the end-of-session check that no test left
anything behind."""
from __future__ import annotations

import contextlib
import os
import uuid

import pytest

from course import cleanup, env, k8s
from tests import timeline

# Written when a test session (any worker) created the course's cluster: the controller
# deletes it when the whole session ends, never a worker that finished early.
CLUSTER_CREATED_BY_TESTS = k8s.CACHE / "cluster-creado-por-las-pruebas"
SESSION_ENV = "TEMA15_SESION_PRUEBAS"       # this test session's id (workers inherit it)
_BEFORE = pytest.StashKey[dict]()          # what the course had left before the session
_NESTED = pytest.StashKey[bool]()          # a session started from inside another one


@contextlib.contextmanager
def machine_lock(name: str):
    """One holder at a time across the xdist workers (a file lock in the cache)."""
    from course import docker as cdocker  # the docker SDK: only where a lock is taken

    k8s.CACHE.mkdir(parents=True, exist_ok=True)
    with cdocker.file_lock(k8s.CACHE / f"{name}.lock"):
        yield


def _is_controller(config) -> bool:
    return not hasattr(config, "workerinput")  # xdist workers have it; a plain run does not


def pytest_configure(config):
    config.pluginmanager.register(timeline, "tema15-cronologia")
    if _is_controller(config):
        # A session started by a test of another session (act running the CI workflow,
        # 15.5) shares the machine with that session's other workers: only the outermost
        # one checks for leftovers.
        config.stash[_NESTED] = bool(os.environ.get(SESSION_ENV) or os.environ.get("ACT"))
        # Inherited by this session's xdist workers (spawned later), not shared with an
        # outer session that started this one: the cluster mark names its session.
        os.environ[SESSION_ENV] = uuid.uuid4().hex
        timeline.reset(nested=config.stash[_NESTED])


# A test is end to end (marker "slow") if it needs the engine or the cluster, or sits in a
# module whose tests run notebooks, graders or stores; the fast subset (`make test-rapido`,
# `pytest -m "not slow"`) is the rest: pure functions, files, static checks.
SLOW_FIXTURES = {"docker_client", "k8s_cluster", "gitops_cluster", "run_id"}
SLOW_MODULES = {"test_notebooks", "test_logstore", "test_grader_batch", "test_grader_robustness",
                "test_lab_command", "test_grader_lab09"}


# Longest first. `make test` runs xdist with --maxschedchunk 1: each worker holds two tests
# and gets the next one when it finishes one, so with the long end-to-end tests first the
# run ends on short ones. Before (default chunks, alphabetical order) the notebooks, collected
# late, left one worker running alone for the last 170 s (session 16's CI-like run). The
# order is their measured length there, longest first; an item takes the rank of the first
# pattern its id contains, and the rest keep their order after these.
LONG_FIRST = ("test_grader_lab05.py::test_solution_scores",           # 241 s
              "[05_ci_cd-con-motor]",                                 # 189
              "test_grader_lab05.py::test_typical_mistakes",          # 240
              "[01_dockerfiles_eficientes-con-motor]",                # 188
              "[10_rollout_rollback-con-motor]",                      # 168
              "test_grader_lab05.py::test_valid_alternative",         # 132
              "[04_kubernetes_helm_kustomize-con-motor]",             # 128
              "test_grader_isolated_cluster.py::test_cluster_lab_scores",  # 127
              "test_grader_lab10.py::test_solution_scores",           # 99
              "test_grader_lab10.py::test_lenient",                   # 98
              "[10_rollout_rollback-sin-motor]",                      # 87
              "[03_compose_local-con-motor]",                         # 82
              "test_grader_isolated.py::test_lab01_solution",         # 68
              "::test_solution_scores",                               # every lab's, 20–72
              "test_notebooks.py::test_notebook_runs",                # the other runs, 10–65
              "test_grader_lab10.py::",
              "test_grader_lab03.py::test_checks_with_side_effects")


def _rank(item) -> int:
    return next((n for n, key in enumerate(LONG_FIRST) if key in item.nodeid), len(LONG_FIRST))


def _parallel(config) -> bool:
    """Several xdist workers share this tree (the controller knows ``-n``; a worker is told)."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers is not None:
        return int(workers) > 1
    numprocesses = getattr(config.option, "numprocesses", None)
    return bool(numprocesses) and numprocesses not in (0, 1)


def pytest_collection_modifyitems(config, items):
    items.sort(key=_rank)  # stable: the same order in every worker, as xdist requires
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        if (SLOW_FIXTURES & set(item.fixturenames) or module in SLOW_MODULES
                or any(m.name == "slow" for m in item.iter_markers())):
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("alone") and _parallel(config):
            # The grader's integrity check compares the shared tree before and after each
            # notebook: a submission that tampers with it on purpose would make a grading
            # running at the same moment in another worker look tampered too. The tests that
            # delete and recreate a local control plane were disturbed in parallel too.
            item.add_marker(pytest.mark.skip(reason=(
                "necesita la máquina para ella sola: se corre sola, después de las demás "
                "(`make test` la lanza con -m alone)")))


def pytest_sessionstart(session):
    if _is_controller(session.config) and not session.config.stash.get(_NESTED, False):
        session.config.stash[_BEFORE] = cleanup.leftovers()


def pytest_sessionfinish(session, exitstatus):
    """Nothing labelled tema15.run or named t15-…, no course process or namespace may
    outlive the tests (what was there before the session is not counted). Replaces a
    test file that had to sort last, which parallel runs cannot promise."""
    config = session.config
    if not _is_controller(config) or _BEFORE not in config.stash or config.option.collectonly:
        return
    before = config.stash[_BEFORE]
    left = {kind: [n for n in names if n not in before.get(kind, [])]
            for kind, names in cleanup.leftovers(wait=60).items()}
    left = {kind: names for kind, names in left.items() if names}
    if _created_by_this_session():
        k8s.delete(progress=False)
        CLUSTER_CREATED_BY_TESTS.unlink(missing_ok=True)
    if left:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        text = "Las pruebas dejaron recursos del curso sin limpiar:\n" + cleanup.describe(left)
        if reporter:
            reporter.write_line(text, red=True, bold=True)
        else:
            print(text)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _created_by_this_session() -> bool:
    try:
        return CLUSTER_CREATED_BY_TESTS.read_text().strip() == os.environ.get(SESSION_ENV)
    except OSError:
        return False


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
    (or kind) started for this test session, created by the first worker that needs it
    and deleted when the whole session ends. Skipped with the reason when none can be
    had; a failure in CI (TEMA15_REQUIERE_CLUSTER)."""
    with machine_lock("cluster"):
        cluster = k8s.find()
        if cluster is None and k8s.can_create():
            # No owner: a test that cleans up every run ("*") must not delete it midway.
            cluster = k8s.create(progress=False)
            CLUSTER_CREATED_BY_TESTS.write_text(os.environ.get(SESSION_ENV, "") + "\n")
    if cluster is None:
        reason = f"sin clúster Kubernetes ({k8s.why_none()})"
        if os.environ.get("TEMA15_REQUIERE_CLUSTER"):
            pytest.fail(f"TEMA15_REQUIERE_CLUSTER está activo pero hay {reason}")
        pytest.skip(reason)
    env.refresh()
    return cluster


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
    with machine_lock("crds"):
        crds.install(k8s_cluster, "argo-cd")
    return k8s_cluster


@pytest.fixture
def without(monkeypatch):
    """``without("cluster", "docker")``: grade as if those capabilities were missing
    (their checks are skipped), e.g. to test the static checks quickly."""
    def hide(*keys: str) -> None:
        if "cluster" in keys:  # static mode: nothing finds or creates a cluster
            monkeypatch.setenv(k8s.MODE_ENV, "ninguno")
        for key in keys:  # env.refresh() keeps hiding them
            cap = env.get(key)
            monkeypatch.setitem(env.overrides, key, env.Capability(
                cap.key, cap.name, False, "oculto por la prueba", cap.how_to))
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



def assert_full_marks(result, lab: str, min_checks: int) -> None:
    """The solution of ``lab``: clean run, every check verifiable and passed, and the
    JSON and JUnit renderings agree."""
    import json
    import xml.etree.ElementTree as ET

    assert result.execution.status == "ok", result.execution.message
    assert result.score == 1.0, result.to_markdown()
    assert result.success
    assert len(result.checks) >= min_checks
    # everything verifiable here: name what was not, and why
    assert result.verifiable_points == result.total_points, "\n".join(
        f"{c.id}: {c.status} — {c.message}" for c in result.checks if c.status != "passed")
    data = json.loads(result.to_json())
    assert data["puntuacion"] == 1.0 and data["lab"] == lab
    suite = ET.fromstring(result.to_junit())
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
