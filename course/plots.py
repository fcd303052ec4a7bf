"""Matplotlib charts for the notebooks: the data comes from the cell, the styling lives
here. Titles and labels are passed in (Spanish) or written in Spanish."""
from __future__ import annotations

import re
from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

MB = 1e6
COLORS = ("#d1495b", "#2e86ab", "#edae49", "#66a182", "#8d96a3")
_CONTENT_HASH = re.compile(r"\b(file|dir|multi):[0-9a-f]{64}")


def short_instruction(text: str, width: int = 55) -> str:
    """A Dockerfile instruction as a readable axis label (no content hashes, truncated)."""
    text = _CONTENT_HASH.sub("…", " ".join(text.split()))
    return text if len(text) <= width else text[: width - 1] + "…"


def human_size(n_bytes: float) -> str:
    if n_bytes >= 0.1 * MB:
        return f"{n_bytes / MB:.1f} MB"
    if n_bytes >= 1000:
        return f"{n_bytes / 1000:.1f} kB"
    return f"{n_bytes:.0f} B"


def collapse_base(layers: Sequence[tuple[str, int]], base_count: int,
                  base_label: str) -> list[tuple[str, int]]:
    """Merge the layers inherited from the base image into one row and drop the empty
    (metadata-only) layers of the image's own instructions. ``layers`` is oldest first."""
    base = sum(size for _, size in layers[:base_count])
    own = [(instr, size) for instr, size in layers[base_count:] if size > 0]
    return [(base_label, base), *own]


