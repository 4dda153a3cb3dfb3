"""After a flush the engine goes on (hub.core.engine.CorrelationEngine.flush): the flushed time
is closed, newer events are taken as usual; a state flushed before that was so is reopened."""

from __future__ import annotations

import json

from hub.core.early import EagerEngine, EarlyCorrelation
from hub.core.registry import MemoryBuildingRegistry
from tests.unit.core.helpers import engine_for, ids, pack_of, swipe
from tests.unit.core.test_release import DENIALS, LATENESS, SEC

POS_INF = 2**62  # what a flush left as every rule's release bound before it reopened time


def test_after_a_flush_newer_events_correlate_and_older_ones_are_late() -> None:
    engine = engine_for(pack_of(DENIALS, lateness=LATENESS))
    for eid, t in (("d1", 0), ("d2", SEC), ("d3", 2 * SEC)):
        engine.process(swipe(eid, t, "DENIED"))
    (before,) = engine.flush().incidents
    assert ids(before) == ["d1", "d2", "d3"]
    old = engine.process(swipe("old", 2 * SEC, "DENIED"))  # the flushed time is closed
    assert [late.event.event_id for late in old.late] == ["old"]
    out = []
    for eid, t in (("n1", 60 * SEC), ("n2", 61 * SEC), ("n3", 62 * SEC)):
        result = engine.process(swipe(eid, t, "DENIED"))
        assert result.late == [], f"{eid} after the flush was LATE"
        out += result.incidents
    # released by the watermark, not only by a second flush
    out += engine.process(swipe("later", 62 * SEC + 2 * LATENESS, "DENIED", door="D9")).incidents
    (after,) = out
    assert ids(after) == ["n1", "n2", "n3"] and after.incident_id != before.incident_id


def test_a_state_flushed_to_infinity_before_is_reopened_when_restored() -> None:
    engine = engine_for(pack_of(DENIALS, lateness=LATENESS))
    engine.process(swipe("d1", 0, "DENIED"))
    meta = engine.export_meta()
    meta["released"] = {rule: POS_INF for rule in meta["released"]}  # as such a flush wrote it
    restored = engine_for(pack_of(DENIALS, lateness=LATENESS))
    restored.load_meta(json.loads(json.dumps(meta)))
    assert restored.process(swipe("d0", 0, "DENIED")).late != []  # its time stays closed
    assert restored.process(swipe("n1", 10 * SEC, "DENIED")).late == []


def test_early_correlation_after_a_flush_alerts_on_new_events_only() -> None:
    pack = pack_of(DENIALS, lateness=LATENESS)
    both = EarlyCorrelation(engine_for(pack), EagerEngine(pack, MemoryBuildingRegistry()))
    for eid, t in (("d1", 0), ("d2", SEC)):
        both.process(swipe(eid, t, "DENIED"))
    both.flush()
    # two denials before the flush and one after are not three: no provisional alert
    assert both.process(swipe("n1", 30 * SEC, "DENIED")).incidents == []
    provisional = [i for e in ("n2", "n3")
                   for i in both.process(swipe(e, 31 * SEC, "DENIED")).incidents]
    assert [ids(i) for i in provisional] == [["n1", "n2", "n3"]]
