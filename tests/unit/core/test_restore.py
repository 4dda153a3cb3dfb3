"""Export and restore (hub.core.restore). A restart in mid-stream changes nothing: export the
engine's state, load it into a new engine, go on, and the incidents are those of an
uninterrupted run.

The worker does exactly this through its changelog-backed table (tests/integration/
test_worker_crash.py proves it against the broker); this is the same property on the pure engine,
at many cut points, including keys that hold a lone dormant event and keys queued for release.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from hub.core.engine import CorrelationEngine, StateRef
from hub.core.registry import MemoryBuildingRegistry
from hub.model.events import Event
from hub.model.incidents import Incident
from tests.unit.core.helpers import building, default_pack, swipe
from tests.unit.core.test_state_bounded import PER_DAY, history

PACK = default_pack()
BUILDINGS = [building(f"B{d}-{k}", grid=f"G{d % 3}") for d in range(2) for k in range(5)]
EVENTS: list[Event] = [e for _, e in zip(range(2 * PER_DAY), history(), strict=False)]


def _engine() -> CorrelationEngine:
    registry = MemoryBuildingRegistry()
    for b in BUILDINGS:
        registry.put(b)
    return CorrelationEngine(PACK, registry, track_changes=True)


def _facts(incidents: list[Incident]) -> list[tuple[str, int, str, tuple[str, ...]]]:
    return sorted(
        (i.incident_id, i.version, i.risk_level, tuple(e.event_id for e in i.evidence))
        for i in incidents
    )


def _run(events: list[Event], engine: CorrelationEngine) -> list[Incident]:
    out: list[Incident] = []
    for event in events:
        out.extend(engine.process(event).incidents)
    return out


@pytest.mark.parametrize("cut", [1, 37, 500, 2_222, 4_001, 6_500, 2 * PER_DAY - 1])
def test_export_and_load_in_mid_stream_gives_the_same_incidents(cut: int) -> None:
    whole = _engine()
    expected = _run(EVENTS, whole) + whole.flush().incidents

    before = _engine()
    got = _run(EVENTS[:cut], before)
    # what the worker writes back after a batch, through JSON as in the table
    saved = {
        ref: json.dumps(data)
        for ref in before.take_dirty()
        if (data := before.export_state(ref)) is not None
    }
    meta = json.dumps(before.export_meta())
    assert saved, "the cut must leave state to carry over"

    after = _engine()
    for ref, data in saved.items():
        assert after.load_state(ref, json.loads(data))
    after.load_meta(json.loads(meta))
    got += _run(EVENTS[cut:], after) + after.flush().incidents

    assert _facts(got) == _facts(expected)
    assert len(expected) > 100


def _text_read_back(engine: CorrelationEngine, ref: StateRef) -> object:
    text = engine.export_state_json(ref)
    return None if text is None else json.loads(text)


def _dict_through_json(engine: CorrelationEngine, ref: StateRef) -> object:
    data = engine.export_state(ref)
    return None if data is None else json.loads(json.dumps(data))


def _parts_joined(engine: CorrelationEngine, ref: StateRef) -> object:
    parts = engine.export_state_parts(ref)
    return None if parts is None else "".join(parts)


def _text(engine: CorrelationEngine, ref: StateRef) -> object:
    return engine.export_state_json(ref)


@pytest.mark.parametrize(("written", "reference"), [
    # The worker writes export_state_json (each event's JSON made once); a restore reads it as
    # the dict export_state gives.
    pytest.param(_text_read_back, _dict_through_json, id="json-text-reads-back-as-the-dict"),
    # The worker streams export_state_parts into the changelog's encoder.
    pytest.param(_parts_joined, _text, id="json-parts-join-to-the-json-text"),
])
def test_the_forms_the_worker_writes_agree_with_the_state(
        written: Callable[[CorrelationEngine, StateRef], object],
        reference: Callable[[CorrelationEngine, StateRef], object]) -> None:
    """Every state changed over two days of a city, sampled every 50 events: the form the worker
    writes is the same state as its reference form (both absent, or equal)."""
    engine = _engine()
    compared = 0
    for i, event in enumerate(EVENTS):
        engine.process(event)
        if i % 50:
            continue
        for ref in engine.take_dirty():
            got, want = written(engine, ref), reference(engine, ref)
            assert got == want, ref
            if want is not None:
                compared += 1
    assert compared > 100


def test_take_dirty_lists_each_changed_state_once_in_order_then_starts_again() -> None:
    engine = _engine()
    engine.process(swipe("d2", 0, "DENIED", door="D2"))
    engine.process(swipe("d1", 0, "DENIED", door="D1"))
    engine.process(swipe("d3", 1, "DENIED", door="D1"))
    assert engine.take_dirty() == [("R", "credential_brute_force", "S1|D1"),
                                   ("R", "credential_brute_force", "S1|D2"),
                                   ("R", "perimeter_breach_entry", "S1")]
    assert engine.take_dirty() == []
    assert CorrelationEngine(PACK).take_dirty() == []  # not tracked: nothing to write back


def test_states_of_rules_no_longer_in_the_pack_are_not_loaded() -> None:
    engine = _engine()
    assert engine.export_state(("R", "credential_brute_force", "nobody")) is None
    assert engine.export_state(("R", "retired_rule", "D1")) is None
    assert not engine.load_state(("R", "retired_rule", "D1"), {"u": 0})
    assert not engine.load_state(("S", "retired_suppression", "k"), {"last": 0})


def test_meta_restores_each_origins_clock_and_reads_the_older_one_clock_form() -> None:
    engine = _engine()
    engine.load_meta({"clocks": {"access_swipe": {"": 5_000, "p1": 7_000},
                                 "perimeter_alarm": 3_000, "not_read": {"": 1}},
                      "released": {"credential_brute_force": 2_000}})
    meta = engine.export_meta()
    assert meta["clocks"]["access_swipe"] == {"": 5_000, "p1": 7_000}
    assert meta["clocks"]["perimeter_alarm"] == {"": 3_000}
    assert "not_read" not in meta["clocks"]
    assert meta["released"]["credential_brute_force"] == 2_000
    assert engine.released("credential_brute_force") == 2_000

