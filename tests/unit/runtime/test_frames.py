"""Frames on the correlation topic (hub.runtime.frames): layout, partitions, bad frames."""

from __future__ import annotations

import json
import re
import struct

import pytest

from benchmarks.hotpath import MemoryStore, Message, Producer
from hub.codec import load_codec
from hub.codec.internal import (
    APP_HEADER,
    FRAME_HEADER,
    TICK_HEADER,
    TICK_ORIGINS_HEADER,
    TICK_PROGRESS_HEADER,
)
from hub.codec.seal import unseal
from hub.core.registry import MemoryBuildingRegistry
from hub.core.rule_loading import load_rules
from hub.core.snapshot import event_json
from hub.observability.metrics import create
from hub.runtime.correlator import Correlator
from hub.runtime.frames import (
    FRAME_BYTES,
    FrameError,
    FrameWriter,
    partition_for,
    read_frame,
)
from hub.runtime.outbox import Outbox
from hub.settings import CORRELATE_TOPIC, DEADLETTER_TOPIC, Settings
from tests.unit.core.helpers import swipe

#: What librdkafka's murmur2_random partitioner (and the Java client's default) chose for these
#: keys among 4 partitions, read back from a real broker (2026-12-03).
KAFKA_CHOSE = {"SITE-0001": 1, "p1:30fc83fbf96ccc364d71d3a21a213e77": 2, "": 1, "a": 0,
               "ab": 2, "abc": 3, "abcd": 0, "翠苑3幢": 1}


@pytest.mark.parametrize("key", sorted(KAFKA_CHOSE))
def test_a_keys_partition_is_the_one_kafka_gives_it(key: str) -> None:
    assert partition_for(key, 4) == KAFKA_CHOSE[key]


def test_entries_come_back_per_partition_in_the_order_they_were_added() -> None:
    writer = FrameWriter(4)
    added = []
    for i in range(40):
        key = f"SITE-{i % 7:04d}"
        body = bytes([i]) * (i + 1)
        event = json.dumps(["access_swipe", {"event_id": f"e{i}", "n": i}])
        writer.add_event([("site", key)], f"hub.src.x/0/{i}", body, event)
        added.append((partition_for(key, 4), "site", key, f"hub.src.x/0/{i}", body, f"e{i}"))
    frames = writer.close()
    assert len({p for p, _ in frames}) == len(frames), "one frame per partition in a small batch"
    got = [(p, e.lane, e.key, e.src, e.body, e.fields["event_id"])
           for p, value in frames for e in read_frame(value)]
    assert sorted(got, key=lambda g: (g[0], int(g[3].rsplit("/", 1)[1]))) == sorted(
        added, key=lambda a: (a[0], int(a[3].rsplit("/", 1)[1])))
    for p in {g[0] for g in got}:
        mine = [g for g in got if g[0] == p]
        assert mine == [a for a in added if a[0] == p]
    assert writer.close() == [], "close hands each frame out once"


def test_a_full_frame_is_closed_and_the_next_entry_starts_another() -> None:
    writer = FrameWriter(1)
    body = b"x" * 100_000
    n = FRAME_BYTES // 100_000 + 3
    for i in range(n):
        writer.add_event([("site", "k")], f"t/0/{i}", body, '["k",{}]')
    frames = writer.close()
    assert len(frames) == 2
    assert all(len(value) <= FRAME_BYTES + 100_200 for _, value in frames)
    assert [e.src for _, v in frames for e in read_frame(v)] == [f"t/0/{i}" for i in range(n)]


def _frame(meta: bytes, rest: bytes = b"", magic: bytes = b"HF2") -> bytes:
    return magic + struct.pack(">I", len(meta)) + meta + rest


@pytest.mark.parametrize(("value", "says"), [
    (None, "not a frame"),
    (b"", "not a frame"),
    (b"\x00\x01garbage", "not a frame"),
    (b"HF2\x00\x00\x00\x50[]", "runs past"),
    (_frame(b"[[\"site\","), "does not parse"),
    (_frame(b"[[\"site\",\"k\"]]"), "are not [lane, key, src, event length, body length"),
    (_frame(b"[[\"site\",\"k\",\"t/0/1\",-2,5,null]]", b"abc"), "lengths >= 0"),
    (_frame(b"[[\"site\",\"k\",\"t/0/1\",\"2\",5,null]]", b"abc"), "lengths >= 0"),
    (_frame(b"[[\"site\",\"k\",\"t/0/1\",2,5,null]]", b"abc"), "bodies end at byte"),
    # the first layout (HF1), still read
    (_frame(b"[[\"site\",\"k\"]]", magic=b"HF1"), "are not [lane, key, src, length, event]"),
    (_frame(b"[[\"site\",\"k\",\"t/0/1\",5,[\"k\",{}]]]", b"abc", b"HF1"),
     "bodies end at byte"),
])
def test_a_malformed_frame_is_refused_before_any_entry(value: bytes | None, says: str) -> None:
    with pytest.raises(FrameError, match=re.escape(says)):
        read_frame(value)


