"""Arrival order (hub.replay.simulate.sink): late only within the allowed lateness."""

from __future__ import annotations

from tests.unit.replay.simulate.support import (
    H,
    S,
    events_of,
    sim,
)


def test_arrival_is_out_of_order_only_within_the_allowed_lateness() -> None:
    evs = events_of(sim(3, 30, 7))
    max_seen: dict[bool, int] = {}
    worst = {True: 0, False: 0}
    for e in evs:
        grid = e["kind"] == "grid_report"
        seen = max_seen.get(grid, e["event_time"])
        worst[grid] = max(worst[grid], seen - e["event_time"])
        max_seen[grid] = max(seen, e["event_time"])
    assert 0 < worst[False] < 30 * S
    assert 0 < worst[True] < 24 * H
