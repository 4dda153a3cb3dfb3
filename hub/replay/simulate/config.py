"""The knobs of ``hub simulate``: every constant and option that decides what the city holds.

One :class:`SimConfig` fully determines the output ("same arguments, same bytes"), so a reader
checking what a run can contain starts here; the time units and rule ids are shared by every
other part of the package.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime

from hub.model.events import MAX_TIME_MS, MIN_TIME_MS

SECOND_MS = 1_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def _utc(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms"

#: Arrival delays stay inside the engine's allowed lateness (30 s devices, 24 h grid reports).
DEVICE_MAX_DELAY_MS = 25 * SECOND_MS
GRID_MAX_DELAY_MS = 6 * HOUR_MS

INTRUSION_TYPES: tuple[str, ...] = ("INTRUSION", "LINE_CROSSING", "FENCE_CUT", "CLIMB")
BAD_RESULTS: tuple[str, ...] = ("DENIED", "FORCED_OPEN", "TAILGATE")

#: The default rule pack (topology/rules), in the order situations are planned.
RULE_IDS: tuple[str, ...] = (
    "perimeter_breach_entry",
    "forced_door",
    "credential_brute_force",
    "cloned_credential",
    "watchlist_entry",
    "dispute_hotspot",
    "lookup_spike",
    "door_held_open",
    "device_tamper",
)

#: Default start: a Monday midnight, China Standard Time (2025-03-03T00:00:00+08:00).
DEFAULT_START_MS = 1_740_931_200_000


@dataclass(frozen=True)
class Delay:
    """A log-normal delay: ``median_h · exp(sigma · N(0, 1))`` hours, clipped to [min_h, max_h]."""

    median_h: float
    sigma: float
    min_h: float
    max_h: float

    def draw_ms(self, rng: random.Random) -> int:
        """One delay in ms, drawn from ``rng`` so a seed reproduces the city."""
        hours = self.median_h * math.exp(self.sigma * rng.gauss(0.0, 1.0))
        return int(min(self.max_h, max(self.min_h, hours)) * HOUR_MS)


@dataclass(frozen=True)
class DisputeModel:
    """How a dispute's history unfolds: REPORTED → ACCEPTED → [MEDIATING →] RESOLVED | UNRESOLVED.

    A dispute is accepted (受理) with ``accept_rate`` (else its history is REPORTED alone); an
    accepted one ends RESOLVED (调处成功) with ``resolve_rate``, else UNRESOLVED; it passes through
    MEDIATING with ``mediate_rate`` (always when it ends UNRESOLVED), else it is settled on the
    spot. Each transition waits a log-normal :class:`Delay` (docs/toolkit.md lists them).
    """

    accept_rate: float = 0.97
    mediate_rate: float = 0.8
    resolve_rate: float = 0.9
    to_accepted: Delay = Delay(4.0, 1.0, 1 / 6, 72.0)  # 10 min - 3 days, median 4 h
    to_mediating: Delay = Delay(18.0, 0.9, 1.0, 7 * 24.0)  # 1 h - 7 days, median 18 h
    to_resolved: Delay = Delay(48.0, 0.9, 2.0, 30 * 24.0)  # 2 h - 30 days, median 2 days
    to_unresolved: Delay = Delay(8 * 24.0, 0.6, 24.0, 45 * 24.0)  # 1 - 45 days, median 8 days

    def __post_init__(self) -> None:
        for name in ("accept_rate", "mediate_rate", "resolve_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"dispute {name.replace('_', ' ')} {value} is not from 0 to 1")


@dataclass(frozen=True)
class DisputePlan:
    """Exact dispute figures for a window: so many disputes first reported in
    [window_start, window_end) that end RESOLVED, UNRESOLVED, or stay REPORTED (not accepted);
    every history ends before ``window_end``. Accepted = resolved + unresolved."""

    resolved: int
    unresolved: int
    window_start: int
    window_end: int
    not_accepted: int = 0

    @property
    def accepted(self) -> int:
        """Disputes that end RESOLVED or UNRESOLVED: the funnel's accepted count."""
        return self.resolved + self.unresolved

    @property
    def total(self) -> int:
        """Every dispute the plan places, accepted or not."""
        return self.accepted + self.not_accepted


@dataclass(frozen=True)
class SimConfig:
    """What to simulate. ``situations_per_rule`` None: about one per 40 building-days (1-50).

    The options after ``inject`` are off by default, and then the output is byte for byte what
    it was before they existed: ``background`` False leaves out the daily background (a single
    closing report on the last day remains), ``disputes`` gives background disputes full
    histories, ``dispute_plan`` adds disputes with exact figures, ``trends`` plants rising trends,
    ``reorder_devices`` lets a device's events overtake each other (the arrival order of
    releases before 2026-12-06; today a device's events arrive in its order).
    """

    seed: int
    buildings: int
    days: int
    start_ms: int = DEFAULT_START_MS
    situations_per_rule: int | None = None
    duplicate_rate: float = 0.004
    inject: bool = True
    background: bool = True
    disputes: DisputeModel | None = None
    dispute_plan: DisputePlan | None = None
    trends: int = 0
    #: delay each event on its own, a device's too (hub.replay.simulate.sink)
    reorder_devices: bool = False

    def __post_init__(self) -> None:
        if self.buildings < 2:
            raise ValueError("--buildings must be at least 2 (cloned_credential needs two sites)")
        if self.days < 1:
            raise ValueError("--days must be at least 1")
        if self.situations_per_rule is not None and self.situations_per_rule < 0:
            raise ValueError("situations_per_rule must be >= 0")
        if self.trends < 0:
            raise ValueError("--trends must be >= 0")
        if not MIN_TIME_MS <= self.start_ms <= MAX_TIME_MS - (self.days + 1) * DAY_MS:
            days = f"{self.days} day{'s' if self.days != 1 else ''}"
            raise ValueError(
                f"--start: {days} from {_utc(self.start_ms)} do not lie between 2000-01-01 and "
                "2100-01-01 UTC, the times the hub takes as plausible (it would reject every "
                "line outside them); start later or earlier")
        plan = self.dispute_plan
        if plan is not None:
            if self.background or (self.inject and self.per_rule > 0):
                raise ValueError("an exact dispute plan needs a city without other disputes: "
                                 "no background and no injected situations")
            if min(plan.resolved, plan.unresolved, plan.not_accepted) < 0:
                raise ValueError("dispute plan counts must be >= 0")
            end = self.start_ms + self.days * DAY_MS
            if not self.start_ms <= plan.window_start < plan.window_end <= end:
                raise ValueError("the dispute plan's window must lie within the simulated days")

    @property
    def dispute_model(self) -> DisputeModel | None:
        """The model of dispute histories: ``disputes``, or the default one for a plan."""
        if self.disputes is None and self.dispute_plan is not None:
            return DisputeModel()
        return self.disputes

    @property
    def per_rule(self) -> int:
        """Situations to inject per rule: the configured number, else one per 40 building-days
        (between 1 and 50), so the labels grow with the city."""
        if self.situations_per_rule is not None:
            return self.situations_per_rule
        return max(1, min(50, (self.buildings * self.days) // 40))
