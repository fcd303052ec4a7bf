"""``%%requires docker compose …``: run the cell only if those capabilities exist,
otherwise say (in Spanish) why it is skipped and how to get what is missing."""
from __future__ import annotations

from course import env, show


def requires(line: str, cell: str, ipython) -> None:
    keys = line.split()
    unknown = [k for k in keys if k not in env.DETECTORS]
    if unknown:
        raise ValueError(f"%%requires: capacidad desconocida {', '.join(unknown)}; "
                         f"las conocidas son: {', '.join(env.DETECTORS)}.")
    absent = env.missing(*keys)
    if absent:
        show.skipped(env.explain_missing(absent))
        return
    result = ipython.run_cell(cell)
    if not result.success:  # fail the notebook run as a plain cell would; the traceback is above
        error = result.error_in_exec or result.error_before_exec
        raise CellFailed(f"La celda falló con {error.__class__.__name__} (traza arriba).")


class CellFailed(RuntimeError):
    """Raised after a %%requires cell failed, so papermill and nbclient stop there."""


def register(ipython) -> None:
    ipython.register_magic_function(
        lambda line, cell: requires(line, cell, ipython), magic_kind="cell", magic_name="requires")
