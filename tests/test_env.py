"""Capability detection, ``require`` and the ``%%requires`` cell magic."""
import pytest
from IPython.testing.globalipapp import start_ipython

from course import env
from course.env import Capability


@pytest.fixture
def fake_caps(monkeypatch):
    caps = {"docker": Capability("docker", "Motor Docker", False, "no responde", "Instala Docker"),
            "kind": Capability("kind", "kind", True, "kind v0.30", "")}
    for key, cap in caps.items():
        monkeypatch.setitem(env.overrides, key, cap)
    return caps


def test_require_explains_what_is_missing(fake_caps):
    env.require("kind")
    with pytest.raises(env.CapabilityMissing, match="Motor Docker: no responde.*Instala Docker"):
        env.require("kind", "docker")


def test_unknown_capability_is_a_clear_error(fake_caps):
    with pytest.raises(KeyError, match="Capacidad desconocida"):
        env.has("kubernetes")


def test_real_detection_lists_every_capability():
    caps = env.refresh()
    assert set(caps) == {"docker", "compose", "buildx", "kind", "kubectl", "cluster", "pods",
                         "helm", "kwok", "crds", "git", "prometheus", "logs", "registro", "binder",
                         "act", "gitlabci", "actionlint", "haproxy", "alertmanager"}
    assert all(c.detail for c in caps.values())
    assert all(c.how_to for c in caps.values() if not c.available and c.key != "binder")


def test_asking_one_capability_probes_only_that_one(monkeypatch):
    """A process that only needs to know about the engine (the grader's cleanup, a kernel)
    does not pay for the other probes; cluster and pods share one."""
    monkeypatch.setattr(env, "_detected", {})
    calls = []
    monkeypatch.setitem(env.DETECTORS, "kind", lambda: calls.append("kind"))
    env.get("binder")
    assert set(env._detected) == {"binder"} and calls == []
    env.get("pods")
    assert set(env._detected) == {"binder", "cluster", "pods"}


def test_no_engine_is_detected(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/tema15/docker.sock")
    try:
        assert env.refresh()["docker"].available is False
        assert "no responde" in env.get("docker").detail
    finally:
        monkeypatch.undo()
        env.refresh()


@pytest.fixture(scope="module")
def ip():
    shell = start_ipython()
    shell.run_line_magic("load_ext", "course")
    return shell


def test_magic_skips_cell_with_reason(ip, fake_caps, capsys):
    ip.user_ns["ran"] = False
    ip.run_cell_magic("requires", "docker", "ran = True")
    assert ip.user_ns["ran"] is False
    out = capsys.readouterr().out
    assert "Celda omitida" in out and "Motor Docker" in out


def test_magic_runs_cell_when_present(ip, fake_caps):
    ip.user_ns["ran"] = False
    ip.run_cell_magic("requires", "kind", "ran = True")
    assert ip.user_ns["ran"] is True


def test_magic_propagates_cell_errors(ip, fake_caps):
    from course.magics import CellFailed

    with pytest.raises(CellFailed, match="ZeroDivisionError"):
        ip.run_cell_magic("requires", "kind", "1 / 0")


def test_magic_rejects_unknown_capability(ip, fake_caps):
    with pytest.raises(ValueError, match="capacidad desconocida"):
        ip.run_cell_magic("requires", "kubernetes", "pass")


def test_alertmanager_capability_names_the_missing_binaries(monkeypatch):
    """15.10's alert-driven rollback needs the four binaries; the detail says which lack."""
    from course import promstack

    monkeypatch.setattr(promstack, "binary", lambda name: None if name == "amtool" else f"/usr/bin/{name}")
    cap = env._alertmanager()
    assert not cap.available and cap.detail == "faltan los binarios amtool"
    assert "prometheus-alertmanager" in cap.how_to
