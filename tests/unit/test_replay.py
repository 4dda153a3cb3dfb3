"""Replay logic without a broker: pacing with an injected clock, order, shifting, failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError

from hub.codec import load_codec
from hub.replay.record import (
    RecordedMessage,
    is_recording,
    parse_time,
    read_recording,
    recording_metadata,
    write_recording,
)
from hub.replay.replay import (
    Pacer,
    ReplayMessage,
    ReplaySummary,
    kind_of_message,
    load_messages,
    merge_partitions,
    parse_topic_map,
    replay_file,
    replay_messages,
    shift_offset,
    shift_times,
)
from hub.settings import REGISTRY_TOPIC, SOURCE_TOPICS, Settings

T0 = 1_740_960_000_000


class FakeClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeMsg:
    def __init__(self, topic: str) -> None:
        self._topic = topic

    def topic(self) -> str:
        return self._topic


class FakeProducer:
    """Records what was produced and when; fails the topics it is told to."""

    def __init__(self, clock: FakeClock | None = None, fail: set[str] | None = None) -> None:
        self.clock = clock
        self.fail = fail or set()
        self.sent: list[dict[str, Any]] = []
        self._pending: list[tuple[Any, str]] = []

    def produce(self, topic: str, **kw: Any) -> None:
        self.sent.append({"topic": topic, "at": self.clock() if self.clock else 0.0, **kw})
        self._pending.append((kw["on_delivery"], topic))

    def poll(self, timeout: float = 0) -> int:
        served = len(self._pending)
        for callback, topic in self._pending:
            err = KafkaError(KafkaError._MSG_TIMED_OUT) if topic in self.fail else None
            callback(err, FakeMsg(topic))
        self._pending.clear()
        return served

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return 0


def msg(
    ts: int, topic: str = "t", partition: int = 0, key: bytes = b"k", value: bytes = b"v"
) -> RecordedMessage:
    return RecordedMessage(topic, partition, ts - T0, ts, 1, key, value, ())


# -- pacing --------------------------------------------------------------------------------------


def test_pacer_spaces_messages_by_recorded_time_over_speed() -> None:
    clock = FakeClock()
    pacer = Pacer(4.0, clock=clock, sleep=clock.sleep)
    sent_at = []
    for ts in (T0, T0 + 4_000, T0 + 4_000, T0 + 12_000):
        pacer.wait_for(ts)
        sent_at.append(clock.now - 100.0)
    assert sent_at == [0.0, 1.0, 1.0, 3.0]


def test_pacer_never_goes_back_in_time_for_late_stamps() -> None:
    clock = FakeClock()
    pacer = Pacer(1.0, clock=clock, sleep=clock.sleep)
    for ts in (T0, T0 + 10_000, T0 + 2_000, T0 + 11_000):  # out-of-order arrival
        pacer.wait_for(ts)
    assert clock.now - 100.0 == 11.0
    assert clock.sleeps == [10.0, 1.0]  # the late one went straight after its predecessor


def test_pacer_does_not_wait_when_behind_schedule_or_at_max() -> None:
    clock = FakeClock()
    pacer = Pacer(1.0, clock=clock, sleep=clock.sleep)
    pacer.wait_for(T0)
    clock.now += 5.0  # the producer was slow
    pacer.wait_for(T0 + 2_000)
    assert clock.sleeps == []
    fast = Pacer(None, clock=clock, sleep=clock.sleep)
    for ts in (T0, T0 + 86_400_000):
        fast.wait_for(ts)
    assert clock.sleeps == []
    with pytest.raises(ValueError, match="speed"):
        Pacer(0, clock=clock, sleep=clock.sleep)


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


# -- order ---------------------------------------------------------------------------------------


def test_merge_keeps_partition_order_and_interleaves_by_timestamp() -> None:
    p0 = [msg(T0 + 5, partition=0), msg(T0 + 1, partition=0), msg(T0 + 9, partition=0)]
    p1 = [msg(T0 + 2, partition=1), msg(T0 + 3, partition=1)]
    merged = merge_partitions([*p0, *p1])  # recorded in fetch batches, partition by partition
    assert [m.partition for m in merged] == [1, 1, 0, 0, 0]
    assert [m for m in merged if m.partition == 0] == p0  # offset order, though ts not monotone


# -- shifting ------------------------------------------------------------------------------------


def test_shift_offset_never_stamps_ahead_of_the_wall_clock() -> None:
    first, last, now = T0, T0 + 3_600_000, T0 + 10**9
    assert shift_offset(first, last, now, None) == now - last  # --max: ends at now
    assert shift_offset(first, last, now, 1.0) == now - first  # real time: starts at now
    assert shift_offset(first, last, now, 0.5) == now - first
    off = shift_offset(first, last, now, 4.0)
    assert last + off == now + 900_000  # the last one is sent 15 min from now, stamped so
    for ts in (first, first + 1_000_000, last):  # stamped <= when it is sent
        assert ts + off <= now + (ts - first) / 4.0


def test_shift_times_moves_every_timestamp_field_including_nested() -> None:
    codec = load_codec()
    swipe = {"event_id": "e", "event_time": T0, "site_id": "s", "door_id": "d"}
    assert shift_times(codec.schema("access_swipe"), swipe, 1000)["event_time"] == T0 + 1000
    assert swipe["event_time"] == T0  # not mutated
    building = {"building_id": "b", "updated_time": T0, "households": 3}
    assert shift_times(codec.schema("building_identity"), building, -5)["updated_time"] == T0 - 5
    incident = {
        "incident_id": "i",
        "first_event_time": T0,
        "last_event_time": T0 + 1,
        "emitted_time": T0 + 2,
        "version": 1,
        "evidence": [{"kind": "access_swipe", "event_id": "e", "event_time": T0 + 1}],
        "building": {"building_id": "b", "updated_time": T0 - 9, "households": 1},
    }
    out = shift_times(codec.schema("incident"), incident, 10)
    assert (out["first_event_time"], out["last_event_time"], out["emitted_time"]) == (
        T0 + 10,
        T0 + 11,
        T0 + 12,
    )
    assert out["evidence"][0]["event_time"] == T0 + 11
    assert out["building"]["updated_time"] == T0 + 1
    assert out["version"] == 1
    assert (
        shift_times(codec.schema("incident"), {**incident, "building": None}, 10)["building"]
        is None
    )


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


# -- recordings and arguments --------------------------------------------------------------------


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
