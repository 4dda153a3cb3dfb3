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
from hub.runtime.handoff import KEEP_BATCHES, EventHandoff
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


def test_events_nobody_takes_age_out_after_the_last_batches() -> None:
    handoff = EventHandoff()
    handoff.put("a/0/1", swipe("e1", 1_000), 1)
    for _ in range(KEEP_BATCHES - 1):
        handoff.new_batch()
    assert len(handoff) == 1, "still within the batches kept"
    handoff.new_batch()
    assert handoff.take("a/0/1") is None
    assert len(handoff) == 0


def test_a_source_record_ingested_again_is_taken_from_its_newest_batch() -> None:
    """An aborted batch's events are put again when the batch is read again."""
    handoff = EventHandoff()
    first, again = swipe("e1", 1_000), swipe("e1", 1_000)
    handoff.put("a/0/1", first, 2)
    handoff.new_batch()
    handoff.put("a/0/1", again, 1)
    assert handoff.take("a/0/1") is again
    assert handoff.take("a/0/1") is first, "the older copy ages out in its own time"


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