def layer_chart(groups: dict[str, Sequence[tuple[str, int]]], title: str) -> Figure:
    """One horizontal bar per layer, one panel per image, on a shared MB axis."""
    heights = [max(len(layers), 1) for layers in groups.values()]
    fig, axes = plt.subplots(len(groups), 1, sharex=True, squeeze=False,
                             figsize=(10, 1.6 + 0.45 * sum(heights)),
                             gridspec_kw={"height_ratios": heights})
    for ax, (name, layers), color in zip(axes[:, 0], groups.items(), COLORS, strict=False):
        labels = [short_instruction(instr) for instr, _ in layers]
        sizes = [size / MB for _, size in layers]
        positions = list(range(len(layers)))
        bars = ax.barh(positions, sizes, color=color)
        ax.bar_label(bars, labels=[f" {human_size(size)}" for _, size in layers], fontsize=8)
        ax.set_yticks(positions, labels, fontsize=8)
        ax.invert_yaxis()  # oldest layer on top, as in the Dockerfile
        total = sum(size for _, size in layers)
        ax.set_title(f"{name} — {human_size(total)} en total", loc="left", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.margins(x=0.18)
    axes[-1, 0].set_xlabel("Tamaño de la capa (MB)")
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return fig


def rebuild_chart(variants: Sequence[str], first: Sequence[float], second: Sequence[float],
                  notes: Sequence[str], title: str) -> Figure:
    """Grouped bars: build time of each variant before and after an edit."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    width = 0.38
    xs = list(range(len(variants)))
    before = ax.bar([x - width / 2 for x in xs], first, width, label="Primera construcción",
                    color=COLORS[4])
    after = ax.bar([x + width / 2 for x in xs], second, width,
                   label="Tras editar solo app/main.py", color=COLORS[1])
    ax.bar_label(before, labels=[f"{s:.1f} s" for s in first], fontsize=9)
    ax.bar_label(after, labels=[f"{s:.1f} s\n{note}" for s, note in zip(second, notes,
                                                                        strict=True)],
                 fontsize=9)
    ax.set_xticks(xs, variants)
    ax.set_ylabel("Tiempo de construcción (s)")
    ax.set_title(title, fontsize=12)
    ax.margins(y=0.25)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


# (sample key, label, colour, line style, line width), drawn over a shaded area that is the
# total number of pods.
ROLLOUT_SERIES = (
    ("listas", "listos (Ready)", COLORS[3], "-", 2.6),
    ("disponibles", "disponibles", COLORS[0], "--", 1.8),
    ("actualizadas", "con la plantilla nueva", COLORS[1], "-", 2.0),
)


def rollout_chart(rollouts: dict[str, Sequence[dict]], title: str) -> Figure:
    """One panel per rollout: a Deployment's replica counts over time, as returned by
    ``course.k8s.sample_rollout`` (keys t, deseadas, total, actualizadas, listas, disponibles)."""
    fig, axes = plt.subplots(1, len(rollouts), figsize=(5.4 * len(rollouts), 3.9), sharey=True,
                             squeeze=False)
    top = max(s["total"] for samples in rollouts.values() for s in samples)
    for ax, (name, samples) in zip(axes[0], rollouts.items(), strict=True):
        times = [s["t"] for s in samples]
        ax.fill_between(times, [s["total"] for s in samples], step="post", color=COLORS[4],
                        alpha=0.25, linewidth=0, label="pods en total")
        for key, label, color, style, width in ROLLOUT_SERIES:
            ax.step(times, [s[key] for s in samples], where="post", label=label, color=color,
                    linestyle=style, linewidth=width)
        ax.axhline(samples[-1]["deseadas"], color="black", linewidth=0.8, alpha=0.6,
                   label="réplicas deseadas")
        ax.set_title(name, loc="left", fontsize=10)
        ax.set_xlabel("segundos desde el cambio")
        ax.set_ylim(0, top + 0.8)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("réplicas")
    axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return fig


GITOPS_ACTIONS = (("nada", COLORS[4]), ("sincronizar", COLORS[1]),
                  ("corregir deriva", COLORS[2]), ("podar", COLORS[3]), ("error", COLORS[0]))


def gitops_timeline(outcomes: Sequence, events: dict[str, float], start: float,
                    title: str) -> Figure:
    """Each pass of a GitOps reconciler (``course.gitops.Outcome``: ``at``, ``action``) as
    a dot on its action's row, and the moments something happened (``events``: label ->
    time.monotonic()) as labelled vertical lines."""
    fig, ax = plt.subplots(figsize=(10, 3.2))
    rows = {action: i for i, (action, _) in enumerate(GITOPS_ACTIONS)}
    for action, color in GITOPS_ACTIONS:
        times = [o.at - start for o in outcomes if o.action == action]
        ax.scatter(times, [rows[action]] * len(times), color=color, s=28, zorder=3, label=action)
    for i, (label, at) in enumerate(events.items()):
        ax.axvline(at - start, color="black", linestyle="--", linewidth=0.9, alpha=0.7)
        ax.annotate(label, (at - start, len(rows) - 0.55 - 0.45 * (i % 2)), fontsize=8,
                    xytext=(3, 0), textcoords="offset points")
    ax.set_yticks(range(len(rows)), list(rows))
    ax.set_ylim(-0.6, len(rows) + 0.1)
    ax.set_xlabel("segundos desde el arranque del reconciliador")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title, loc="left", fontsize=11)
    fig.tight_layout()
    return fig


def canary_timeline(drills: dict[str, object], title: str) -> Figure:
    """One column per release (``course.rollout.Drill``): the share of requests each
    version served, the error ratio and the p95 latency per version (1-second bins of
    what the load generator saw), the controller's Prometheus measurements as circles and
    its decisions as vertical lines, all on the load generator's time axis."""
    import math
    from collections import defaultdict

    fig, axes = plt.subplots(3, len(drills), figsize=(5.6 * len(drills), 7.2), sharex="col",
                             squeeze=False)
    versions = (("estable", COLORS[1]), ("candidata", COLORS[3]))
    for col, (name, drill) in enumerate(drills.items()):
        shift = drill.offset  # controller times are relative to its own start
        bins: dict[int, list] = defaultdict(list)
        for hit in drill.hits:
            bins[int(hit.t)].append(hit)
        seconds = sorted(bins)
        share, errors, p95 = axes[0, col], axes[1, col], axes[2, col]
        for version, color in versions:
            served = [[h for h in bins[s] if h.served_by == version] for s in seconds]
            share.step(seconds, [100 * len(v) / max(len(bins[s]), 1) for v, s in zip(served, seconds)],
                       where="post", color=color, label=version)
            errors.plot(seconds, [sum(1 for h in v if h.status >= 500) / len(v) if v else math.nan
                                  for v in served], color=color, marker=".", label=version)
            p95.plot(seconds, [sorted(h.latency for h in v)[int(0.95 * (len(v) - 1))] if v else math.nan
                               for v in served], color=color, marker=".", label=version)
        for m in drill.result.measurements:
            if m.value is not None:
                ax = errors if "err" in m.metric else p95
                ax.plot(m.t + shift, m.value, "o", mfc="none", color="black", markersize=6)
        for event in drill.result.events:
            if event.what.startswith(("peso", "revertida", "promovida")):
                for ax in axes[:, col]:
                    ax.axvline(event.t + shift, color="grey", linestyle=":", linewidth=1)
                share.annotate(event.what, (event.t + shift, 102), fontsize=7, rotation=60,
                               annotation_clip=False)
        share.set_title(f"{name}: {drill.result.outcome}", loc="left", fontsize=10, pad=38)
        share.set_ylim(0, 100)
        share.set_ylabel("% de peticiones")
        errors.set_ylabel("ratio de errores")
        p95.set_ylabel("p95 (s)")
        p95.set_xlabel("segundos (○ = medición del controlador en Prometheus)")
        for ax in axes[:, col]:
            ax.grid(alpha=0.3)
        share.legend(fontsize=8, loc="center right")
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return fig


