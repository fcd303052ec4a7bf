"""Regression of the course's deterministic outputs with pytest-notebook: the notebook
tests/regresion/salidas_deterministas.ipynb is executed and every output compared with
the one stored in it (the lessons themselves are stored without outputs, and their
outputs depend on the machine). Accept an intended change with ``--nb-force-regen``."""
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parent / "regresion" / "salidas_deterministas.ipynb"


@pytest.mark.slow  # it executes a notebook (a kernel): end to end, as test_notebooks
def test_deterministic_outputs_have_not_changed(nb_regression):
    nb_regression.exec_cwd = str(Path(__file__).parents[1])  # `import course` from the repo
    nb_regression.exec_timeout = 120
    nb_regression.diff_ignore = ("/metadata/language_info", "/cells/*/execution_count",
                                 "/cells/*/outputs/*/execution_count", "/cells/*/metadata")
    nb_regression.diff_color_words = False
    nb_regression.diff_use_color = False
    nb_regression.check(str(NOTEBOOK))


def test_the_regression_notebook_really_compares_outputs():
    """A notebook without stored outputs would compare nothing and always pass."""
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    with_output = [c for c in code if c.outputs]
    assert len(with_output) >= len(code) - 1  # every cell but the imports prints something
