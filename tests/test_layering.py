"""The layers import one way: ``curso`` (the command) may use ``course`` and ``grader``;
``grader`` may use ``course``; ``course`` (what notebook cells import) uses neither."""
import ast

import pytest

from course import REPO_ROOT

FORBIDDEN = {"course": {"grader", "curso"}, "grader": {"curso"}}


def imported_packages(path) -> set[str]:
    """Top-level packages a module imports, also inside functions (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module" \
                and node.args and isinstance(node.args[0], (ast.Constant, ast.JoinedStr)):
            text = ast.unparse(node.args[0]).strip("'\"f")
            found.add(text.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_against_the_layering(package):
    wrong = {str(path.relative_to(REPO_ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
             for path in (REPO_ROOT / package).rglob("*.py")}
    wrong = {path: names for path, names in wrong.items() if names}
    assert wrong == {}, f"importaciones que van contra las capas: {wrong}"


def test_the_scan_sees_lazy_and_dynamic_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from grader.grade import grade\n"
                      "import importlib\nimportlib.import_module(f'grader.labs.{x}')\n")
    assert imported_packages(module) >= {"grader", "importlib"}


def test_every_lab_has_one_contract_and_no_module_redefines_it():
    """The lab contract lives in one table (course.lab.CONTRACTS): every checks module has
    an entry, and none keeps its own copy of the fields, which could drift apart."""
    import importlib

    from course.lab import CONTRACTS

    modules = sorted(p.stem for p in (REPO_ROOT / "grader" / "labs").glob("lab[0-9][0-9].py"))
    assert modules and set(modules) == set(CONTRACTS)
    for name in modules:
        module = importlib.import_module(f"grader.labs.{name}")
        stale = [a for a in ("SERVICE_WITHOUT", "SUBMISSION_ROOT", "KEEP_GIT") if hasattr(module, a)]
        assert stale == [], f"{name} define {stale}: van en course.lab.CONTRACTS"
    for name, terms in CONTRACTS.items():
        for path in terms.service_without:
            assert (REPO_ROOT / "service" / path).exists(), f"{name}: service/{path} no existe"
