"""Figures drawn from measurements taken from result records; pure functions of their inputs, written as PNG.

Matplotlib is used through its object-oriented API with the Agg canvas, so drawing never
touches the global pyplot state or needs a display.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bench_gnn.errors import UsageError
from bench_gnn.graph.influence import is_profile


def plot_influence(
    records_or_profiles: Mapping[str, Any] | Iterable[Mapping[str, Any]],
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Draw normalised influence ``I_h / I_0`` against hop ``h``, one line per model (log y axis).

    Args:
        records_or_profiles: either ``{label: profile}`` with profiles as returned by
            :func:`bench_gnn.graph.influence.influence_profile`, or rows (mappings with a ``"model"``,
            a ``"dataset"`` and the profile under ``"influence"``; labelled ``model`` or
            ``model @ dataset`` when several datasets appear). Profiles
            sharing a label (seeds, splits) are averaged hop by hop.
        path: the PNG file to write; parent folders are created.
        title: figure title (default: "Influence by hop distance").

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Influence from reachable nodes beyond the last hop is drawn as an unconnected marker at
    ``">H"`` (``H`` the largest ``max_hops`` among the profiles, which should share it),
    influence across components at ``"unreach."``; zero values are not drawn (log axis).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    curves = _curves(records_or_profiles)
    if not curves:
        raise UsageError("plot_influence: no influence profiles found (records need an 'influence' entry)")
    max_hops = max(len(hops) - 1 for hops, _, _ in curves.values())
    show_unreachable = any(u > 0 for _, _, u in curves.values())

    fig = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, (hops, beyond, unreachable) in sorted(curves.items()):
        xs = range(len(hops))
        line = ax.plot(xs, [_positive(v) for v in hops], marker="o", label=label)[0]
        extra_x, extra_y = [max_hops + 1], [_positive(beyond)]
        if show_unreachable:
            extra_x.append(max_hops + 2)
            extra_y.append(_positive(unreachable))
        ax.plot(extra_x, extra_y, linestyle="none", marker="D", color=line.get_color())
    ticks = list(range(max_hops + 1)) + [max_hops + 1] + ([max_hops + 2] if show_unreachable else [])
    labels = [str(t) for t in range(max_hops + 1)] + [f">{max_hops}"] + (["unreach."] if show_unreachable else [])
    ax.set_xticks(ticks, labels)
    ax.set_yscale("log")
    ax.set_xlabel("hop distance h")
    ax.set_ylabel("influence I_h / I_0")
    ax.set_title(title or "Influence by hop distance")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=120)
    return path


def _curves(source: Any) -> dict[str, tuple[list[float], float, float]]:
    """``{label: (mean I per hop, mean I_beyond, mean I_unreachable)}``."""
    if isinstance(source, Mapping):
        labelled = [(str(label), profile) for label, profile in source.items()]
    else:
        records = [r for r in source if _profile_of(r) is not None]
        datasets = {r.get("dataset") for r in records}
        labelled = [
            (str(r.get("model", "?")) + (f" @ {r.get('dataset')}" if len(datasets) > 1 else ""), _profile_of(r))
            for r in records
        ]
    grouped: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for label, profile in labelled:
        if not is_profile(profile):
            raise UsageError(f"plot_influence: {label!r} is not an influence profile (needs 'I' and 'I_beyond')")
        grouped[label].append(profile)
    return {label: _average(profiles) for label, profiles in grouped.items()}


def _profile_of(row: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return row.get("influence")


def _average(profiles: list[Mapping[str, Any]]) -> tuple[list[float], float, float]:
    length = min(len(p["I"]) for p in profiles)
    hops = [sum(float(p["I"][h]) for p in profiles) / len(profiles) for h in range(length)]
    beyond = sum(float(p["I_beyond"]) for p in profiles) / len(profiles)
    unreachable = sum(float(p.get("I_unreachable", 0.0)) for p in profiles) / len(profiles)
    return hops, beyond, unreachable


def _positive(value: float) -> float:
    return value if value > 0 and math.isfinite(value) else math.nan


def pool_reliability(diagrams: Iterable[Mapping[str, Any]]) -> dict[str, list[float | None]]:
    """Pool per-run reliability diagrams (``confidence``, ``accuracy``, ``count`` per bin) into one:
    per bin, the count-weighted mean confidence and accuracy and the total count."""
    diagrams = list(diagrams)
    n_bins = len(diagrams[0]["count"])
    conf, acc, count = [0.0] * n_bins, [0.0] * n_bins, [0] * n_bins
    for diagram in diagrams:
        if len(diagram["count"]) != n_bins:
            raise UsageError(f"reliability diagrams with {n_bins} and {len(diagram['count'])} bins cannot be pooled")
        for b, c in enumerate(diagram["count"]):
            if c:
                conf[b] += diagram["confidence"][b] * c
                acc[b] += diagram["accuracy"][b] * c
                count[b] += c
    return {
        "confidence": [conf[b] / count[b] if count[b] else None for b in range(n_bins)],
        "accuracy": [acc[b] / count[b] if count[b] else None for b in range(n_bins)],
        "count": [float(c) for c in count],
    }


def plot_reliability(panels: Mapping[tuple[str, str], Mapping[str, Mapping[str, Any]]], path: str | Path,
                     title: str | None = None) -> Path:
    """Reliability diagrams: one panel per ``(row, column)`` key (e.g. dataset/backbone × calibrator), each
    with one curve per condition (``"clean"``, ``"structure"``, ...), accuracy against confidence per bin
    (pooled diagrams, see :func:`pool_reliability`), bins with no nodes left out, and the diagonal of perfect
    calibration. Written as a PNG; returns its path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not panels:
        raise UsageError("plot_reliability: no reliability diagrams found")
    rows = list(dict.fromkeys(r for r, _ in panels))
    cols = list(dict.fromkeys(c for _, c in panels))
    fig = Figure(figsize=(2.6 * len(cols), 2.6 * len(rows) + 0.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(rows), len(cols), squeeze=False, sharex=True, sharey=True)
    styles = {"clean": ("black", "o"), "structure": ("tab:red", "s"), "feature": ("tab:blue", "^")}
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            ax = axes[i][j]
            ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
            for condition, diagram in (panels.get((row, col)) or {}).items():
                points = [(c, a) for c, a in zip(diagram["confidence"], diagram["accuracy"]) if c is not None]
                color, marker = styles.get(condition, (None, "x"))
                ax.plot([p[0] for p in points], [p[1] for p in points], marker=marker, markersize=3, color=color,
                        label=condition)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            if i == 0:
                ax.set_title(col, fontsize="small")
            if j == 0:
                ax.set_ylabel(f"{row}\naccuracy", fontsize="small")
            if i == len(rows) - 1:
                ax.set_xlabel("confidence", fontsize="small")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize="small")
    fig.suptitle(title or "Reliability diagrams (test nodes; pooled over runs)")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=110)
    return path
