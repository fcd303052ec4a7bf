"""Lab generation: labs/ is exactly what grader.assign makes from solutions/."""
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course import REPO_ROOT
from grader import assign


def test_labs_are_generated_from_solutions(tmp_path):
    written = assign.generate(REPO_ROOT / "solutions", tmp_path)
    assert written, "no hay soluciones"
    for path in written:
        committed = REPO_ROOT / "labs" / path.name
        assert committed.exists(), f"falta labs/{path.name}: ejecuta `make labs`"
        assert committed.read_text() == path.read_text(), \
            f"labs/{path.name} no coincide con su solución: ejecuta `make labs` (no lo edites a mano)"
    assert {p.name for p in (REPO_ROOT / "labs").glob("*.ipynb")} == {p.name for p in written}


def test_code_gap_keeps_indentation():
    source = "def f():\n    x = 1\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n"
    assert assign.strip_code(source, "t") == (
        "def f():\n    x = 1\n    # TU CÓDIGO AQUÍ\n    raise NotImplementedError()")


def test_markdown_gap():
    text = "Respuesta: <!-- BEGIN SOLUTION -->ENV no se hereda<!-- END SOLUTION --> fin"
    assert assign.strip_markdown(text, "t") == "Respuesta: _Tu respuesta aquí_ fin"


@pytest.mark.parametrize("source, problem", [
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "anidado"),
    ("### BEGIN SOLUTION\nx = 1\n", "sin cerrar"),
    ("x = 1\n### END SOLUTION\n", "sin su"),
])
def test_bad_code_markers(source, problem):
    with pytest.raises(assign.AssignError, match=problem):
        assign.strip_code(source, "lab99, celda 2")


def test_bad_markdown_marker():
    with pytest.raises(assign.AssignError, match="sin cerrar"):
        assign.strip_markdown("<!-- BEGIN SOLUTION --> abierto", "t")


def test_outputs_are_cleared(tmp_path):
    nb = new_notebook(cells=[new_markdown_cell("x"), new_code_cell("print(1)", execution_count=3,
                                                                    outputs=[{"output_type": "stream", "name": "stdout", "text": "1"}])])
    lab = assign.make_lab(nb, "x.ipynb")
    assert lab.cells[1].outputs == [] and lab.cells[1].execution_count is None
    nbformat.validate(lab)
