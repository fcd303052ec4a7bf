"""Generate ``labs/`` from ``solutions/``: solution blocks become gaps for the student.

Code: the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` become
``# TU CÓDIGO AQUÍ`` + ``raise NotImplementedError()`` at the marker's indentation.
Markdown: ``<!-- BEGIN SOLUTION -->…<!-- END SOLUTION -->`` becomes ``_Tu respuesta aquí_``.
Outputs and execution counts are cleared. A nested or unclosed marker is an error.

Run: ``python -m grader.assign`` (or ``make labs``) to regenerate ``labs/``.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

from course import REPO_ROOT

CODE_BEGIN, CODE_END = "### BEGIN SOLUTION", "### END SOLUTION"
MD_BEGIN, MD_END = "<!-- BEGIN SOLUTION -->", "<!-- END SOLUTION -->"
CODE_GAP = ("# TU CÓDIGO AQUÍ", "raise NotImplementedError()")
MD_GAP = "_Tu respuesta aquí_"


class AssignError(ValueError):
    """A solution notebook has badly placed markers (Spanish message with the cell)."""


def strip_code(source: str, where: str) -> str:
    out: list[str] = []
    inside = False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == CODE_BEGIN:
            if inside:
                raise AssignError(f"{where}: «{CODE_BEGIN}» anidado.")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + CODE_GAP[0], indent + CODE_GAP[1]]
        elif stripped == CODE_END:
            if not inside:
                raise AssignError(f"{where}: «{CODE_END}» sin su «{CODE_BEGIN}».")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise AssignError(f"{where}: «{CODE_BEGIN}» sin cerrar.")
    return "\n".join(out)


def strip_markdown(source: str, where: str) -> str:
    tokens = re.split(f"({re.escape(MD_BEGIN)}|{re.escape(MD_END)})", source)
    out: list[str] = []
    inside = False
    for token in tokens:
        if token == MD_BEGIN:
            if inside:
                raise AssignError(f"{where}: «{MD_BEGIN}» anidado.")
            inside = True
            out.append(MD_GAP)
        elif token == MD_END:
            if not inside:
                raise AssignError(f"{where}: «{MD_END}» sin su «{MD_BEGIN}».")
            inside = False
        elif not inside:
            out.append(token)
    if inside:
        raise AssignError(f"{where}: «{MD_BEGIN}» sin cerrar.")
    return "".join(out)


def make_lab(solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    lab = nbformat.from_dict(solution)
    for number, cell in enumerate(lab.cells, 1):
        where = f"{name}, celda {number}"
        if cell.cell_type == "code":
            cell.source = strip_code(cell.source, where)
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            cell.source = strip_markdown(cell.source, where)
    return lab


def generate(solutions: Path = REPO_ROOT / "solutions", labs: Path = REPO_ROOT / "labs") -> list[Path]:
    labs.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(solutions.glob("lab[0-9][0-9]_*.ipynb")):
        lab = make_lab(nbformat.read(path, as_version=4), path.name)
        target = labs / path.name
        nbformat.write(lab, target)
        written.append(target)
    return written


if __name__ == "__main__":
    try:
        for target in generate():
            print(f"generado {target.relative_to(REPO_ROOT)}")
    except AssignError as exc:
        sys.exit(f"error: {exc}")
