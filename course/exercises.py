"""In-lesson exercises: run named conditions, print ✔/✘ lines in Spanish, never raise.

A wrong answer must not stop the notebook (the lesson goes on after the check), so a
check returns a :class:`Result` that the notebook may print and a test may inspect.
A condition that cannot be evaluated here (no engine, no binary) is ``skipped`` with
its reason: it is never counted as passed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from rich.markup import escape

from course import show


@dataclass(frozen=True)
class Condition:
    """One thing the answer must get right; ``hint`` says how to fix it (or why it was skipped)."""
    name: str
    passed: bool | None  # None: could not be evaluated here
    hint: str = ""

    @property
    def skipped(self) -> bool:
        return self.passed is None


def skip(name: str, reason: str) -> Condition:
    return Condition(name, None, reason)


def condition(name: str, test: Callable[[], bool], hint: str) -> Condition:
    """Evaluate ``test``; an exception in the student's code is a failure with its message."""
    try:
        passed = bool(test())
    except Exception as exc:  # the student's code may raise anything: report it, don't crash
        return Condition(name, False, f"{hint} (error: {type(exc).__name__}: {exc})")
    return Condition(name, passed, hint)


@dataclass
class Result:
    title: str
    conditions: list[Condition] = field(default_factory=list)

    @property
    def failed(self) -> list[Condition]:
        return [c for c in self.conditions if c.passed is False]

    @property
    def skipped(self) -> list[Condition]:
        return [c for c in self.conditions if c.skipped]

    @property
    def passed(self) -> bool:
        """Right: nothing failed and at least one condition was really checked."""
        return not self.failed and len(self.skipped) < len(self.conditions)

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:  # short: a notebook cell may end with the call
        return (f"<Result {self.title!r}: {len(self.names(True))} bien, {len(self.failed)} mal, "
                f"{len(self.skipped)} sin comprobar>")

    def hints(self) -> list[str]:
        return [c.hint for c in self.failed]

    def names(self, passed: bool | None) -> list[str]:
        return [c.name for c in self.conditions if c.passed is passed]


def check(title: str, conditions: Iterable[Condition], *, quiet: bool = False) -> Result:
    """Print one line per condition and a verdict; return the result (never raises)."""
    result = Result(title, list(conditions))
    if quiet:
        return result
    show.info(f"Comprobación: {title}")
    for c in result.conditions:
        name, hint = escape(c.name), escape(c.hint)  # answers may contain [brackets]
        if c.passed:
            show.ok(name)
        elif c.skipped:
            show.console.print(f"[yellow]–[/yellow] {name} [dim](sin comprobar: {hint})[/dim]")
        else:
            show.console.print(f"[red]✘[/red] {name}\n    [bold]Pista:[/bold] {hint}")
    checked = len(result.conditions) - len(result.skipped)
    if result.passed:
        show.ok(f"¡Correcto! {checked} de {checked} comprobaciones bien"
                + (f" ({len(result.skipped)} sin comprobar aquí)." if result.skipped else "."))
    elif not result.failed:
        show.warn("No se ha podido comprobar nada aquí: " + escape("; ".join(c.hint for c in result.skipped)))
    else:
        show.warn(f"Aún falla{'n' if len(result.failed) > 1 else ''} {len(result.failed)} de "
                  f"{checked}: corrige y vuelve a ejecutar la celda.")
    return result
