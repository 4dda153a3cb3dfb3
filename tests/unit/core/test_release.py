"""Release by watermark (hub.core.release): what a rule is handed, when, in what order, and what
the sweep forgets afterwards."""

from __future__ import annotations

from typing import Any

from hub.core.engine import CorrelationEngine
from hub.core.watermark import NEG_INF
from tests.unit.core.helpers import T0, engine_for, ids, pack_of, swipe

SEC = 1_000
LATENESS = 5 * SEC

HELD: dict[str, Any] = {
    "id": "held", "type": "single", "title": "t", "by": "door_id", "within": "1m",
    "risk_level": "LOW", "match": {"kind": "access_swipe", "where": {"result": "HELD_OPEN"}},
}
DENIALS: dict[str, Any] = {
    "id": "denials", "type": "threshold", "title": "t", "by": "door_id", "within": "1m",
    "match": {"kind": "access_swipe", "where": {"result": "DENIED"}},
    "tiers": [{"count": 3, "risk_level": "MEDIUM"}],
}


def held_engine() -> CorrelationEngine:
    return engine_for(pack_of(HELD, lateness=LATENESS))


def test_nothing_is_released_until_the_watermark_has_passed_the_event() -> None:
    engine = held_engine()
    assert engine.released("held") == NEG_INF
    assert engine.process(swipe("h1", 0, "HELD_OPEN")).incidents == []
    assert engine.released("held") == T0 - LATENESS
    # the watermark reaches the event's time exactly: an event at that time could still come
    assert engine.process(swipe("x1", LATENESS, "DENIED")).incidents == []
    (inc,) = engine.process(swipe("x2", LATENESS + 1, "DENIED")).incidents
    assert ids(inc) == ["h1"] and inc.emitted_time == T0
    assert engine.released("held") == T0 + 1


def test_a_rule_is_handed_its_events_in_event_time_order_not_arrival_order() -> None:
    engine = engine_for(pack_of(DENIALS, lateness=LATENESS))
    for eid, t in (("d3", 2 * SEC), ("d1", 0), ("d2", SEC)):  # arrival order reversed
        assert engine.process(swipe(eid, t, "DENIED")).incidents == []
    (inc,) = engine.flush().incidents
    assert ids(inc) == ["d1", "d2", "d3"] and inc.emitted_time == T0 + 2 * SEC


def test_flush_releases_everything_and_forgets_every_rule_state() -> None:
    engine = held_engine()
    engine.process(swipe("h1", 0, "HELD_OPEN"))
    engine.process(swipe("d1", SEC, "DENIED"))
    assert engine.state_size() == 1 and engine.pending_events() == 1
    assert len(engine.flush().incidents) == 1
    # everything up to the newest event is released; time goes on from there (test_flush.py)
    assert engine.released("held") == T0 + SEC + 1
    assert engine.state_size() == 0 and engine.pending_events() == 0


def test_the_sweep_keeps_a_key_while_a_later_event_may_still_join_its_incident() -> None:
    engine = held_engine()
    engine.process(swipe("h1", 0, "HELD_OPEN"))
    engine.process(swipe("h2", 90 * SEC, "HELD_OPEN", door="D2"))  # releases h1
    assert engine.open_incident_id("held", "S1|D1") is not None


def test_the_sweep_forgets_a_key_once_its_window_and_incident_have_expired() -> None:
    engine = held_engine()
    engine.process(swipe("h1", 0, "HELD_OPEN"))
    # released to 10 min - 5 s, past h1's window and its incident's hold (1 min each); but the
    # sweep walks keys in the order they were last processed and stops at the first one alive
    engine.process(swipe("h2", 600 * SEC, "HELD_OPEN", door="D2"))
    assert engine.open_incident_id("held", "S1|D1") is not None
    engine.process(swipe("h3", 700 * SEC, "HELD_OPEN", door="D3"))  # D1 now comes first
    assert engine.open_incident_id("held", "S1|D1") is None
    assert engine.open_incident_id("held", "S1|D2") is not None
    assert engine.state_size() == 2  # D2 with its open incident, D3 still pending


def test_a_dormant_lone_event_stays_pending_and_a_second_one_wakes_its_key() -> None:
    engine = engine_for(pack_of(DENIALS, lateness=LATENESS))
    engine.process(swipe("d1", 0, "DENIED"))
    engine.process(swipe("x1", 20 * SEC, "DENIED", door="D9"))
    assert engine.pending_events() == 2  # released past both, but a lone denial cannot match
    engine.process(swipe("d2", 21 * SEC, "DENIED"))
    engine.process(swipe("d3", 22 * SEC, "DENIED"))
    (inc,) = engine.flush().incidents
    assert ids(inc) == ["d1", "d2", "d3"]
