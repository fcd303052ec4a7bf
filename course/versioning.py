"""Presentation helpers for section 15.2: ordering tags for display and drawing which
digest each tag of a repository points to. The SemVer logic itself lives in the cells."""
from __future__ import annotations

import re

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from course.plots import COLORS

SHA_TAG = re.compile(r"[0-9a-f]{7,40}")
MOVED_COLOR = "#c0392b"


def short(digest: str | None, width: int = 12) -> str:
    """``sha256:0123456789ab`` (``—`` when the tag does not exist)."""
    if not digest:
        return "—"
    algorithm, _, value = digest.partition(":")
    return f"{algorithm}:{value[:width]}"


def tag_sort_key(tag: str) -> tuple:
    """``latest`` first, then version-like tags (most specific last), then commit shas."""
    if tag == "latest":
        return (0,)
    if SHA_TAG.fullmatch(tag) and not tag.isdigit():
        return (2, tag)
    numbers = [int(n) if n.isdigit() else 10**9 for n in re.split(r"[.\-_+]", tag)]
    return (1, numbers, tag)


def _box_positions(digests: list[str], mapping: dict[str, str | None],
                   tag_y: dict[str, float], gap: float = 1.3) -> dict[str, float]:
    """Each digest box at the mean height of its tags, pushed apart so boxes never overlap."""
    wanted = {d: sum(tag_y[t] for t, x in mapping.items() if x == d)
              / max(1, sum(1 for x in mapping.values() if x == d)) for d in digests}
    placed: dict[str, float] = {}
    for digest in sorted(digests, key=wanted.__getitem__, reverse=True):
        y = wanted[digest]
        if placed:
            y = min(y, min(placed.values()) - gap)
        placed[digest] = y
    lowest = min(placed.values(), default=1)
    if lowest < 0.8:  # shift up if the stack went below the last row
        placed = {d: y + (0.8 - lowest) for d, y in placed.items()}
    return placed


def tag_chart(snapshots: dict[str, dict[str, str | None]], versions: dict[str, str],
              title: str) -> Figure:
    """One panel per snapshot (tag → digest as read from the registry), side by side.

    ``versions`` maps a digest to the version it contains (from its OCI label). Tags that
    point somewhere else than in the previous panel are drawn in red.
    """
    palette = {}
    for mapping in snapshots.values():
        for digest in mapping.values():
            if digest and digest not in palette:
                palette[digest] = COLORS[len(palette) % len(COLORS)]
    rows = max(len(m) for m in snapshots.values())
    fig, axes = plt.subplots(1, len(snapshots), squeeze=False,
                             figsize=(4.6 * len(snapshots), 1.6 + 0.42 * rows))
    previous: dict[str, str | None] = {}
    for ax, (name, mapping) in zip(axes[0], snapshots.items(), strict=True):
        tags = sorted(mapping, key=tag_sort_key)
        digests = [d for d in palette if d in mapping.values()]
        tag_y = {t: rows - i for i, t in enumerate(tags)}
        digest_y = _box_positions(digests, mapping, tag_y)
        for tag in tags:
            digest = mapping[tag]
            moved = tag in previous and previous[tag] != digest
            new = bool(previous) and tag not in previous
            ax.text(0, tag_y[tag], f"{tag}{'  (se movió)' if moved else ''}"
                    f"{'  (nueva)' if new else ''}", ha="right", va="center", fontsize=9,
                    color=MOVED_COLOR if moved else "black",
                    fontweight="bold" if moved else "normal")
            if digest:
                ax.annotate("", xy=(0.9, digest_y[digest]), xytext=(0.04, tag_y[tag]),
                            arrowprops={"arrowstyle": "->", "color": palette[digest],
                                        "lw": 2.2 if moved else 1.2})
        for digest in digests:
            ax.text(0.93, digest_y[digest], f"versión {versions.get(digest, '?')}\n{short(digest)}",
                    ha="left", va="center", fontsize=8.5,
                    bbox={"boxstyle": "round,pad=0.4", "facecolor": palette[digest], "alpha": 0.3,
                          "edgecolor": palette[digest]})
        ax.set_xlim(-1.25, 2.1)
        ax.set_ylim(0.3, rows + 0.7)
        ax.axis("off")
        ax.set_title(name, fontsize=10, loc="left")
        previous = mapping
    fig.suptitle(title, fontsize=12)
    fig.text(0.01, 0.01, "Izquierda: etiquetas del repositorio; derecha: digest del manifiesto "
             "al que apunta cada una (leído de la API del registro). En rojo, las que se movieron.",
             fontsize=8, color="#555555")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig
