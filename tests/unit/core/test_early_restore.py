"""Early alerts across a restart (hub.core.early: EarlyCorrelation.resume). The worker keeps the
confirmed engine's state and the pending provisionals at each checkpoint, not the eager engine's;
a successor restores the first two and starts its eager engine from them.

Stop 39's live probe (kill -9, rebalances): with the eager engine started empty, a successor
raised alerts again under new ids for incidents already confirmed (later retracted), missed
alerts that events before the restart had begun, and a provisional published after the last
checkpoint was never confirmed or retracted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from hub.core.early import EagerEngine, EarlyCorrelation
from hub.core.engine import CorrelationEngine
from hub.core.registry import MemoryBuildingRegistry
from hub.model.events import Building, Event
from hub.model.incidents import CONFIRMED, PROVISIONAL, RETRACTED, Incident
from tests.unit.core.helpers import alarm, building, default_pack, swipe
from tests.unit.core.test_state_bounded import PER_DAY, history

PACK = default_pack()
BUILDINGS = [building(f"B{d}-{k}", grid=f"G{d % 3}") for d in range(2) for k in range(5)]
EVENTS: list[Event] = [e for _, e in zip(range(2 * PER_DAY), history(), strict=False)]
SEC = 1_000


def _both(*buildings: Building) -> EarlyCorrelation:
    registry = MemoryBuildingRegistry()
    for b in buildings or BUILDINGS:
        registry.put(b)
    return EarlyCorrelation(CorrelationEngine(PACK, registry, track_changes=True),
                            EagerEngine(PACK, registry, dedup=False))


def _run(engine: EarlyCorrelation, events: Iterable[Event]) -> list[Incident]:
    out: list[Incident] = []
    for event in events:
        out.extend(engine.process(event).incidents)
    return out


def _checkpoint(engine: EarlyCorrelation) -> tuple[dict[str, str], str, list[dict[str, object]]]:
    """What the worker writes at a checkpoint, through JSON as in its changelog."""
    states = {json.dumps(ref): json.dumps(data) for ref in engine.confirmed.take_dirty()
              if (data := engine.confirmed.export_state(ref)) is not None}
    return states, json.dumps(engine.confirmed.export_meta()), engine.export_pending()


def _successor(saved: tuple[dict[str, str], str, list[dict[str, object]]],
               *buildings: Building) -> EarlyCorrelation:
    """A new worker's engines, restored as hub.runtime.correlator restores them."""
    states, meta, pending = saved
    engine = _both(*buildings)
    for ref, data in states.items():
        tag, ident, key = json.loads(ref)
        engine.confirmed.load_state((tag, ident, key), json.loads(data))
    engine.confirmed.load_meta(json.loads(meta))
    engine.load_pending(pending)
    engine.resume()
    return engine


def _ids(incidents: Iterable[Incident], status: str) -> set[str]:
    return {i.incident_id for i in incidents if i.status == status}


@pytest.mark.parametrize("cut", [500, 2_222, 4_001, 6_500])
def test_a_successor_alerts_as_an_uninterrupted_worker_would(cut: int) -> None:
    """Two days of a city, restarted at ``cut``: the successor raises no alert the
    uninterrupted run did not, misses none it raised after the cut, and confirms the same."""
    whole = _both()
    expected = _run(whole, EVENTS) + whole.flush().incidents

    before = _both()
    got = _run(before, EVENTS[:cut])
    after = _successor(_checkpoint(before))
    rest = _run(after, EVENTS[cut:]) + after.flush().incidents

    alerted_after_cut = _ids(expected[len(got):], PROVISIONAL) - _ids(got, PROVISIONAL)
    assert _ids(rest, PROVISIONAL) <= _ids(expected, PROVISIONAL)  # no false new alert
    assert alerted_after_cut <= _ids(rest, PROVISIONAL)  # none missed
    assert not _ids(rest, RETRACTED)
    assert sorted((i.incident_id, i.version) for i in got + rest if i.status == CONFIRMED) == \
        sorted((i.incident_id, i.version) for i in expected if i.status == CONFIRMED)
    assert len(alerted_after_cut) > 10


def test_a_provisional_published_after_the_last_checkpoint_still_gets_its_verdict() -> None:
    """Checkpoint after the alarm; the DENIED swipe completes a breach (PROVISIONAL, a1 first),
    then the worker dies. A late alarm a2 shows the confirmed breach starts at a2: the first
    alert must be retracted, by the successor, which re-reads from the checkpoint."""
    b = building()
    before = _both(b)
    out = _run(before, [alarm("a1", 0)])
    saved = _checkpoint(before)
    out += _run(before, [swipe("d1", 30 * SEC, "DENIED")])  # published, then the crash
    [first] = [i for i in out if i.status == PROVISIONAL]

    after = _successor(saved, b)
    out += _run(after, [swipe("d1", 30 * SEC, "DENIED"), alarm("a2", 20 * SEC),
                        swipe("x", 2 * 60 * SEC, "GRANTED", door="D9")])
    out += after.flush().incidents
    verdicts = {i.incident_id: i.status for i in out if i.status in (CONFIRMED, RETRACTED)}
    assert verdicts.get(first.incident_id) == RETRACTED
    assert CONFIRMED in verdicts.values()


def test_a_retracted_alert_is_not_raised_again_under_its_id() -> None:
    """The eager engine goes on with its own incident after the retraction; its next versions
    are not published (stop 39's probe saw RETRACTED v5, then PROVISIONAL v5)."""
    engine = _both(building())
    out = _run(engine, [alarm("a1", 0), swipe("d1", 30 * SEC, "DENIED"),
                        alarm("a2", 20 * SEC),  # late: the breach starts at a2, not a1
                        # both sources' watermarks pass 30 s: the a1 alert is retracted
                        alarm("t", 95 * SEC, "TAMPER", device_id="dev9"),
                        swipe("g", 95 * SEC, "GRANTED", door="D9"),
                        swipe("d2", 100 * SEC, "DENIED")])  # the eager a1 incident goes on
    out += engine.flush().incidents
    retracted = _ids(out, RETRACTED)
    assert retracted
    for ident in retracted:
        statuses = [i.status for i in out if i.incident_id == ident]
        assert statuses[statuses.index(RETRACTED) + 1:] == [], statuses
