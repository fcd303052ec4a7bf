"""The three dependency lists agree: pyproject, environment.yml (and Binder's copy),
and the service's own requirements."""
import platform
import subprocess
import sys
import re
import tomllib

import yaml

from course import REPO_ROOT, lockfile


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", line)
        assert match, f"dependencia sin fijar con ==: {line!r}"
        name = re.sub(r"\[.*\]", "", match[1]).lower().replace("_", "-")
        pins[name] = match[2]
    return pins


def _pyproject():
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


def _conda_pip(path):
    deps = yaml.safe_load(path.read_text())["dependencies"]
    return next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)


def test_pyproject_dependencies_are_pinned():
    project = _pyproject()
    _pins(project["dependencies"])
    for group in project["optional-dependencies"].values():
        _pins(group)


def test_environment_yml_matches_pyproject():
    assert _pins(_conda_pip(REPO_ROOT / "environment.yml")) == _pins(_pyproject()["dependencies"])


def test_binder_environment_is_the_same_file():
    assert (REPO_ROOT / "binder" / "environment.yml").read_text() == \
        (REPO_ROOT / "environment.yml").read_text()


def test_service_requirements_are_in_pyproject():
    service = _pins((REPO_ROOT / "service" / "requirements.txt").read_text().splitlines())
    project = _pins(_pyproject()["dependencies"])
    assert {k: project.get(k) for k in service} == service


def test_constraints_cover_direct_dependencies():
    constraints = _pins((REPO_ROOT / "requirements" / "constraints.txt").read_text().splitlines())
    project = _pyproject()
    direct = _pins(project["dependencies"] + project["optional-dependencies"]["dev"])
    assert {k: constraints.get(k) for k in direct} == direct


def test_service_lock_covers_requirements_and_matches_the_course_environment():
    lock_path = REPO_ROOT / "service" / "requirements.lock"
    direct = _pins((REPO_ROOT / "service" / "requirements.txt").read_text().splitlines())
    lock = lockfile.read(lock_path)
    # Every direct dependency is locked at its own pin, and the lock adds the transitive ones.
    assert {k: lock.get(k) for k in direct} == direct and len(lock) > len(direct)
    # The notebooks (course environment, this Python) and the service image run the same
    # versions of what applies to this Python.
    constraints = _pins((REPO_ROOT / "requirements" / "constraints.txt").read_text().splitlines())
    here = lockfile.read(lock_path, platform.python_version())
    assert {k: constraints.get(k) for k in here} == here


def test_service_dockerfile_installs_constrained_by_the_lock():
    dockerfile = (REPO_ROOT / "service" / "Dockerfile").read_text()
    assert re.search(r"COPY [^\n]*requirements\.lock", dockerfile)
    assert re.search(r"pip install [^\n]*-c /tmp/requirements\.lock", dockerfile)


def test_importing_jsonschema_compiles_no_iri_grammars():
    """`make setup` removes rfc3987-syntax: with it, every process that imports jsonschema
    (curso, nbformat, check-jsonschema) spends 1–2 s compiling Lark grammars."""
    probe = "import sys, jsonschema; print('rfc3987_syntax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "rfc3987-syntax sigue instalado: ejecuta `make setup`"
