"""Every task item a lab asks for names the checks that verify it, and every check is
named by some item: the student-visible task list (the markdown of the solution
notebook), the lab's ``TASK_ITEMS`` table and the ``@check`` registry stay in sync.

No engine, no cluster: it reads notebooks and imports grader modules, nothing more.

An item is a top-level entry of a list (numbered or bulleted) inside a ``## Tarea k``
section, numbered ``k.1``, ``k.2``… in order of appearance (all the lists of the section
in one sequence); a Tarea without a list is one item, ``k``."""
from __future__ import annotations

import importlib
import re
import warnings
from dataclasses import dataclass

import nbformat
import pytest
from markdown_it import MarkdownIt

from course import REPO_ROOT
from grader import checks

# Labs whose module has a TASK_ITEMS table. Labs 05, 07 and 10 are being reworked
# elsewhere: add them here when their tables exist.
LABS = ("lab01", "lab02", "lab03", "lab04", "lab06", "lab08", "lab09")
TAREA = re.compile(r"^Tarea (\d+)\b")


@dataclass(frozen=True)
class TaskItem:
    key: str       # "1.6", or "3" for a Tarea without a list
    tarea: int
    point: int     # 0 for a Tarea without a list
    text: str      # the item's first line of prose, markdown removed

    def label(self) -> str:
        where = f"Tarea {self.tarea}" + (f", punto {self.point}" if self.point else "")
        return f"{where} ({_short(self.text)})"


