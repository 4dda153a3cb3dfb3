"""Preset cities for ``hub simulate --profile NAME``: published figures reproduced exactly.

A profile is only a :class:`SimConfig`; it names the figures it reproduces so that a test of
the analytics can check them to the unit.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hub.replay.simulate.config import DAY_MS, DisputePlan, SimConfig

#: Tai'an's published dispute mediation figures: 5,872 accepted (受理), 5,797 resolved (调处成功).
TAIAN_ACCEPTED = 5_872
TAIAN_RESOLVED = 5_797


def taian_year(seed: int = 1, *, year: int = 2025, buildings: int = 400,
               trends: int = 0) -> SimConfig:
    """A city-year whose YEAR dispute funnel is Tai'an's: exactly 5,872 disputes accepted and
    5,797 resolved (98.7 %), the other 75 UNRESOLVED, every one first reported in ``year``
    (Asia/Shanghai) and finished before it ends. No background and no situations: only the
    disputes (the trends if asked), and on 1 January of the next year one closing report so
    `hub analytics` sees the year end and publishes it."""
    cst = timezone(timedelta(hours=8))
    start = int(datetime(year, 1, 1, tzinfo=cst).timestamp() * 1000)
    end = int(datetime(year + 1, 1, 1, tzinfo=cst).timestamp() * 1000)
    plan = DisputePlan(resolved=TAIAN_RESOLVED, unresolved=TAIAN_ACCEPTED - TAIAN_RESOLVED,
                       window_start=start, window_end=end)
    return SimConfig(seed=seed, buildings=buildings, days=(end - start) // DAY_MS + 1,
                     start_ms=start, inject=False, background=False, dispute_plan=plan,
                     trends=trends)


#: ``hub simulate --profile NAME``.
PROFILES = {"taian-year": taian_year}
