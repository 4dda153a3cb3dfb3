"""PNG charts of the reports, drawn with matplotlib's Agg backend (no display needed).

The only module that imports matplotlib; ``hub report`` imports it only for ``--chart``, so no
other command pays for it. Labels are English (area codes and case types are ASCII), so a
machine without CJK fonts draws the same chart without missing-glyph boxes or warnings. The
numbers come from the pure functions of ``hub.reports.tables``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before anything of matplotlib's drawing is imported

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hub.reports.tables import (
    FUNNEL_STAGES,
    Record,
    funnel_by_period,
    risk_series,
    safety_series,
)

#: at most this many warned series are drawn (one panel each); the title says how many are left
MAX_RISK_PANELS = 9
#: above this many areas the safety chart's legend lists the first ones only
MAX_LEGEND = 12
STAGE_COLOURS = {"reported": "#7f8c8d", "accepted": "#2e86c1", "resolved": "#28b463",
                 "unresolved": "#cb4335"}
LEVEL_COLOURS = {"MEDIUM": "#f39c12", "HIGH": "#c0392b"}


def _ticks(ax: Axes, labels: list[str], most: int = 16) -> None:
    step = max(1, math.ceil(len(labels) / most))
    ax.set_xticks(range(0, len(labels), step))
    ax.set_xticklabels(labels[::step], rotation=45, ha="right", fontsize=8)


def disputes_chart(records: Iterable[Record], path: Path, subtitle: str) -> None:
    """Funnel bars per period: reported, accepted, resolved, unresolved (summed over areas)."""
    data = funnel_by_period(records)
    labels = [label for label, _ in data]
    fig = Figure(figsize=(min(16.0, max(6.0, 0.35 * len(labels) + 2)), 4.5))
    ax = fig.add_subplot()
    width = 0.8 / len(FUNNEL_STAGES)
    for j, stage in enumerate(FUNNEL_STAGES):
        xs = [i - 0.4 + width * (j + 0.5) for i in range(len(labels))]
        ax.bar(xs, [sums[stage] for _, sums in data], width, label=stage,
               color=STAGE_COLOURS[stage])
    _ticks(ax, labels)
    ax.set_ylabel("disputes")
    ax.set_title(f"Dispute funnel per period - {subtitle}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)


def risk_chart(records: Iterable[Record], path: Path, subtitle: str) -> None:
    """Weekly counts of each warned series against its baseline band (mean ± 2·sqrt(mean))."""
    series = risk_series(records)
    shown = series[:MAX_RISK_PANELS]
    cols = min(3, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig = Figure(figsize=(5.0 * cols, 3.4 * rows + 0.6))
    for n, s in enumerate(shown, start=1):
        ax = fig.add_subplot(rows, cols, n)
        xs = list(range(len(s.weeks)))
        low, high = s.band()
        banded = [i for i in xs if low[i] is not None and high[i] is not None]
        ax.bar(banded, [(high[i] or 0.0) - (low[i] or 0.0) for i in banded], 0.8,
               bottom=[low[i] or 0.0 for i in banded], color="#aed6f1", alpha=0.7,
               label="baseline mean ± 2·sqrt(mean)")
        ax.plot(banded, [s.baseline_mean[i] or 0.0 for i in banded], color="#2e86c1", marker="_",
                markersize=10, linestyle="none", label="baseline mean (15 weeks before)")
        ax.plot(xs, [math.nan if v is None else v for v in s.counts], color="#34495e",
                marker="o", markersize=3, linewidth=1.2, label="weekly count")
        for idx, level, final in s.warned:
            count = s.counts[idx]
            if count is None:
                continue
            ax.plot([idx], [count], marker="o" if final else "^", markersize=9,
                    markerfacecolor=LEVEL_COLOURS.get(level, "#c0392b") if final else "none",
                    markeredgecolor=LEVEL_COLOURS.get(level, "#c0392b"), linestyle="none")
        ax.set_ylim(bottom=0)
        ax.set_title(s.title, fontsize=8)
        _ticks(ax, s.weeks, most=8)
        if n == 1:
            ax.legend(fontsize=6, loc="upper left")
    more = f"; first {len(shown)} of {len(series)} series" if len(series) > len(shown) else ""
    fig.suptitle(f"Rising cases: weekly count vs baseline band mean ± 2·sqrt(mean); "
                 f"warned weeks marked (filled: final, open: early) - {subtitle}{more}",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)


def safety_chart(records: Iterable[Record], path: Path, subtitle: str) -> None:
    """The index per day, one line per area, on a 0-100 axis."""
    series = safety_series(records)
    days = sorted({label for points in series.values() for label, _ in points})
    at = {label: i for i, label in enumerate(days)}
    fig = Figure(figsize=(max(7.0, 0.12 * len(days) + 4), 4.5))
    ax = fig.add_subplot()
    for n, (area, points) in enumerate(series.items()):
        ax.plot([at[label] for label, _ in points], [v for _, v in points], linewidth=1.2,
                marker="." if len(points) < 40 else None,
                label=area if n < MAX_LEGEND else "_nolegend_")
    ax.set_ylim(0, 100)
    ax.set_ylabel("safety index (0-100)")
    _ticks(ax, days)
    more = f" (legend: first {MAX_LEGEND} of {len(series)} areas)" if len(series) > MAX_LEGEND \
        else ""
    ax.set_title(f"Safety index per day - {subtitle}{more}", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)


CHARTS = {"disputes": disputes_chart, "risk": risk_chart, "safety": safety_chart}
