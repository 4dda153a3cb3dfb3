"""Events handed from ingest to the correlator (hub.runtime.handoff): taken once per lane entry,
aged out when nobody takes them, and changing nothing the worker publishes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from benchmarks import hotpath
from hub.adapters.dedup_store import MemoryDedupStore
from hub.replay.simulate.config import SimConfig
from hub.replay.simulate.simulator import simulate
from hub.runtime.handoff import EventHandoff
from hub.settings import Settings
from tests.unit.core.helpers import swipe


def test_each_lane_entry_takes_the_event_once_then_the_frame_is_decoded() -> None:
    handoff = EventHandoff()
    event = swipe("e1", 1_000)
    handoff.put("hub.src.access_swipe/0/7", event, 2)
    assert handoff.take("hub.src.access_swipe/0/7") is event
    assert handoff.take("hub.src.access_swipe/0/7") is event
    assert handoff.take("hub.src.access_swipe/0/7") is None
    assert handoff.take("hub.src.access_swipe/0/8") is None
    assert len(handoff) == 0


def test_events_nobody_takes_age_out_once_newer_batches_hold_the_bound() -> None:
    handoff = EventHandoff(keep=3)
    handoff.put("a/0/1", swipe("e1", 1_000), 1)
    handoff.new_batch()
    handoff.put("a/0/2", swipe("e2", 1_000), 1)
    handoff.put("a/0/3", swipe("e3", 1_000), 1)
    handoff.new_batch()
    assert len(handoff) == 3, "the newer batches hold 2 < 3: the first is kept"
    handoff.put("a/0/4", swipe("e4", 1_000), 1)
    handoff.new_batch()
    assert handoff.take("a/0/1") is None, "dropped: the newer batches hold 3"
    assert handoff.take("a/0/2") is not None, "its batch is kept whole"
    assert len(handoff) == 2


def test_a_bound_counts_what_was_put_even_if_taken() -> None:
    """Memory is bounded by what ingest put, however much was taken meanwhile."""
    handoff = EventHandoff(keep=2)
    for n in range(10):
        handoff.put(f"a/0/{n}", swipe(f"e{n}", 1_000), 2)
        handoff.take(f"a/0/{n}")
        handoff.new_batch()
    assert len(handoff) == 2, "only the last two batches' events are left"
    assert handoff.take("a/0/9") is not None and handoff.take("a/0/7") is None


def test_a_source_record_ingested_again_replaces_the_aborted_copy() -> None:
    """An aborted batch's frames never became visible: only the copy put again is taken, and
    dropping the aborted batch later does not drop it."""
    handoff = EventHandoff(keep=1)
    first, again = swipe("e1", 1_000), swipe("e1", 1_000)
    handoff.put("a/0/1", first, 2)
    handoff.new_batch()
    handoff.put("a/0/1", again, 2)
    handoff.new_batch()  # the first batch is dropped here
    assert handoff.take("a/0/1") is again
    assert handoff.take("a/0/1") is again
    assert handoff.take("a/0/1") is None


def _published(path: Path, handoff: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What ingest and the correlator send, per topic, as a digest of keys and values."""
    digests: dict[str, Any] = {}

    class Recorder(hotpath.Producer):
        def produce(self, topic: str, key: bytes | None = None, value: bytes | None = None,
                    headers: list[tuple[str, bytes]] | None = None,
                    partition: int | None = None) -> None:
            digests.setdefault(topic, hashlib.sha256()).update(
                (key or b"") + b"|" + (value or b"") + b"\n")
            super().produce(topic, key, value, headers, partition)

    messages, registry = hotpath.source_messages(path, Settings.from_env().pseudonym_key)
    monkeypatch.setattr(hotpath, "Producer", Recorder)
    hotpath.run(messages, registry, MemoryDedupStore(), 500, 3, True, handoff)
    return {topic: d.hexdigest() for topic, d in sorted(digests.items())}


def test_the_worker_publishes_the_same_bytes_with_and_without_the_handoff(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Incidents, routed copies and the changelog's state, byte for byte: the handed event
    is the one the frame would have given (its JSON included, which the checkpoints write)."""
    sim = simulate(SimConfig(seed=5, buildings=12, days=1))
    path = tmp_path / "city.jsonl"
    path.write_text("".join(line + "\n" for line in (*sim.registry_lines, *sim.event_lines)),
                    encoding="utf-8")
    with_handoff = _published(path, True, monkeypatch)
    without = _published(path, False, monkeypatch)
    assert "hub.incidents" in with_handoff and any("changelog" in t for t in with_handoff)
    assert with_handoff == without
