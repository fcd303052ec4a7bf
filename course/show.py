"""Pretty output for notebooks and the terminal (rich renders HTML inside Jupyter)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.table import Table

console = Console(highlight=False)  # no random colouring of numbers and paths


def table(title: str, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    tbl = Table(title=title, title_justify="left", show_lines=False)
    for header in headers:
        tbl.add_column(header, overflow="fold")
    for row in rows:
        tbl.add_row(*(str(cell) for cell in row))
    console.print(tbl)


def info(message: str) -> None:
    console.print(f"[cyan]ℹ[/cyan] {message}")


def ok(message: str) -> None:
    console.print(f"[green]✔[/green] {message}")


def warn(message: str) -> None:
    console.print(f"[yellow]⚠[/yellow] {message}")


def skipped(message: str) -> None:
    console.print(f"[yellow]⏭ Celda omitida:[/yellow] {message}")


def megabytes(n_bytes: float) -> str:
    return f"{n_bytes / 1e6:,.1f} MB"
