"""Read a pip lock/constraints file (``name==version`` lines, optionally with an
environment marker) as the set of pins that apply to a given Python, so that it can be
compared with what ``pip freeze`` (or ``importlib.metadata``) reports inside an image."""
from __future__ import annotations

import re
from pathlib import Path

from packaging.markers import Marker

PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9_.\-]*)\s*==\s*([^\s;]+)\s*(?:;\s*(.+))?$")


def canonical(name: str) -> str:
    """PEP 503 normalised name: ``Pydantic_Core`` and ``pydantic-core`` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str, python_full_version: str | None = None) -> dict[str, str]:
    """name -> version for every pinned line whose marker holds for that Python version
    (every line when ``python_full_version`` is None). Comments and options are skipped."""
    found = {}
    for line in text.splitlines():
        match = PIN.match(line.split(" #", 1)[0])
        if not match or line.lstrip().startswith("#"):
            continue
        name, version, marker = match.groups()
        if marker and python_full_version is not None:
            major_minor = ".".join(python_full_version.split(".")[:2])
            if not Marker(marker).evaluate({"python_full_version": python_full_version,
                                            "python_version": major_minor}):
                continue
        found[canonical(name)] = version
    return found


def read(path: Path, python_full_version: str | None = None) -> dict[str, str]:
    return pins(Path(path).read_text(), python_full_version)
