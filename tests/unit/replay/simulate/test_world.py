"""The shared state and event records (hub.replay.simulate.world)."""

from __future__ import annotations

from hub.replay.simulate.config import DAY_MS, SimConfig
from hub.replay.simulate.world import World


def test_a_world_spans_the_days_and_its_city_follows_the_seed() -> None:
    cfg = SimConfig(seed=5, buildings=6, days=3)
    world = World(cfg)
    assert world.end - world.start == 3 * DAY_MS
    assert len(world.city.buildings) == 6
    assert [b.record for b in World(cfg).city.buildings] == [b.record for b in world.city.buildings]
    assert world.injected == {} and world.labels == []  # the planners fill these, not the world


def test_a_report_chain_is_one_report_through_its_statuses() -> None:
    world = World(SimConfig(seed=5, buildings=6, days=3))
    b = world.city.buildings[0]
    history = [("REPORTED", world.start), ("ACCEPTED", world.start + 60_000)]
    chain = world.report_chain(b.grid_id, b, b.site_id, world.start, "DISPUTE", history=history)
    assert [(e["status"], e["event_time"]) for e in chain] == history
    assert len({e["report_id"] for e in chain}) == 1
    assert len({e["event_id"] for e in chain}) == 2
    assert all(e["building_id"] == b.building_id and e["grid_id"] == b.grid_id for e in chain)
    swipe = world.swipe(b, b.doors[0], world.start, None, "UNKNOWN", "HELD_OPEN", "UNKNOWN")
    assert (swipe["kind"], swipe["door_id"], swipe["device_id"]) == (
        "access_swipe", *b.doors[0])


def test_scheduled_events_are_emitted_with_their_day() -> None:
    world = World(SimConfig(seed=5, buildings=6, days=3))
    early = {"event_time": world.start + 5}
    late = {"event_time": world.start + 2 * DAY_MS + 5}
    world.schedule([early, late])
    assert world.injected == {0: [early], 2: [late]}