def test_an_entrys_event_is_parsed_only_when_asked_and_a_bad_one_names_its_entry() -> None:
    good, bad = b'["access_swipe",{"event_id":"e1"}]', b'["access_swipe",'
    meta = json.dumps([["site", "S", "t/0/1", len(good), 2, None],
                       ["site", "S", "t/0/2", len(bad), 2, 5]]).encode()
    first, second = read_frame(_frame(meta, good + b"AV" + bad + b"BV"))
    assert (first.body, first.kind, first.fields) == (b"AV", "access_swipe", {"event_id": "e1"})
    assert (second.body, second.arrived, second.kind) == (b"BV", 5, None)
    with pytest.raises(FrameError, match=re.escape("entry t/0/2: its event is not JSON")):
        second.event()


def test_a_frame_of_the_first_layout_reads_as_it_did() -> None:
    """A worker upgraded while the correlation topic holds an older worker's frames."""
    meta = json.dumps([["site", "S1", "hub.src.access_swipe/0/7", 2,
                        ["access_swipe", {"event_id": "s1"}], 1_234],
                       ["site", "S1", "hub.src.access_swipe/0/8", 3,
                        ["access_swipe", {"event_id": "s2"}], None]]).encode()
    entries = list(read_frame(_frame(meta, b"AVBV2", b"HF1")))
    assert [(e.src, e.body, e.arrived, e.kind, e.fields["event_id"]) for e in entries] == [
        ("hub.src.access_swipe/0/7", b"AV", 1_234, "access_swipe", "s1"),
        ("hub.src.access_swipe/0/8", b"BV2", None, "access_swipe", "s2")]


def _correlator() -> Correlator:
    settings = Settings.from_env()
    registry = MemoryBuildingRegistry()
    return Correlator(pack=load_rules(settings.rules_dir), codec=load_codec(),
                      registry=registry, store=MemoryStore("", "changelog"), metrics=create())


def _dead_letters(sent: list[tuple[str, bytes | None, bytes | None]]) -> list[dict[str, object]]:
    """The dead letters sent, each with its original value unsealed: a message here that no
    hub worker wrote as it is keeps its bytes sealed (they were never searched for a personal
    number); a LATE event's are ingest's, kept readable."""
    codec = load_codec()
    letters = [codec.decode(value or b"")[1] for topic, _, value in sent
               if topic == DEADLETTER_TOPIC]
    for letter in letters:
        assert letter["original_sealed"] == (letter["reason"] != "LATE"
                                             and bool(letter["original_value"])), letter
        if letter["original_sealed"]:
            letter["original_value"] = unseal(letter["original_value"],
                                              Settings.deadletter_key)
    return letters


class Recording(Producer):
    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, bytes | None, bytes | None]] = []

    def produce(self, topic: str, key: bytes | None = None, value: bytes | None = None,
                headers: list[tuple[str, bytes]] | None = None,
                partition: int | None = None) -> None:
        self.log.append((topic, key, value))
        super().produce(topic, key, value, headers, partition)


def test_a_frame_that_does_not_read_is_one_dead_letter_with_its_bytes() -> None:
    correlator, producer = _correlator(), Recording()
    bad = b"HF2\x00\x00\x00\x02[]junk"
    correlator.handle_batch([Message(CORRELATE_TOPIC, 2, 17, None, bad, [(FRAME_HEADER, b"1")])],
                            Outbox(producer, load_codec(), "t"))
    (dead,) = _dead_letters(producer.log)
    assert (dead["reason"], dead["source_topic"], dead["source_partition"],
            dead["source_offset"], dead["original_value"]) == (
        "PROCESSING_ERROR", CORRELATE_TOPIC, 2, 17, bad)
    assert "bodies end at byte" in str(dead["detail"])


