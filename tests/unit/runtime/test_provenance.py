"""A LATE event's dead letter carries its own source, whenever its verdict is given
(hub/runtime/provenance.py)."""

from __future__ import annotations

import logging

import pytest

from benchmarks.hotpath import MemoryStore, Message
from hub.codec import load_codec
from hub.codec.internal import FRAME_HEADER, TICK_HEADER, TICK_ORIGINS_HEADER
from hub.core.registry import MemoryBuildingRegistry
from hub.core.rule_loading import load_rules
from hub.core.snapshot import event_json
from hub.model.events import Event
from hub.observability.metrics import create
from hub.runtime.correlator import Correlator
from hub.runtime.frames import FrameWriter, partition_for
from hub.runtime.outbox import Outbox
from hub.runtime.provenance import UNKNOWN
from hub.settings import CORRELATE_TOPIC, SOURCE_TOPICS, Settings
from tests.unit.core.helpers import T0, alarm, swipe
from tests.unit.runtime.test_frames import Recording, _correlator, _dead_letters

S = 1000
ALARMS, SWIPES = "hub.src.perimeter_alarm", "hub.src.access_swipe"


def _frame(entries: list[tuple[str, int, Event, int]], offset: int) -> list[Message]:
    """One frame per partition of (source topic, source partition, event, arrived)."""
    writer = FrameWriter(4)
    for n, (topic, partition, event, arrived) in enumerate(entries):
        writer.add_event([("site", "S1")], f"{topic}/{partition}/{offset + n}",
                         f"bytes of {event.event_id}".encode(), event_json(event), arrived)
    return [Message(CORRELATE_TOPIC, p, offset, None, value, [(FRAME_HEADER, b"1")])
            for p, value in writer.close()]


def test_a_late_event_in_hand_keeps_its_bytes_coordinates_and_timestamp() -> None:
    correlator, producer = _correlator(), Recording()
    outbox = Outbox(producer, load_codec(), "t")
    correlator.handle_batch(_frame([(SWIPES, 2, swipe("s1", 600 * S), T0 + 600 * S + 7)], 0),
                            outbox)
    correlator.handle_batch(_frame([(SWIPES, 2, swipe("s0", 100 * S), T0 + 100 * S + 5)], 10),
                            outbox)
    (dead,) = _dead_letters(producer.log)
    assert (dead["reason"], dead["source_topic"], dead["source_partition"],
            dead["source_offset"], dead["original_value"], dead["source_timestamp"]) == (
        "LATE", SWIPES, 2, 10, b"bytes of s0", T0 + 100 * S + 5)
    assert str(dead["detail"]).endswith("(lane site)")  # an event read in two lanes: which


def _tick(wall: int, offset: int) -> Message:
    """A tick vouching for every source partition of both kinds (quiet since the last one)."""
    origins = ",".join(f"{topic}/{p}" for topic in (ALARMS, SWIPES) for p in range(4))
    return Message(CORRELATE_TOPIC, partition_for("S1", 4), offset, None, b"",
                   [(TICK_HEADER, str(wall).encode()), (TICK_ORIGINS_HEADER, origins.encode())])


def test_a_held_alarm_judged_late_at_a_tick_is_dead_lettered_as_itself() -> None:
    """An alarm held by the flapping suppression (topology/rules/sources.yaml) is handed to the
    rules when its kind's bound passes it. An idle partition's bound runs on with quiet wall
    time and falls back to its watermark when it speaks again, so a rule may have moved past
    the alarm by then: LATE, decided at a tick. Its dead letter is the held alarm, re-encoded,
    not the tick (whose coordinates and empty value it carried before)."""
    settings = Settings.from_env()
    correlator = Correlator(
        pack=load_rules(settings.rules_dir), codec=load_codec(), registry=MemoryBuildingRegistry(),
        store=MemoryStore("", "changelog"), metrics=create(),
        origins={kind: [f"{topic}/{p}" for p in range(4)] for kind, topic in SOURCE_TOPICS.items()})
    producer = Recording()
    outbox = Outbox(producer, load_codec(), "t")
    every = [(topic, p, (alarm if topic == ALARMS else swipe)(f"{topic[8:]}{p}", 100 * S,
                                                              device_id=f"d{p}"), None)
             for topic in (ALARMS, SWIPES) for p in range(4)]
    correlator.handle_batch(_frame(every, 0), outbox)  # every bound at 70 s
    # a tick a second for 11 s, every partition quiet: idle (10 s), every bound runs on to 81 s
    correlator.handle_batch([_tick(T0 + i * S, 10 + i) for i in range(12)], outbox)
    # partition 1 speaks again, at 75 s: within its own lateness, held by the suppression
    correlator.handle_batch(_frame([(ALARMS, 1, alarm("held", 75 * S, device_id="d9"), None)],
                                   20), outbox)
    assert _dead_letters(producer.log) == []
    # partition 1 idle again: the alarms' bound passes 75 s, the suppression lets the alarm go
    correlator.handle_batch([_tick(T0 + i * S, 30 + i) for i in range(12, 24)], outbox)
    late = _dead_letters(producer.log)
    assert late, "the held alarm was not judged LATE: the scenario no longer reaches the case"
    for dead in late:
        assert dead["reason"] == "LATE" and "no longer at hand" in str(dead["detail"])
        assert (dead["source_topic"], dead["source_partition"], dead["source_offset"]) == (
            ALARMS, UNKNOWN, UNKNOWN)
        kind, record = load_codec().decode(bytes(dead["original_value"]))  # type: ignore[arg-type]
        assert (kind, record["event_id"], record["device_id"]) == ("perimeter_alarm", "held", "d9")


def test_a_device_whose_events_go_late_is_named_once_a_minute(
        caplog: pytest.LogCaptureFixture) -> None:
    """A clock running 45 s behind: every event of that device is LATE (its source's other
    devices moved the watermark on). Nothing said which device until someone read the dead
    letters; now the log names it, with how far behind its arrival the stamp was."""
    correlator, producer = _correlator(), Recording()
    outbox = Outbox(producer, load_codec(), "t")
    correlator.handle_batch(_frame([(SWIPES, 2, swipe("s1", 600 * S), T0 + 600 * S)], 0), outbox)
    slow = [swipe(f"slow{i}", (555 + i) * S, device_id="AC-SLOW") for i in range(3)]
    with caplog.at_level(logging.WARNING, logger="hub.runtime.correlator"):
        correlator.handle_batch(_frame([(SWIPES, 2, e, e.event_time + 45 * S) for e in slow], 10),
                                outbox)
    assert len(_dead_letters(producer.log)) == 3
    said = [r.getMessage() for r in caplog.records if "AC-SLOW" in r.getMessage()]
    assert len(said) == 1, said  # three LATE events, one line
    assert "event slow0" in said[0] and "reached Kafka 45.0 s after its stamp" in said[0], said