def alert_timeline(hits: Sequence, marks: Sequence[tuple[float, str]], title: str) -> Figure:
    """Requests per second served by each version and failed requests (``course.rollout.Hit``,
    on the load generator's clock), with each stage of an alert-driven rollback (deploy,
    pending, firing, webhook…) as a labelled vertical line at its time ``t``."""
    from collections import Counter

    served: dict[str, Counter] = {"estable": Counter(), "candidata": Counter()}
    failed: Counter = Counter()
    for hit in hits:
        second = int(hit.t)
        if hit.served_by in served:
            served[hit.served_by][second] += 1
        if not 200 <= hit.status < 500:
            failed[second] += 1
    seconds = list(range(0, int(max((h.t for h in hits), default=0)) + 1))
    fig, ax = plt.subplots(figsize=(9, 4.2))
    for (version, counts), color in zip(served.items(), (COLORS[1], COLORS[3])):
        ax.step(seconds, [counts[s] for s in seconds], where="post", color=color,
                label=f"servidas por la {version}")
    ax.bar(seconds, [failed[s] for s in seconds], width=0.9, align="edge", color=COLORS[0],
           alpha=0.5, label="fallidas (5xx o sin respuesta)")
    top = max([*(max(c.values(), default=0) for c in served.values()), 1])
    merged: list[tuple[float, str]] = []   # stages less than 0.3 s apart share one label
    for t, what in sorted(marks):
        if merged and t - merged[-1][0] < 0.3:
            merged[-1] = (merged[-1][0], f"{merged[-1][1]} · {what}")
        else:
            merged.append((t, what))
    for k, (t, what) in enumerate(merged):
        ax.axvline(t, color="grey", linestyle=":", linewidth=1)
        ax.text(t + 0.08, top * (1.55 - 0.09 * k), what, fontsize=8, va="center")
    ax.set_ylim(0, top * 1.65)
    ax.set_xlabel("segundos desde el inicio de la carga")
    ax.set_ylabel("peticiones por segundo")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    ax.set_title(title, loc="left", fontsize=11)


def throughput_chart(results: dict, title: str) -> Figure:
    """bench/service_throughput.py's results: requests/s (median of the rounds) of each
    variant with its ratio to the baseline and the goal line, and the server's CPU time
    per request next to it."""
    names = list(results["rps_median"])
    rps = [results["rps_median"][n] for n in names]
    cpu = [(sorted(v)[len(v) // 2] if v else 0.0)
           for v in (results["server_cpu_us_per_request"][n] for n in names)]
    baseline, real = results["baseline"], results.get("real")
    colors = [COLORS[4] if n == baseline else COLORS[1] if n == real else COLORS[3]
              for n in names]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 0.55 * len(names) + 1.6), sharey=True,
                                      gridspec_kw={"width_ratios": (3, 2)})
    rows = range(len(names))
    left.barh(rows, rps, color=colors)
    goal = results["goal"] * results["rps_median"][baseline]
    left.axvline(goal, color=COLORS[0], linestyle="--", linewidth=1,
                 label=f"objetivo: {results['goal']:.0%} del servicio sin logs ni métricas")
    left.legend(loc="upper right", fontsize=8)
    for row, name, value in zip(rows, names, rps):
        ratio = results["ratio_to_bare"].get(name)
        label = f"{value:,.0f}" + (f"  ({ratio:.2f})" if ratio is not None else "")
        left.text(value, row, " " + label, va="center", fontsize=8)
    left.set_yticks(list(rows), names)
    left.invert_yaxis()
    left.set_xlabel("peticiones por segundo (mediana de las rondas)")
    left.set_xlim(0, max(rps) * 1.3)
    right.barh(rows, cpu, color=colors)
    for row, value in zip(rows, cpu):
        right.text(value, row, f" {value:,.0f}", va="center", fontsize=8)
    right.set_xlabel("CPU del servidor por petición (µs)")
    right.set_xlim(0, max(cpu) * 1.25 if any(cpu) else 1)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
