"""Replay I/O without a broker (hub.replay.replay): loading inputs, the producer loop with fakes,
shifting and filtering, failure accounting; and recordings round-tripping (hub.replay.record)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hub.codec import load_codec
from hub.replay.record import (
    RecordedMessage,
    UnreadableRecording,
    is_recording,
    parse_time,
    read_recording,
    recording_metadata,
    write_recording,
)
from hub.replay.replay import load_messages, replay_file, replay_messages
from hub.replay.replay_plan import (
    Pacer,
    ReplayMessage,
    ReplaySummary,
    kind_of_message,
    parse_topic_map,
)
from hub.settings import REGISTRY_TOPIC, SOURCE_TOPICS, Settings
from tests.unit.replay.support import T0, FakeClock, FakeProducer


def test_replay_at_speed_sends_on_schedule_with_an_injected_clock() -> None:
    clock = FakeClock()
    producer = FakeProducer(clock)
    messages = [ReplayMessage("t", b"k", b"v", (), ts) for ts in (T0, T0 + 30_000, T0 + 60_000)]
    summary = replay_messages(
        messages,
        producer,
        ReplaySummary("x"),  # type: ignore[arg-type]
        pacer=Pacer(10.0, clock=clock, sleep=clock.sleep),
        codec=load_codec(),
    )
    assert [round(s["at"] - 100.0, 6) for s in producer.sent] == [0.0, 3.0, 6.0]
    assert [s["timestamp"] for s in producer.sent] == [T0, T0 + 30_000, T0 + 60_000]
    assert summary.ok and summary.delivered == 3


def _jsonl(tmp_path: Path) -> Path:
    lines = [
        {
            "kind": "building_identity",
            "building_id": "B1",
            "name": "1幢",
            "address": "a",
            "site_id": "S1",
            "grid_id": "G1",
            "township_code": "t",
            "district_code": "d",
            "city_code": "c",
            "households": 10,
            "rental_units": 1,
            "risk_tags": [],
            "updated_time": T0 - 86_400_000 * 300,
        },
        {
            "kind": "access_swipe",
            "event_id": "e1",
            "vendor": "v",
            "device_id": "d",
            "site_id": "S1",
            "event_time": T0,
            "building_id": "B1",
            "door_id": "D1",
            "credential_hash": "p1:" + "a" * 32,
            "method": "CARD",
            "result": "DENIED",
            "direction": "IN",
        },
        {
            "kind": "perimeter_alarm",
            "event_id": "e2",
            "vendor": "v",
            "device_id": "p",
            "site_id": "S1",
            "event_time": T0 - 2_000,
            "zone_id": "Z",
            "alarm_type": "INTRUSION",
            "severity": 3,
        },
        {"kind": "access_swipe", "event_id": "bad"},
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    return path


def test_interchange_lines_become_keyed_messages_on_their_kinds_topics(tmp_path: Path) -> None:
    codec = load_codec()
    summary = ReplaySummary("in")
    errors: list[str] = []
    out = load_messages(
        _jsonl(tmp_path), codec, pseudonym_key="k", summary=summary, errors=errors.append
    )
    assert summary.rejected == 1 and errors and ":4:" in errors[0]
    assert [(m.topic, m.key, m.pace) for m in out] == [
        (REGISTRY_TOPIC, b"B1", False),
        (SOURCE_TOPICS["access_swipe"], b"S1", True),
        (SOURCE_TOPICS["perimeter_alarm"], b"S1", True),
    ]
    assert [m.timestamp for m in out[1:]] == [T0, T0 - 2_000]
    assert codec.decode(out[1].value or b"")[1]["event_id"] == "e1"
    assert kind_of_message(out[2], codec) == "perimeter_alarm"


def test_replay_file_shifts_filters_maps_and_reports_failures(tmp_path: Path) -> None:
    codec = load_codec()
    producer = FakeProducer(fail={"mapped.alarm"})
    now = T0 + 10**8
    summary = replay_file(
        _jsonl(tmp_path),
        Settings(),
        None,
        shift_to_now=True,
        producer=producer,  # type: ignore[arg-type]
        now_ms=lambda: now,
        topic_map={SOURCE_TOPICS["perimeter_alarm"]: "mapped.alarm"},
        only=["access_swipe", "perimeter_alarm"],
        errors=lambda _: None,
    )
    assert summary.shift_ms == now - T0  # --max: the last event time lands at now
    assert summary.skipped == 1  # the registry line (--only)
    assert summary.rejected == 1 and summary.failed == 1 and not summary.ok
    assert summary.errors and "mapped.alarm" in summary.errors[0]
    swipe, alarm = producer.sent
    assert alarm["topic"] == "mapped.alarm"
    for sent, original in ((swipe, T0), (alarm, T0 - 2_000)):
        record = codec.decode(sent["value"])[1]
        assert record["event_time"] == original + summary.shift_ms == sent["timestamp"]
    assert "failed 1" in summary.describe()


def test_recording_round_trips_bytes_and_headers(tmp_path: Path) -> None:
    path = tmp_path / "r.avro"
    messages = [
        RecordedMessage("a", 0, 7, T0, 1, None, b"\x00\xc3\x01", (("h", b"1"), ("h", None))),
        RecordedMessage("b", 3, 9, T0 + 1, 2, b"key", None, ()),
    ]
    write_recording(path, messages, {"hub.topics": "a,b"})
    assert is_recording(path) and not is_recording(_jsonl(tmp_path))
    assert list(read_recording(path)) == messages
    assert recording_metadata(path)["hub.topics"] == "a,b"
    out = load_messages(
        path, load_codec(), pseudonym_key="k", summary=ReplaySummary("r"), errors=print
    )
    assert [(m.topic, m.partition, m.key, m.value, m.headers) for m in out] == [
        ("a", 0, None, b"\x00\xc3\x01", (("h", b"1"), ("h", None))),
        ("b", 3, b"key", None, ()),
    ]


def test_a_recording_cut_short_is_unreadable_and_says_where(tmp_path: Path) -> None:
    """Usage (2), not a failed delivery (1): nothing of it is sent, and the message says how far
    it read (an outside probe: "Expected 2018 bytes, read 616", exit 1)."""
    path = tmp_path / "r.avro"
    write_recording(path, [RecordedMessage("a", 0, i, T0 + i, 1, None, os.urandom(200))
                           for i in range(2000)], {"hub.topics": "a"})
    cut = tmp_path / "cut.avro"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(UnreadableRecording, match=r"after message [0-9,]+ \(byte") as caught:
        list(read_recording(cut))
    assert caught.value.status == 2 and "record again" in str(caught.value)


def test_time_and_map_arguments() -> None:
    now = T0
    assert parse_time("now", now) == now
    assert parse_time(str(T0 - 5), now) == T0 - 5
    assert parse_time("-15m", now) == now - 900_000
    assert parse_time("2025-03-03T08:00:00+08:00", now) == 1_740_960_000_000
    for bad in ("2025-03-03T08:00:00", "yesterday", "-15q"):
        with pytest.raises(ValueError):
            parse_time(bad, now)
    assert parse_topic_map(["a=b", "c=d"]) == {"a": "b", "c": "d"}
    with pytest.raises(ValueError, match="OLD_TOPIC=NEW_TOPIC"):
        parse_topic_map(["nope"])


def test_recorded_registry_is_not_paced_and_only_filters_before_the_shift(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r.avro"
    old = T0 - 400 * 86_400_000
    write_recording(
        path,
        [
            RecordedMessage(
                REGISTRY_TOPIC, 0, 0, old, 1, b"B1", b"reg", (("kind", b"building_identity"),)
            ),
            RecordedMessage(SOURCE_TOPICS["access_swipe"], 0, 0, T0, 1, b"S1", b"not avro", ()),
            RecordedMessage(SOURCE_TOPICS["access_swipe"], 0, 1, T0 + 10_000, 1, b"S1", b"x", ()),
        ],
    )
    clock = FakeClock()
    producer = FakeProducer(clock)
    summary = replay_file(
        path,
        Settings(),
        1.0,
        producer=producer,
        clock=clock,  # type: ignore[arg-type]
        sleep=clock.sleep,
    )
    assert clock.sleeps == [10.0]  # the registry record went at once, not 400 days early
    assert [s["key"] for s in producer.sent] == [b"B1", b"S1", b"S1"] and summary.ok

    producer = FakeProducer()
    now = T0 + 10**9
    summary = replay_file(
        path,
        Settings(),
        1.0,
        producer=producer,
        clock=clock,  # type: ignore[arg-type]
        sleep=clock.sleep,
        shift_to_now=True,
        now_ms=lambda: now,
        only=["access_swipe"],
    )
    assert summary.skipped == 1 and summary.shift_ms == now - T0
    assert [s["timestamp"] for s in producer.sent] == [now, now + 10_000]
    assert summary.unshifted == 2  # values that are not Avro are sent as they were
    assert [s["value"] for s in producer.sent] == [b"not avro", b"x"]
