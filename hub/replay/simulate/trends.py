"""Planted rising trends: a steady weekly baseline of reports, then one week that rises.

They give `hub analytics` something true to warn about and `hub evaluate --warnings` a label
to score it against (docs/toolkit.md, "Planted rising trends").
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hub.replay.simulate.config import DAY_MS, HOUR_MS
from hub.replay.simulate.draws import poisson
from hub.replay.simulate.labels import TrendLabel
from hub.replay.simulate.world import World

#: The rising trends' shape (docs/toolkit.md, "Planted rising trends"): weeks of baseline
#: (planted counts ~Poisson(2), at most 4 a week), then one week of 14-20 reports.
TREND_BASELINE_WEEKS = 16
TREND_BASELINE_MEAN = 2.0
TREND_BASELINE_CAP = 4
TREND_SPIKE_MIN, TREND_SPIKE_MAX = 14, 20
#: Report categories a trend is planted in (DISPUTE is left to the dispute rules and funnel).
TREND_CATEGORIES: tuple[str, ...] = (
    "SAFETY_HAZARD", "FIRE_HAZARD", "SUSPICIOUS_PERSON", "PUBLIC_ORDER", "ENVIRONMENT", "OTHER",
)
_CST_OFFSET_MS = 8 * HOUR_MS  # Asia/Shanghai: +08:00 all year (no DST since 1991)

def plan_trends(world: World, n: int) -> None:
    """``n`` rising trends in distinct (grid, category) pairs (docs/toolkit.md)."""
    rng = world.rng
    week = 7 * DAY_MS
    first = first_monday(world.start)
    n_weeks = (world.end - DAY_MS - first) // week  # whole weeks before the last day
    if n_weeks <= TREND_BASELINE_WEEKS:
        need = -(-(first - world.start) // DAY_MS) + (TREND_BASELINE_WEEKS + 1) * 7 + 1
        raise ValueError(f"--trends needs {TREND_BASELINE_WEEKS} whole weeks of baseline "
                         f"and the rising week before the last day: use --days {need} or "
                         "more")
    grids = sorted(world.city.grids)
    if n > len(grids) * len(TREND_CATEGORIES):
        raise ValueError(f"--trends {n}: this city has only {len(grids)} grids of "
                         f"{len(TREND_CATEGORIES)} categories; use more buildings")
    # categories in turn (all different while n <= 6), each in grids not used for it yet
    order = rng.sample(TREND_CATEGORIES, len(TREND_CATEGORIES))
    free = {c: rng.sample(grids, len(grids)) for c in order}
    chosen = []
    for i in range(n):
        category = order[i % len(order)]
        chosen.append((free[category].pop(), category))
    for grid_id, category in chosen:
        members = world.city.grids[grid_id]
        spike = rng.randrange(TREND_BASELINE_WEEKS, n_weeks)
        counts = [min(TREND_BASELINE_CAP, poisson(rng, TREND_BASELINE_MEAN))
                  for _ in range(spike)]
        counts.append(rng.randint(TREND_SPIKE_MIN, TREND_SPIKE_MAX))
        for k, count in enumerate(counts):
            for _ in range(count):
                t = (first + k * week + rng.randrange(7) * DAY_MS
                     + int((8 + 10 * rng.random()) * HOUR_MS))
                b = members[rng.randrange(len(members))]
                world.schedule(world.report_chain(grid_id, b, b.site_id, t, category))
        record = members[0].record
        week_start = first + spike * week
        world.trend_labels.append(TrendLabel(
            "GRID", grid_id, "grid_report", category, week_start, week_label(week_start),
            counts[-1], tuple(counts[:-1]),
            tuple((level, str(record[name])) for level, name in (
                ("TOWNSHIP", "township_code"), ("DISTRICT", "district_code"),
                ("CITY", "city_code")) if record[name])))


def first_monday(t: int) -> int:
    """The first Monday 00:00 Asia/Shanghai at or after ``t`` (epoch ms)."""
    day = -(-(t + _CST_OFFSET_MS) // DAY_MS)  # local days since 1970-01-01, a Thursday
    day += (4 - day) % 7
    return day * DAY_MS - _CST_OFFSET_MS


def week_label(week_start: int) -> str:
    """ISO week label (``2025-W14``) of a local week start."""
    local = datetime.fromtimestamp(week_start / 1000, tz=timezone(timedelta(hours=8)))
    year, number, _ = local.isocalendar()
    return f"{year}-W{number:02d}"
