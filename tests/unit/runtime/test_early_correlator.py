"""The correlation stage with early alerts on: what the worker publishes and keeps.

The batch loop around it runs against the real broker in
tests/integration/test_worker_skeleton.py; here a frame goes in and the produced records are
read back, so the ordering within a batch and the hand-over of provisional incidents through the
changelog are checked exactly.
"""

from __future__ import annotations

from benchmarks.hotpath import MemoryStore, Message
from hub.codec import load_codec
from hub.codec.internal import FRAME_HEADER
from hub.core.registry import MemoryBuildingRegistry
from hub.core.rule_loading import load_rules
from hub.core.snapshot import event_json
from hub.model.events import Event
from hub.observability.metrics import create
from hub.runtime.correlator import Correlator
from hub.runtime.frames import FrameWriter
from hub.runtime.outbox import Outbox
from hub.settings import CORRELATE_TOPIC, INCIDENTS_TOPIC, Settings
from tests.unit.core.helpers import alarm, building, swipe
from tests.unit.runtime.test_frames import Recording

CHANGELOG = "changelog"


class Preloaded(MemoryStore):
    """A changelog that holds what an earlier worker wrote."""

    def __init__(self, entries: dict[int, dict[bytes, bytes]]) -> None:
        super().__init__("", CHANGELOG)
        self.entries = entries

    def _restore(self, partitions: list[int]) -> dict[int, dict[bytes, bytes]]:
        return {p: dict(self.entries.get(p, {})) for p in partitions}


def correlator(store: MemoryStore | None = None) -> Correlator:
    registry = MemoryBuildingRegistry()
    registry.put(building())
    return Correlator(pack=load_rules(Settings.from_env().rules_dir), codec=load_codec(),
                      registry=registry, store=store or MemoryStore("", CHANGELOG),
                      metrics=create(), early=True)


def frame(*events: Event, offset: int = 0) -> Message:
    """One frame to partition 0 with ``events`` in this order (site lane)."""
    writer = FrameWriter(1)
    for i, e in enumerate(events):
        topic = f"hub.src.{e.kind}"
        writer.add_event([("site", e.site_id)], f"{topic}/0/{offset + i}", b"avro", event_json(e))
    ((p, value),) = writer.close()
    return Message(CORRELATE_TOPIC, p, offset, None, value, [(FRAME_HEADER, b"1")])


def flush(offset: int) -> Message:
    return Message(CORRELATE_TOPIC, 0, offset, None, b"", [("hub-control", b"flush")])


def incidents(producer: Recording) -> list[dict[str, object]]:
    codec = load_codec()
    return [codec.decode(value or b"")[1] for topic, _, value in producer.log
            if topic == INCIDENTS_TOPIC]


def test_an_alarm_read_after_its_door_event_in_one_batch_still_alerts_at_once() -> None:
    """Which source topic the consumer read first says nothing: within a frame the eager
    engine takes the events in event-time order."""
    c, producer = correlator(), Recording()
    c.handle_batch([frame(swipe("d1", 30_000, "DENIED"), alarm("a1", 0))],
                   Outbox(producer, load_codec(), "t"))
    got = incidents(producer)
    assert [(i["rule_id"], i["status"]) for i in got] == [
        ("perimeter_breach_entry", "PROVISIONAL")]
    assert [e["event_id"] for e in got[0]["evidence"]] == ["a1", "d1"]  # type: ignore[index]
    statuses = c.metrics.incident_statuses.labels("perimeter_breach_entry", "PROVISIONAL")
    assert statuses._value.get() == 1  # hub_incident_status_versions_total
    delays = c.metrics.incident_delay.labels("perimeter_breach_entry", "PROVISIONAL")
    assert delays._sum.get() > 0  # hub_incident_delay_seconds observed the alert


def test_without_early_alerts_only_confirmed_versions_go_out() -> None:
    c, producer = correlator(), Recording()
    c.early = False
    outbox = Outbox(producer, load_codec(), "t")
    c.handle_batch([frame(swipe("d1", 30_000, "DENIED"), alarm("a1", 0)), flush(1)], outbox)
    assert [(i["rule_id"], i["status"]) for i in incidents(producer)] == [
        ("perimeter_breach_entry", "CONFIRMED")]


def _forced_door_left_provisional() -> tuple[dict[str, object], dict[int, dict[bytes, bytes]]]:
    """A worker alerts a forced door provisionally and checkpoints: the incident and the
    changelog it leaves (partition 0)."""
    first, producer = correlator(), Recording()
    outbox = Outbox(producer, load_codec(), "t")
    first.handle_batch([frame(swipe("fo", 10_000, "FORCED_OPEN", door="D7"))], outbox)
    [provisional] = incidents(producer)
    assert (provisional["rule_id"], provisional["status"]) == ("forced_door", "PROVISIONAL")
    first.persist(outbox)
    written: dict[int, dict[bytes, bytes]] = {0: {}}
    for topic, key, value in producer.log:
        if topic == CHANGELOG and key is not None:
            if value is None:
                written[0].pop(key, None)
            else:
                written[0][key] = value
    assert b"0|site|early" in written[0]
    return provisional, written


def _successor_retracts(provisional: dict[str, object], written: dict[int, dict[bytes, bytes]]
                        ) -> tuple[Correlator, Recording, Outbox]:
    """A successor over ``written`` reads a GRANTED swipe at the door 6 s before the forced
    opening, arriving late (no absence): it retracts the predecessor's provisional incident."""
    successor, later = correlator(Preloaded(written)), Recording()
    outbox = Outbox(later, load_codec(), "t")
    successor.handle_batch([frame(swipe("g", 4_000, "GRANTED", door="D7"), offset=1),
                            flush(2)], outbox)
    got = incidents(later)
    assert [(i["incident_id"], i["status"]) for i in got] == [
        (provisional["incident_id"], "RETRACTED")]
    assert "did not match" in str(got[0]["status_reason"])
    return successor, later, outbox


def test_a_successor_retracts_what_its_predecessor_published_provisionally() -> None:
    """The provisional incidents awaiting a verdict travel with the state (``|early``)."""
    provisional, written = _forced_door_left_provisional()
    successor, later, outbox = _successor_retracts(provisional, written)
    successor.persist(outbox)
    tomb = [(k, v) for t, k, v in later.log if t == CHANGELOG and k == b"0|site|early"]
    assert tomb == [(b"0|site|early", None)]  # nothing awaits a verdict any more


def test_a_state_entry_that_does_not_read_starts_empty_and_the_rest_is_restored() -> None:
    """Only workers write the changelog, but an entry that does not read (bad JSON, a key that
    is not UTF-8, a manifest or a compressed value that is not one) must not fail every batch
    of its partition: it is logged and skipped, and the good state beside it is restored (the
    predecessor's provisional incident is retracted as without them)."""
    provisional, written = _forced_door_left_provisional()
    written[0].update({
        b"0|site|R|forced_door|D9": b"{not json",
        b"0|site|\xff|x|y": b"{}",
        b"0|site|R|door_held_open|D1": b"\x00hub-chunks:many",
        b"0|site|R|door_held_open|D2": b"\x00hub-zlib:not zlib",
    })
    _successor_retracts(provisional, written)
