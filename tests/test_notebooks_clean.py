"""Notebooks are stored without outputs or execution counts."""
import json

import pytest

from course import REPO_ROOT

NOTEBOOKS = sorted(p for folder in ("notebooks", "labs", "solutions")
                   for p in (REPO_ROOT / folder).glob("*.ipynb"))


def test_there_are_notebooks():
    assert (REPO_ROOT / "notebooks" / "00_inicio.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_stored_without_outputs(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    dirty = [i for i, c in enumerate(cells) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: celdas con salidas o contador de ejecución: {dirty}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_cell_has_a_unique_id(path):
    """nbformat 4.5 requires cell ids (a cell added by hand without one only warns today)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    ids = [c.get("id") for c in cells]
    missing = [i for i, cell_id in enumerate(ids) if not cell_id]
    assert not missing, f"{path.name}: celdas sin id: {missing}"
    assert len(set(ids)) == len(ids), f"{path.name}: ids de celda repetidos"
