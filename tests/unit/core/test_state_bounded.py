"""Expired window state is evicted: memory does not grow with the length of history."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from hub.core.engine import CorrelationEngine
from hub.model.events import Event
from tests.unit.core.helpers import (
    alarm,
    building,
    default_pack,
    engine_for,
    face,
    lookup,
    report,
    swipe,
)

DAY = 86_400_000
DAYS = 50
PER_DAY = 4_000  # 200,000 events in all, one every 21.6 s
RESULTS = ("GRANTED", "DENIED", "DENIED", "FORCED_OPEN", "HELD_OPEN", "TAILGATE", "GRANTED")


def history() -> Iterator[Event]:
    """Many simulated days; every key (door, credential, device, building, site) is new each day,
    so state that is never evicted grows with the number of days."""
    step = DAY // PER_DAY
    for day in range(DAYS):
        for i in range(PER_DAY):
            t = day * DAY + i * step
            n = day * PER_DAY + i
            eid = f"e{n}"
            site = f"S{day}-{i % 7}"
            bld = f"B{day}-{(i // 10) % 5}"
            sel = i % 10
            if sel < 2:
                yield alarm(
                    eid,
                    t,
                    ("INTRUSION", "TAMPER", "CLIMB")[i % 3],
                    site=site,
                    device_id=f"pa{day}-{i % 4}",
                )
            elif sel < 6:
                yield swipe(
                    eid,
                    t,
                    RESULTS[i % 7],
                    door=f"D{day}-{i % 9}",
                    cred=f"c{day}-{i % 11}",
                    site=site,
                    building_id=bld,
                )
            elif sel < 7:
                yield face(eid, t, similarity=0.95, site=site, building_id=bld)
            elif sel < 9:
                yield lookup(eid, t, f"v{i % 13}", building_id=bld)
            else:
                yield report(eid, t, f"R{day}-{i % 17}", building_id=bld)


def deep_size(engine: CorrelationEngine) -> int:
    """Everything held per key: states, their buffered/windowed events, timers and heaps."""
    n = engine.state_size()
    for rr in engine.rules:
        n += len(rr.heap)
        for st in rr.states.values():
            n += len(st.pending) + len(st.window) + len(st.timers)
            if st.incident is not None:
                n += len(st.incident.evidence)
    return n


@pytest.mark.slow
def test_state_does_not_grow_with_history() -> None:
    buildings = [building(f"B{d}-{k}", grid=f"G{d % 3}") for d in range(DAYS) for k in range(5)]
    engine = engine_for(default_pack(), *buildings)
    sizes: list[tuple[int, int, int]] = []
    incidents = 0
    for n, event in enumerate(history(), start=1):
        incidents += len(engine.process(event).incidents)
        if n % (DAYS * PER_DAY // 4) == 0:
            assert engine.dedup is not None
            sizes.append((engine.state_size(), deep_size(engine), len(engine.dedup)))
    incidents += len(engine.flush().incidents)
    assert engine.stats.events == DAYS * PER_DAY and engine.stats.late == 0
    assert incidents > 10_000  # the rules really fire all along: this is not an idle engine
    (q_states, q_deep, q_dedup), *_, (end_states, end_deep, end_dedup) = sizes
    assert q_states > 0 and q_deep > 0
    # bounded: the last quarter holds no more than the first (plus slack), although it has seen
    # four times the history and every key in it is new
    assert end_states <= q_states * 1.25 + 50, sizes
    assert end_deep <= q_deep * 1.25 + 200, sizes
    assert end_dedup <= q_dedup * 1.25 + 50, sizes  # retention 24 h of event time
    assert engine.state_size() == 0  # flush closes everything


def test_the_engine_leaves_no_reference_cycles() -> None:
    """hub/gc_policy.py collects rarely because the engine frees everything by reference count:
    a cycle created per event (a recursive closure once was one) would pile up between
    collections. Run a day of every rule type with the collector off, then look for garbage."""
    buildings = [building(f"B{d}-{k}", grid=f"G{d % 3}") for d in range(2) for k in range(5)]
    engine = engine_for(default_pack(), *buildings)
    events = [e for _, e in zip(range(2 * PER_DAY), history(), strict=False)]
    rules_fired: set[str] = set()
    gc.collect()
    gc.disable()
    try:
        for event in events:
            rules_fired.update(i.rule_id for i in engine.process(event).incidents)
        rules_fired.update(i.rule_id for i in engine.flush().incidents)
        garbage = gc.collect()
    finally:
        gc.enable()
    assert "watchlist_entry" in rules_fired  # the 'all' search, where the closure was
    assert len(rules_fired) >= 5, rules_fired
    assert garbage == 0
