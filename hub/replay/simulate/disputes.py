"""Exact dispute plans: a plan with exact figures (the Tai'an profile) placed in the city.

The area analytics count disputes accepted, mediated and resolved; a plan's disputes get their
histories from dispute_statuses.py and are placed without breaking the background's 7-day rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.replay.simulate.config import DAY_MS, HOUR_MS, DisputePlan
from hub.replay.simulate.dispute_statuses import dispute_history

if TYPE_CHECKING:
    from hub.replay.simulate.world import World


def dispute_fits(world: World, building_id: str, lo: int, hi: int) -> bool:
    """The background's rule for disputes: never three in a building within 7 days."""
    if world.dispute_zones.overlaps(building_id, lo, hi):
        return False
    spans = world.disputes.get(building_id, ())
    margin = 7 * DAY_MS + HOUR_MS
    return sum(1 for s, e in spans if s <= hi + margin and lo <= e + margin) <= 1


def plan_disputes(world: World, plan: DisputePlan) -> None:
    """Exactly ``plan``'s disputes, first reported and finished inside its window."""
    rng = world.rng
    model = world.cfg.dispute_model
    assert model is not None
    outcomes = (["RESOLVED"] * plan.resolved + ["UNRESOLVED"] * plan.unresolved
                + ["REPORTED"] * plan.not_accepted)
    rng.shuffle(outcomes)
    buildings = world.city.buildings
    lo, hi = plan.window_start, plan.window_end
    days = (hi - lo) // DAY_MS
    for outcome in outcomes:
        for _ in range(10_000):
            offsets = dispute_history(rng, model, 0, outcome)
            span = offsets[-1][1]
            if days >= 1:  # the working day's rhythm: first reported 08:00-20:00
                t = lo + rng.randrange(days) * DAY_MS + int((8 + 12 * rng.random()) * HOUR_MS)
            else:
                t = lo + rng.randrange(hi - lo)
            b = buildings[rng.randrange(len(buildings))]
            if t + span < hi and dispute_fits(world, b.building_id, t, t + span):
                break
        else:
            raise ValueError("the planned disputes do not fit: use more buildings or a "
                             "longer window")
        world.disputes.setdefault(b.building_id, []).append((t, t + span))
        history = [(status, t + dt) for status, dt in offsets]
        world.schedule(world.report_chain(b.grid_id, b, b.site_id, t, "DISPUTE",
                                          history=history))
