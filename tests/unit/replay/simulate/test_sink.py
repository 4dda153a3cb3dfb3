"""Arrival order (hub.replay.simulate.sink): late only within the allowed lateness."""

from __future__ import annotations

import json
from typing import Any

from hub.replay.simulate.config import SimConfig
from hub.replay.simulate.simulator import simulate
from hub.replay.simulate.sink import DEVICE_ORDERED
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


def device_overtakes(evs: list[dict[str, Any]]) -> int:
    """Events of an alarm panel, access controller or camera that arrive after a later one of
    the same device."""
    newest: dict[str, int] = {}
    n = 0
    for e in evs:
        if e["kind"] not in DEVICE_ORDERED:
            continue
        seen = newest.get(e["device_id"], e["event_time"])
        n += e["event_time"] < seen
        newest[e["device_id"]] = max(seen, e["event_time"])
    return n


def test_a_device_s_events_arrive_in_its_order_unless_reordered() -> None:
    """One connection per device: its events never overtake each other (a GRANTED swipe arriving
    after its own door's FORCED_OPEN 5 s later made provisional alerts that had to be
    retracted). Different devices still interleave out of order, and ``reorder_devices`` gives
    the independent delays of before, with the same events."""
    ordered = events_of(sim(3, 30, 7))
    reordered = events_of(simulate(SimConfig(seed=3, buildings=30, days=7, reorder_devices=True)))
    assert device_overtakes(ordered) == 0
    assert device_overtakes(reordered) > 0
    assert sorted(map(json.dumps, ordered)) == sorted(map(json.dumps, reordered))
    overtaken = 0
    newest = 0
    for e in ordered:  # out of order across devices all the same
        if e["kind"] in DEVICE_ORDERED:
            overtaken += e["event_time"] < newest
            newest = max(newest, e["event_time"])
    assert overtaken > 0
