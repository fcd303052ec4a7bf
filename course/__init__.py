"""Helpers imported by the notebooks and labs of Tema 15 (see ARCHITECTURE.md).

``%load_ext course`` registers the ``%%requires`` cell magic (``course.magics``).
"""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def load_ipython_extension(ipython) -> None:
    from course.magics import register

    register(ipython)
