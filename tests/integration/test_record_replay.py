"""record -> replay through the real broker: keys, values, headers byte for byte, order kept."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from hub.adapters.kafka import Producer
from hub.adapters.kafka.io import make_producer
from hub.codec import load_codec
from hub.replay.record import RecordedMessage, read_recording, record
from hub.replay.replay import replay_file
from hub.replay.simulate.config import SimConfig
from hub.replay.simulate.simulator import simulate
from hub.settings import REGISTRY_TOPIC, SOURCE_TOPICS, Settings

pytestmark = pytest.mark.integration

BASE_TS = 1_740_960_000_000


def _produce(settings: Settings, topic: str, n: int) -> list[tuple[bytes | None, bytes, list]]:
    producer: Producer = make_producer(settings)
    sent = []
    for i in range(n):
        key = f"site-{i % 17}".encode() if i % 23 else None  # some null keys
        value = os.urandom(8) + bytes([i % 256]) + b"\x00\xff\xc3\x01"
        headers = [("kind", b"access_swipe"), ("trace", os.urandom(4)), ("trace", None)]
        producer.produce(topic, key=key, value=value, headers=headers, timestamp=BASE_TS + i * 37)
        sent.append((key, value, headers))
    assert producer.flush(30) == 0
    return sent


def _by_partition(messages: list[RecordedMessage]) -> dict[int, list[tuple]]:
    out: dict[int, list[tuple]] = {}
    for m in messages:
        out.setdefault(m.partition, []).append((m.key, m.value, m.headers, m.timestamp))
    return out


def test_record_then_replay_reproduces_bytes_and_partition_order(
    stack_settings: Settings, fresh_topics, tmp_path: Path
) -> None:
    src, dst = fresh_topics("rr.src", "rr.dst", partitions=3)
    sent = _produce(stack_settings, src, 400)

    first = tmp_path / "src.avro"
    summary = record(stack_settings, [src], first, from_beginning=True)
    assert summary.messages == 400
    recorded = list(read_recording(first))
    for p, msgs in _by_partition(recorded).items():
        offsets = [m.offset for m in recorded if m.partition == p]
        assert offsets == sorted(offsets) and len(msgs) == len(offsets)
    assert sorted((m.key or b"", m.value) for m in recorded) == sorted(
        (k or b"", v) for k, v, _ in sent
    )
    by_value = {v: h for _, v, h in sent}
    for m in recorded:  # headers: order, repeated keys and null values kept
        assert [list(h) for h in m.headers] == [list(h) for h in by_value[m.value]]

    result = replay_file(first, stack_settings, None, topic_map={src: dst}, keep_partitions=True)
    assert result.ok and result.delivered == 400 and result.failed == 0

    second = tmp_path / "dst.avro"
    assert record(stack_settings, [dst], second, from_beginning=True).messages == 400
    replayed = list(read_recording(second))
    assert _by_partition(replayed) == _by_partition(recorded)


def test_keyed_replay_lands_on_the_same_partitions_by_murmur2(
    stack_settings: Settings, fresh_topics, tmp_path: Path
) -> None:
    src, dst = fresh_topics("rr.keyed", "rr.keyed.dst", partitions=4)
    producer = make_producer(stack_settings)
    for i in range(200):
        producer.produce(
            src, key=f"SITE-{i % 13:04d}".encode(), value=f"v{i}".encode(), timestamp=BASE_TS + i
        )
    assert producer.flush(30) == 0
    rec = tmp_path / "keyed.avro"
    record(stack_settings, [src], rec, from_beginning=True)
    assert replay_file(rec, stack_settings, None, topic_map={src: dst}).ok
    out = tmp_path / "keyed.dst.avro"
    record(stack_settings, [dst], out, from_beginning=True)
    assert _by_partition(list(read_recording(out))) == _by_partition(list(read_recording(rec)))


def test_record_stops_at_max_and_respects_since_and_until(
    stack_settings: Settings, fresh_topics, tmp_path: Path
) -> None:
    (topic,) = fresh_topics("rr.window", partitions=1)
    _produce(stack_settings, topic, 100)  # timestamps BASE_TS + i * 37
    some = record(
        stack_settings, [topic], tmp_path / "a.avro", from_beginning=True, max_messages=10
    )
    assert some.messages == 10 and some.stopped.startswith("--max")
    window = record(
        stack_settings,
        [topic],
        tmp_path / "b.avro",
        since_ms=BASE_TS + 20 * 37,
        until_ms=BASE_TS + 29 * 37,
    )
    ts = [m.timestamp for m in read_recording(tmp_path / "b.avro")]
    assert ts == [BASE_TS + i * 37 for i in range(20, 30)]
    assert window.messages == 10
    empty = record(stack_settings, [topic], tmp_path / "c.avro", since_ms=BASE_TS + 10**9)
    assert empty.messages == 0


def test_interchange_replay_with_shift_to_now_moves_all_times_together(
    stack_settings: Settings, fresh_topics, tmp_path: Path
) -> None:
    sim = simulate(SimConfig(seed=5, buildings=3, days=1, situations_per_rule=1))
    path = tmp_path / "scenario.jsonl"
    lines = list(sim.lines())[:200]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    originals = [json.loads(line) for line in lines]
    event_times = [o["event_time"] for o in originals if "event_time" in o]
    assert event_times
    kinds = [*SOURCE_TOPICS, "building_identity"]
    fresh = fresh_topics(*kinds, partitions=2)
    topic_map = dict(zip([*SOURCE_TOPICS.values(), REGISTRY_TOPIC], fresh, strict=True))
    before = int(time.time() * 1000)
    result = replay_file(path, stack_settings, None, shift_to_now=True, topic_map=topic_map)
    after = int(time.time() * 1000)
    assert result.ok and result.delivered == 200 and result.unshifted == 0, result.errors[:3]
    # --max: the last event lands at "now", all times move by one offset
    assert before <= max(event_times) + result.shift_ms <= after
    out = tmp_path / "shifted.avro"
    record(stack_settings, fresh, out, from_beginning=True)
    codec = load_codec(stack_settings.schemas_dir)
    original = {o["event_id"]: o for o in originals if "event_id" in o}
    seen = 0
    for m in read_recording(out):
        kind, rec = codec.decode(m.value or b"")
        if kind == "building_identity":
            continue
        assert rec["event_time"] == original[rec["event_id"]]["event_time"] + result.shift_ms
        assert m.timestamp == rec["event_time"]  # message time and event time moved together
        seen += 1
    assert seen == len(event_times)


def test_replay_to_a_topic_that_is_not_there_is_not_ready(stack_settings: Settings,
                                                            tmp_path: Path) -> None:
    """Status 3 (README, "Exit status"), as `hub record` of a missing topic; it was 1."""
    import subprocess
    import sys

    env = {**os.environ, "HUB_BOOTSTRAP": stack_settings.bootstrap}
    sample = Path(__file__).resolve().parents[2] / "samples" / "scenario.jsonl"
    done = subprocess.run([sys.executable, "-m", "hub", "replay", str(sample), "--max", "--map",
                           f"{SOURCE_TOPICS['grid_report']}=test.not-there"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 3, done.stderr
    assert "test.not-there do not exist" in done.stderr