P, D = "PROCESSING_ERROR", "DECODE_ERROR"
FRAME = [(FRAME_HEADER, b"1")]
HOSTILE = {
    "frame JSON a number": (b"HF2\x00\x00\x00\x015", FRAME, P, "not a list"),
    "frame JSON null": (b"HF2\x00\x00\x00\x04null", FRAME, P, "not a list"),
    "entry src not a string": (_frame(b'[["site","k",7,0,0,null]]'), FRAME, P, "with strings"),
    "entry lane a list": (_frame(b'[[["s"],"k","t/0/1",0,0,null]]'), FRAME, P, "with strings"),
    "first-layout entry src a number": (_frame(b'[["site","k",7,0,["access_swipe",{}]]]',
                                               magic=b"HF1"), FRAME, P, "with strings"),
    "forward with headers not UTF-8": (b"junk", [("kind", b"\xff"), ("hub-src", b"\xff/1"),
                                                 ("hub-lane", b"\xfe")], D, "not Avro"),
    "forward from partition superscript 2": (b"junk", [("hub-src", "t/\u00b2/1".encode())],
                                             D, "not Avro"),
    "tick not a number": (None, [(TICK_HEADER, b"abc")], P, "a tick that does not read"),
    "tick origins not UTF-8": (None, [(TICK_HEADER, b"1"), (TICK_ORIGINS_HEADER, b"\xff")],
                               P, "a tick that does not read"),
    "tick progress not JSON": (None, [(TICK_HEADER, b"1"), (TICK_PROGRESS_HEADER, b"{x")],
                               P, "a tick that does not read"),
    "tick progress a list": (None, [(TICK_HEADER, b"1"), (TICK_PROGRESS_HEADER, b"[1]")],
                             P, "a tick that does not read"),
    "tick progress not ms": (None, [(TICK_HEADER, b"1"),
                                    (TICK_PROGRESS_HEADER, b'{"hub.src.access_swipe/0": null}')],
                             P, "a tick that does not read"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_message_on_the_correlation_topic_is_one_dead_letter(case: str) -> None:
    """Only workers write there, but a message that does not read must not fail every batch
    that reads it (the worker would exit and read it again, for ever): it is dead-lettered and
    the batch goes on, here to a good frame after it."""
    value, headers, reason, says = HOSTILE[case]
    correlator, producer = _correlator(), Recording()
    writer = FrameWriter(1)
    writer.add_event([("no-such-lane", "S")], "hub.src.access_swipe/0/9", b"after",
                     event_json(swipe("e9", 1_000)))
    ((_, good),) = writer.close()
    correlator.handle_batch([Message(CORRELATE_TOPIC, 0, 1, None, value, headers),
                             Message(CORRELATE_TOPIC, 0, 2, None, good, [(FRAME_HEADER, b"1")])],
                            Outbox(producer, load_codec(), "t"))
    hostile, after = _dead_letters(producer.log)
    assert (hostile["reason"], hostile["source_offset"]) == (reason, 1)
    assert says in str(hostile["detail"])
    assert after["original_value"] == b"after"  # the next message was handled


def test_an_entry_for_a_lane_no_rule_uses_is_a_dead_letter_at_its_source() -> None:
    correlator, producer = _correlator(), Recording()
    writer = FrameWriter(4)
    writer.add_event([("no-such-lane", "SITE-0001")], "hub.src.access_swipe/3/99", b"original",
                     event_json(swipe("e1", 1_000)))
    ((p, value),) = writer.close()
    correlator.handle_batch([Message(CORRELATE_TOPIC, p, 5, None, value,
                                     [(FRAME_HEADER, b"1")])],
                            Outbox(producer, load_codec(), "t"))
    (dead,) = _dead_letters(producer.log)
    assert (dead["source_topic"], dead["source_partition"], dead["source_offset"],
            dead["original_value"], dead["original_key"]) == (
        "hub.src.access_swipe", 3, 99, b"original", b"SITE-0001")
    assert "no-such-lane" in str(dead["detail"])


def test_an_entry_carries_its_arrival_and_older_frames_read_without_one() -> None:
    """The sixth element is the source record's timestamp (docs/adr/0006)."""
    e = swipe("s1", 0)
    writer = FrameWriter(1)
    writer.add_event([("site", "S1")], "hub.src.access_swipe/0/7", b"AV", event_json(e), 1_234)
    writer.add_event([("site", "S1")], "hub.src.access_swipe/0/8", b"BV", event_json(e))
    [(_, value)] = writer.close()
    assert [x.arrived for x in read_frame(value)] == [1_234, None]
    # a frame written before arrivals existed: five elements per entry
    meta = json.dumps([["site", "S1", "hub.src.access_swipe/0/7", 2, json.loads(event_json(e))]])
    old = b"HF1" + struct.pack(">I", len(meta)) + meta.encode() + b"AV"
    [entry] = read_frame(old)
    assert (entry.arrived, entry.body, entry.fields["event_id"]) == (None, b"AV", "s1")


def test_an_entry_whose_event_does_not_read_is_one_dead_letter_the_rest_go_on() -> None:
    correlator, producer = _correlator(), Recording()
    good = event_json(swipe("e1", 1_000)).encode()
    meta = json.dumps([["site", "SITE-0001", "hub.src.access_swipe/1/40", 9, 2, None],
                       ["site", "SITE-0001", "hub.src.access_swipe/1/41", len(good), 2, None]])
    value = _frame(meta.encode(), b'["broken"' + b"AV" + good + b"BV")
    correlator.handle_batch([Message(CORRELATE_TOPIC, 1, 3, None, value,
                                     [(FRAME_HEADER, b"1")])],
                            Outbox(producer, load_codec(), "t"))
    (dead,) = _dead_letters(producer.log)
    assert (dead["source_topic"], dead["source_offset"], dead["original_value"]) == (
        "hub.src.access_swipe", 40, b"AV")
    assert "entry hub.src.access_swipe/1/40: its event is not JSON" in str(dead["detail"])
    assert correlator.pending_events() > 0, "the second entry reached the site lane"


def test_an_event_for_several_lanes_makes_the_entries_it_would_lane_by_lane() -> None:
    e = event_json(swipe("s1", 0))
    targets = [("site", "SITE-0001"), ("credential_hash", "p1:30fc83fbf96ccc364d71d3a21a213e77"),
               ("grid", "翠苑3幢")]
    once, each = FrameWriter(4), FrameWriter(4)
    once.add_event(targets, "hub.src.access_swipe/2/5", b"AV", e, 1_234)
    for lane, key in targets:
        each.add_event([(lane, key)], "hub.src.access_swipe/2/5", b"AV", e, 1_234)
    frames = once.close()
    assert frames == each.close()
    assert sorted((e.lane, e.key) for _, v in frames for e in read_frame(v)) == sorted(targets)


def _site_frame(event_id: str, t: int, offset: int) -> bytes:
    writer = FrameWriter(1)
    writer.add_event([("site", "SITE-0001")], f"hub.src.access_swipe/1/{offset}", b"AV",
                     event_json(swipe(event_id, t)), t)
    ((_, value),) = writer.close()
    return value


@pytest.mark.parametrize(("tick_app", "late"), [(b"another-hub", False), (b"tianluo-hub", True),
                                                (None, True)])
def test_another_apps_ticks_and_frames_are_skipped(tick_app: bytes | None, late: bool) -> None:
    """Two hubs on one broker share the correlation topic. Another hub's tick, far ahead, used
    to move this hub's clocks past the events its own frames brought later: each was LATE.
    Its own app's ticks, and ticks without an app id, still count."""
    correlator, producer = _correlator(), Recording()
    assert correlator.app == b"tianluo-hub"
    mine = [(FRAME_HEADER, b"1"), (APP_HEADER, b"tianluo-hub")]
    progress = json.dumps({"hub.src.access_swipe/1": 50_000_000}).encode()
    tick = [(TICK_HEADER, b"1"), (TICK_ORIGINS_HEADER, b""), (TICK_PROGRESS_HEADER, progress)]
    if tick_app is not None:
        tick.append((APP_HEADER, tick_app))
    foreign_frame = [(FRAME_HEADER, b"1"), (APP_HEADER, b"another-hub")]
    correlator.handle_batch([
        Message(CORRELATE_TOPIC, 0, 1, None, _site_frame("e1", 1_000, 1), mine),
        Message(CORRELATE_TOPIC, 0, 2, None, None, tick),
        Message(CORRELATE_TOPIC, 0, 3, None, _site_frame("e0", 49_000_000, 0), foreign_frame),
        Message(CORRELATE_TOPIC, 0, 4, None, _site_frame("e2", 2_000, 2), mine),
    ], Outbox(producer, load_codec(), "t"))
    dead = _dead_letters(producer.log)
    assert [d["reason"] for d in dead] == (["LATE"] if late else [])
    assert correlator.pending_events() == (1 if late else 2)
    skipped = correlator.metrics.foreign_messages._value.get()
    assert skipped == (1 if late else 2)