def _short(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def solution_notebook(lab: str):
    found = sorted((REPO_ROOT / "solutions").glob(f"{lab}_*.ipynb"))
    assert len(found) == 1, f"{lab}: se espera una solución en solutions/, hay {found}"
    return found[0]


def task_items(lab: str) -> list[TaskItem]:
    """The items of the lab's task, read from the markdown cells of its solution (the
    lab notebook is generated from it, so students read the same text)."""
    return items_of(nbformat.read(solution_notebook(lab), as_version=4))


def items_of(notebook) -> list[TaskItem]:
    markdown = "\n\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    items: list[TaskItem] = []
    tarea: int | None = None
    heading: str | None = None   # the Tarea's own title, for a Tarea without a list
    points = 0
    depth = 0                    # nesting of lists: only top-level entries are items
    want_text = False            # the next inline token is an item's first paragraph

    def close() -> None:
        if tarea is not None and points == 0:
            items.append(TaskItem(str(tarea), tarea, 0, heading or ""))

    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag in ("h1", "h2"):
            close()
            title = re.sub(r"[*`]", "", tokens[i + 1].content).strip()
            match = TAREA.match(title) if token.tag == "h2" else None
            tarea, heading, points = (int(match[1]), title, 0) if match else (None, None, 0)
        elif tarea is None:
            continue
        elif token.type in ("bullet_list_open", "ordered_list_open"):
            depth += 1
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
        elif token.type == "list_item_open" and depth == 1:
            points += 1
            want_text = True
        elif token.type == "inline" and want_text:
            text = re.sub(r"[*`]", "", token.content.splitlines()[0] if token.content else "")
            items.append(TaskItem(f"{tarea}.{points}", tarea, points, text.strip()))
            want_text = False
    close()
    return items


def lab_module(lab: str):
    return importlib.import_module(f"grader.labs.{lab}")


def check_ids(lab: str) -> list[str]:
    lab_module(lab)  # importing the module registers its checks
    return [c.id for c in checks.select(lab)]


@pytest.mark.parametrize("lab", LABS)
def test_the_parser_finds_the_task(lab):
    items = task_items(lab)
    assert items, f"{lab}: no encuentro ninguna sección «## Tarea k» en la solución."
    tareas = sorted({item.tarea for item in items})
    assert tareas == list(range(1, len(tareas) + 1)), f"{lab}: tareas {tareas}"
    assert all(item.text for item in items), [i.key for i in items if not i.text]


@pytest.mark.parametrize("lab", LABS)
def test_every_task_item_has_a_check(lab):
    """(a) every item has an entry, (d) and no entry names an item the task lacks."""
    module = lab_module(lab)
    table: dict[str, tuple[str, ...]] = getattr(module, "TASK_ITEMS", None)
    assert table is not None, f"grader/labs/{lab}.py no tiene la tabla TASK_ITEMS."
    gaps: dict[str, str] = getattr(module, "KNOWN_GAPS", {})
    items = task_items(lab)
    problems = []
    for item in items:
        named = table.get(item.key)
        if named is None:
            problems.append(f"{item.label()}: sin entrada en TASK_ITEMS (¿un punto nuevo en la tarea?)")
        elif not named and item.key not in gaps:
            problems.append(f"{item.label()}: ninguna comprobación (añade una, o explica en "
                            "KNOWN_GAPS por qué falta)")
    keys = {item.key for item in items}
    problems += [f"TASK_ITEMS[{key!r}]: la tarea no tiene ese punto (la solución tiene "
                 f"{', '.join(sorted(keys, key=_order))})" for key in table if key not in keys]
    problems += [f"KNOWN_GAPS[{key!r}]: la tarea no tiene ese punto" for key in gaps if key not in keys]
    assert len(table) == len(items) or problems, (
        f"{lab}: la tarea tiene {len(items)} puntos y TASK_ITEMS {len(table)}.")
    assert not problems, f"{lab}:\n- " + "\n- ".join(problems)


@pytest.mark.parametrize("lab", LABS)
def test_every_named_check_exists(lab):
    """(b) every id in the table is a check the lab registers."""
    module, registered = lab_module(lab), set(check_ids(lab))
    unknown = [f"{key} → {cid}" for key, ids in module.TASK_ITEMS.items() for cid in ids
               if cid not in registered]
    assert not unknown, (f"{lab}: TASK_ITEMS nombra comprobaciones que no existen: "
                         f"{', '.join(unknown)}. Las del laboratorio: {', '.join(sorted(registered))}.")


@pytest.mark.parametrize("lab", LABS)
def test_no_orphan_check(lab):
    """(c) every check verifies some item, or UNTASKED says why it exists anyway."""
    module = lab_module(lab)
    named = {cid for ids in module.TASK_ITEMS.values() for cid in ids}
    untasked: dict[str, str] = getattr(module, "UNTASKED", {})
    orphans = [cid for cid in check_ids(lab) if cid not in named and cid not in untasked]
    assert not orphans, (f"{lab}: comprobaciones que ningún punto de la tarea pide: "
                         f"{', '.join(orphans)}. Nómbralas en TASK_ITEMS o explica en UNTASKED "
                         "por qué se comprueban.")
    stale = [cid for cid in untasked if cid in named or cid not in check_ids(lab)]
    assert not stale, f"{lab}: UNTASKED lista {stale}, que ya tienen punto o no existen."
    assert all(reason.strip() for reason in untasked.values()), f"{lab}: UNTASKED sin motivo."


@pytest.mark.parametrize("lab", LABS)
def test_known_gaps_are_said_aloud(lab):
    """A gap is never silent: each one has a reason and is shown as a warning."""
    gaps: dict[str, str] = getattr(lab_module(lab), "KNOWN_GAPS", {})
    assert all(reason.strip() for reason in gaps.values()), f"{lab}: KNOWN_GAPS sin motivo."
    labels = {item.key: item.label() for item in task_items(lab)}
    for key, reason in gaps.items():
        warnings.warn(f"{lab}, {labels.get(key, key)}: sin comprobación completa. {reason}",
                      UserWarning, stacklevel=1)


def _order(key: str) -> tuple[int, ...]:
    return tuple(int(part) for part in key.split("."))


def test_the_parser_reads_items_as_students_see_them():
    """Numbered and bulleted lists, several lists in one Tarea, nested lists, a table
    and a Tarea spread over two cells."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Laboratorio\n\n## Tarea 1: algo\n\n1. **Uno**: a\n"
                                      "   - detalle anidado\n2. Dos\n\nTexto.\n\n- Tres"),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_markdown_cell("## Tarea 2: sin lista\n\n| a | b |\n|---|---|\n| - 1 | 2 |"),
        nbformat.v4.new_markdown_cell("## Tarea 3: en dos celdas\n\nIntro."),
        nbformat.v4.new_markdown_cell("Ahora:\n\n1. `cuatro`\n\n## Limpieza\n\n- no es tarea"),
    ])
    items = items_of(nb)
    assert [(i.key, i.text) for i in items] == [
        ("1.1", "Uno: a"), ("1.2", "Dos"), ("1.3", "Tres"), ("2", "Tarea 2: sin lista"),
        ("3.1", "cuatro")]
    assert items[0].label() == "Tarea 1, punto 1 (Uno: a)"
    assert items[3].label() == "Tarea 2 (Tarea 2: sin lista)"
