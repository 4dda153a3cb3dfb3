"""A restart in mid-stream changes nothing: export the engine's state, load it into a new engine,
go on, and the incidents are those of an uninterrupted run.

The worker does exactly this through its changelog-backed table (tests/integration/
test_worker_crash.py proves it against the broker); this is the same property on the pure engine,
at many cut points, including keys that hold a lone dormant event and keys queued for release.
"""

from __future__ import annotations

import json

import pytest

from hub.core.engine import CorrelationEngine
from hub.core.registry import MemoryBuildingRegistry
from hub.model.events import Event
from hub.model.incidents import Incident
from tests.unit.core.helpers import building, default_pack
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


def test_state_json_text_reads_back_as_the_state_dict() -> None:
    """The worker writes ``export_state_json`` (each event's JSON made once); a restore reads it
    as the dict ``export_state`` gives, for every state changed over two days of a city."""
    engine = _engine()
    compared = 0
    for i, event in enumerate(EVENTS):
        engine.process(event)
        if i % 50:
            continue
        for ref in engine.take_dirty():
            as_dict = engine.export_state(ref)
            as_text = engine.export_state_json(ref)
            assert (as_text is None) == (as_dict is None)
            if as_text is not None:
                assert json.loads(as_text) == json.loads(json.dumps(as_dict)), ref
                compared += 1
    assert compared > 100


def test_state_json_parts_join_to_the_state_json_text() -> None:
    """The worker streams ``export_state_parts`` into the changelog's encoder."""
    engine = _engine()
    compared = 0
    for i, event in enumerate(EVENTS):
        engine.process(event)
        if i % 50:
            continue
        for ref in engine.take_dirty():
            parts = engine.export_state_parts(ref)
            text = engine.export_state_json(ref)
            assert (parts is None) == (text is None)
            if parts is not None:
                assert "".join(parts) == text, ref
                compared += 1
    assert compared > 100
