"""Flapping suppression (hub.core.flapping): the shipped ``alarm_flapping`` (device_id +
alarm_type, 10 s) drops a repeat within 10 s of the previous alarm before any rule sees it,
decided in event-time order once the watermark has passed.
"""

from __future__ import annotations

from hub.core.engine import CorrelationEngine
from hub.core.flapping import suppression_key
from hub.core.registry import MemoryBuildingRegistry
from hub.model.events import Event
from hub.model.incidents import Incident
from tests.unit.core.helpers import (
    alarm,
    building,
    default_pack,
    engine_for,
    feed,
    ids,
    of_rule,
    swipe,
)

PACK = default_pack()
SEC = 1_000
MIN = 60_000
(FLAPPING,) = PACK.suppressions


def test_the_suppression_key_joins_the_by_fields_and_a_missing_one_is_empty() -> None:
    assert FLAPPING.by == ("device_id", "alarm_type")
    assert suppression_key(FLAPPING, alarm("a1", 0, "TAMPER", device_id="pa-1")) == "pa-1|TAMPER"
    assert suppression_key(FLAPPING, alarm("a2", 0, "TAMPER", device_id=None)) == "|TAMPER"


def run_engine(events: list[Event]) -> tuple[list[Incident], int]:
    engine = engine_for(PACK, building())
    out = feed(engine, events)
    return out, engine.stats.suppressed


def test_flapping_within_10s_is_suppressed_and_counted() -> None:
    out, suppressed = run_engine([alarm("t1", 0, "TAMPER"), alarm("t2", 10 * SEC, "TAMPER")])
    (inc,) = of_rule(out, "device_tamper")
    assert ids(inc) == ["t1"] and suppressed == 1


def test_flapping_10s_plus_1ms_is_a_new_alarm() -> None:
    out, suppressed = run_engine([alarm("t1", 0, "TAMPER"), alarm("t2", 10 * SEC + 1, "TAMPER")])
    incs = of_rule(out, "device_tamper")
    assert [ids(i) for i in incs] == [["t1"], ["t1", "t2"]] and suppressed == 0


def test_flapping_chain_measures_from_the_previous_alarm() -> None:
    out, suppressed = run_engine(
        [alarm("t1", 0, "TAMPER"), alarm("t2", 8 * SEC, "TAMPER"), alarm("t3", 16 * SEC, "TAMPER")]
    )
    assert suppressed == 2
    assert [ids(i) for i in of_rule(out, "device_tamper")] == [["t1"]]


def test_flapping_is_per_device_and_alarm_type() -> None:
    out, suppressed = run_engine(
        [
            alarm("t1", 0, "TAMPER", device_id="pa-1"),
            alarm("t2", SEC, "TAMPER", device_id="pa-2"),
            alarm("i1", 2 * SEC, "INTRUSION", device_id="pa-1"),
        ]
    )
    assert suppressed == 0
    assert len(of_rule(out, "device_tamper")) == 2


def test_suppressed_alarm_is_not_evidence_for_a_sequence() -> None:
    # the flapping repeat at 10 s is suppressed, so the swipe 5 min after IT is too late
    out, suppressed = run_engine(
        [alarm("a1", 0), alarm("a2", 10 * SEC), swipe("s1", 5 * MIN + 5 * SEC, "DENIED")]
    )
    assert suppressed == 1
    assert of_rule(out, "perimeter_breach_entry") == []


def test_what_is_suppressed_does_not_depend_on_arrival_order() -> None:
    chain = [alarm(f"t{n + 1}", n * 8 * SEC, "TAMPER") for n in range(3)]  # 0, 8 s, 16 s
    for order in ([0, 1, 2], [2, 0, 1], [1, 2, 0]):  # all within the 30 s lateness
        out, suppressed = run_engine([chain[i] for i in order])
        assert suppressed == 2
        assert [ids(i) for i in of_rule(out, "device_tamper")] == [["t1"]]


def test_a_covered_alarm_waits_in_the_suppression_until_its_watermark_passes() -> None:
    registry = MemoryBuildingRegistry()
    registry.put(building())
    engine = CorrelationEngine(PACK, registry, track_changes=True)
    engine.process(alarm("t1", 0, "TAMPER", device_id="pa-1"))
    assert engine.pending_events() == 1  # in the suppression's buffer, not yet any rule's
    ref = ("S", FLAPPING.id, "pa-1|TAMPER")
    assert ref in engine.take_dirty()
    held = engine.export_state(ref)
    assert held is not None and len(held["p"]) == 1 and held["last"] is None
    (inc,) = engine.process(alarm("t2", 31 * SEC, "TAMPER", device_id="pa-9")).incidents
    assert ids(inc) == ["t1"]
    exported = engine.export_state(ref)
    assert exported is not None and "p" not in exported and exported["last"] == inc.first_event_time
