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

# Every lab's module has a TASK_ITEMS table.
LABS = ("lab01", "lab02", "lab03", "lab04", "lab05", "lab06", "lab07", "lab08", "lab09", "lab10")
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
            tarea, heading, points = ((int(match[1]), title[match.end():].lstrip(": "), 0)
                                      if match else (None, None, 0))
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


@dataclass
class Table:
    """What a lab module declares next to its checks."""
    items: dict[str, tuple[str, ...]]
    untasked: dict[str, str]
    gaps: dict[str, str]

    @classmethod
    def of(cls, lab: str) -> "Table":
        module = lab_module(lab)
        assert hasattr(module, "TASK_ITEMS"), f"grader/labs/{lab}.py no tiene la tabla TASK_ITEMS."
        return cls(dict(module.TASK_ITEMS), dict(getattr(module, "UNTASKED", {})),
                   dict(getattr(module, "KNOWN_GAPS", {})))


def sync_problems(items: list[TaskItem], table: Table, registered: list[str]) -> list[str]:
    """Every way the task, the table and the checks disagree, in Spanish."""
    problems = []
    keys = {item.key for item in items}
    for item in items:                                   # (a) every item has an entry
        named = table.items.get(item.key)
        if named is None:
            problems.append(f"{item.label()}: sin entrada en TASK_ITEMS (¿un punto nuevo en la tarea?)")
        elif not named and item.key not in table.gaps:
            problems.append(f"{item.label()}: ninguna comprobación (añade una, o explica en "
                            "KNOWN_GAPS por qué falta)")
    for key in table.items.keys() - keys:                # (d) no entry for an item the task lacks
        problems.append(f"TASK_ITEMS[{key!r}]: la tarea no tiene ese punto (tiene "
                        f"{', '.join(sorted(keys, key=_order))})")
    if len(table.items) != len(items) and not problems:
        problems.append(f"la tarea tiene {len(items)} puntos y TASK_ITEMS {len(table.items)}")
    for key in table.gaps.keys() - keys:
        problems.append(f"KNOWN_GAPS[{key!r}]: la tarea no tiene ese punto")
    for key, ids in table.items.items():                 # (b) every named check exists
        problems += [f"TASK_ITEMS[{key!r}] nombra «{cid}», que no es una comprobación del "
                     "laboratorio" for cid in ids if cid not in registered]
    named = {cid for ids in table.items.values() for cid in ids}
    for cid in registered:                               # (c) no orphan check
        if cid not in named and cid not in table.untasked:
            problems.append(f"la comprobación «{cid}» no verifica ningún punto de la tarea: "
                            "nómbrala en TASK_ITEMS o explica en UNTASKED por qué se comprueba")
    for cid, reason in table.untasked.items():
        if cid in named or cid not in registered or not reason.strip():
            problems.append(f"UNTASKED[{cid!r}] sobra (ya tiene punto, no existe o no da motivo)")
    return problems


@pytest.mark.parametrize("lab", LABS)
def test_task_table_and_checks_agree(lab):
    problems = sync_problems(task_items(lab), Table.of(lab), check_ids(lab))
    assert not problems, f"{lab}:\n- " + "\n- ".join(problems)


def test_each_disagreement_is_reported_precisely():
    """The sync test fails, naming the item, for each mistake it exists to catch."""
    items = task_items("lab01")
    table, registered = Table.of("lab01"), check_ids("lab01")
    assert sync_problems(items, table, registered) == []
    new_item = TaskItem("1.8", 1, 8, "HEALTHCHECK cada 10 s")
    assert sync_problems(items + [new_item], table, registered) == [
        "Tarea 1, punto 8 (HEALTHCHECK cada 10 s): sin entrada en TASK_ITEMS (¿un punto nuevo "
        "en la tarea?)"]
    empty = Table({**table.items, "1.6": ()}, table.untasked, table.gaps)
    assert sync_problems(items, empty, registered)[0].startswith(
        "Tarea 1, punto 6 (EXPOSE 8000, un HEALTHCHECK contra /health/live")
    assert "ninguna comprobación" in sync_problems(items, empty, registered)[0]
    gone = [i for i in items if i.key != "1.7"]
    assert "TASK_ITEMS['1.7']: la tarea no tiene ese punto" in sync_problems(gone, table, registered)[0]
    typo = Table({**table.items, "1.7": ("secretos.ningun",)}, table.untasked, table.gaps)
    assert any("«secretos.ningun», que no es una comprobación" in p
               for p in sync_problems(items, typo, registered))
    orphan = sync_problems(items, table, registered + ["imagen.nueva"])
    assert orphan == ["la comprobación «imagen.nueva» no verifica ningún punto de la tarea: "
                      "nómbrala en TASK_ITEMS o explica en UNTASKED por qué se comprueba"]
    stale = Table(table.items, {**table.untasked, "imagen.expose": "x"}, table.gaps)
    assert sync_problems(items, stale, registered) == [
        "UNTASKED['imagen.expose'] sobra (ya tiene punto, no existe o no da motivo)"]


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
        ("1.1", "Uno: a"), ("1.2", "Dos"), ("1.3", "Tres"), ("2", "sin lista"),
        ("3.1", "cuatro")]
    assert items[0].label() == "Tarea 1, punto 1 (Uno: a)"
    assert items[3].label() == "Tarea 2 (sin lista)"
