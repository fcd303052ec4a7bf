"""Read a pip lock/constraints file (``name==version`` lines, optionally with an
environment marker) as the set of pins that apply to a given Python, so that it can be
compared with what ``pip freeze`` (or ``importlib.metadata``) reports inside an image."""
from __future__ import annotations

from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name


def canonical(name: str) -> str:
    """PEP 503 normalised name: ``Pydantic_Core`` and ``pydantic-core`` are one package."""
    return canonicalize_name(name)


def pins(text: str, python_full_version: str | None = None) -> dict[str, str]:
    """name -> version for every ``==`` line whose marker holds for that Python version
    (every line when ``python_full_version`` is None). Comments and options are skipped."""
    found = {}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        exact = [s.version for s in requirement.specifier if s.operator == "=="]
        if len(exact) != 1:
            continue
        if requirement.marker and python_full_version is not None:
            major_minor = ".".join(python_full_version.split(".")[:2])
            if not requirement.marker.evaluate({"python_full_version": python_full_version,
                                                "python_version": major_minor}):
                continue
        found[canonical(requirement.name)] = exact[0]
    return found


def read(path: Path, python_full_version: str | None = None) -> dict[str, str]:
    return pins(Path(path).read_text(), python_full_version)
