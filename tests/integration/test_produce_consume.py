"""`hub produce` then `hub consume` against the real broker of `hub stack up`.

Runs the commands as a user would (subprocesses), on fresh topics, so it never disturbs the
source topics a worker may be reading.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner

from hub.adapters.kafka import Consumer, Producer
from hub.codec import dead_letter_record, load_codec, read_jsonl
from hub.model.errors import DecodeError
from hub.settings import Settings

pytestmark = pytest.mark.integration

SAMPLES = Settings().schemas_dir / "samples"
PARTITIONS = 4


def hub(settings: Settings, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUB_BOOTSTRAP": settings.bootstrap}
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def _scenario(tmp_path: Path) -> tuple[Path, list[str]]:
    """Sample lines of every kind with unique ids, plus two bad lines (lines 3 and 6)."""
    run = uuid.uuid4().hex[:8]
    good: list[dict[str, Any]] = []
    for kind in ("perimeter_alarm", "access_swipe", "face_match", "grid_report", "building_lookup"):
        for text in (SAMPLES / f"{kind}.jsonl").read_text(encoding="utf-8").splitlines():
            obj = json.loads(text)
            obj["event_id"] = f"{obj['event_id']}-{run}"
            good.append(obj)
    for text in (SAMPLES / "building_identity.jsonl").read_text(encoding="utf-8").splitlines():
        good.append(json.loads(text))
    lines = [json.dumps(o, ensure_ascii=False) for o in good]
    lines.insert(2, json.dumps({**good[0], "event_id": f"bad-{run}", "severity": 9}))
    lines.insert(5, '{"kind": "perimeter_alarm", "event_time": "2024-05-01T08:00:00"')
    path = tmp_path / "scenario.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, [json.dumps(o) for o in good]


def test_produce_then_consume(stack_settings: Settings, fresh_topics: Any, tmp_path: Path) -> None:
    (topic,) = fresh_topics("produce", partitions=PARTITIONS)
    path, good = _scenario(tmp_path)

    produced = hub(stack_settings, "produce", str(path), "--topic", topic)
    assert produced.returncode == 1, produced.stderr  # bad lines make the exit status non-zero
    assert f"produced {len(good)}, rejected 2" in produced.stdout
    assert f"{path}:3: severity: " in produced.stderr
    assert f"{path}:6: not valid JSON" in produced.stderr

    consumed = hub(
        stack_settings, "consume", topic, "--from-beginning", "--max", str(len(good)),
        "--timeout", "60", "--meta",
    )  # fmt: skip
    assert consumed.returncode == 0, consumed.stderr
    printed = [json.loads(x) for x in consumed.stdout.splitlines()]
    assert len(printed) == len(good)

    expected = {
        (line.kind, json.dumps(line.record, sort_keys=True))
        for line in read_jsonl(path, pseudonym_key=stack_settings.pseudonym_key)
        if line.ok
    }
    partitioner = DefaultPartitioner()
    got = set()
    for obj in printed:
        meta = {k: obj.pop(k) for k in ("_topic", "_partition", "_offset", "_key")}
        kind = obj.pop("kind")
        got.add((kind, json.dumps(obj, sort_keys=True)))
        # keys: site_id for events, building_id for the registry
        assert meta["_key"] == (
            obj["building_id"] if kind == "building_identity" else obj["site_id"]
        )
        # murmur2: the partition Faust/aiokafka/Java pick for the same key
        key = meta["_key"].encode()
        assert meta["_partition"] == partitioner(key, list(range(PARTITIONS)), [])
        # no raw personal value reached the topic
        for name, value in obj.items():
            if name.endswith("_hash") and value is not None:
                assert value.startswith("p1:"), (name, value)
    assert got == expected
    assert "13800001111" not in consumed.stdout and "330102199001011234" not in consumed.stdout


def test_values_are_single_object_with_kind_header(
    stack_settings: Settings, fresh_topics: Any
) -> None:
    (topic,) = fresh_topics("header", partitions=1)
    result = hub(stack_settings, "produce", str(SAMPLES / "face_match.jsonl"), "--topic", topic)
    assert result.returncode == 0, result.stderr
    consumer = Consumer(
        {
            "bootstrap.servers": stack_settings.bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    codec = load_codec(stack_settings.schemas_dir)
    try:
        msgs = []
        for _ in range(120):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                msgs.append(msg)
            if len(msgs) == 2:
                break
    finally:
        consumer.close()
    assert len(msgs) == 2
    for msg in msgs:
        value = msg.value()
        assert value[:2] == b"\xc3\x01" and value[2:10] == codec.fingerprint("face_match")
        assert dict(msg.headers() or []) == {"kind": b"face_match"}
        assert codec.decode(value)[0] == "face_match"


def test_consume_shows_dead_letters_and_reports_garbage(
    stack_settings: Settings, fresh_topics: Any
) -> None:
    (topic,) = fresh_topics("deadletter", partitions=1)
    codec = load_codec(stack_settings.schemas_dir)
    record = dead_letter_record(
        DecodeError("not Avro single-object encoding"),
        topic="hub.src.perimeter_alarm",
        partition=2,
        offset=41,
        key=b"S1",
        value=b"\x00garbage\xff",
        headers=[("kind", b"perimeter_alarm")],
        time_ms=1714521600000,
    )
    producer = Producer({"bootstrap.servers": stack_settings.bootstrap})
    producer.produce(topic, codec.encode("dead_letter", record), key=b"S1")
    producer.produce(topic, b"not avro at all", key=b"S1")
    assert producer.flush(30) == 0

    result = hub(
        stack_settings, "consume", topic, "--from-beginning", "--max", "2", "--timeout", "60"
    )
    assert result.returncode == 1  # one message could not be decoded
    (line,) = result.stdout.splitlines()
    printed = json.loads(line)
    assert printed["kind"] == "dead_letter" and printed["reason"] == "DECODE_ERROR"
    assert printed["detail"] == "not Avro single-object encoding"
    assert printed["original_value"] == "AGdhcmJhZ2X/"  # base64 of the original bytes
    assert printed["source_offset"] == 41
    assert f"{topic}[0]@1: DECODE_ERROR" in result.stderr


def test_a_line_the_topic_refuses_costs_only_itself(
    stack_settings: Settings, fresh_topics: Any, tmp_path: Path
) -> None:
    """A delivery failure is reported by line number; every good line arrives."""
    (topic,) = fresh_topics("small", partitions=1, config={"max.message.bytes": "600"})
    alarm = json.loads((SAMPLES / "perimeter_alarm.jsonl").read_text().splitlines()[0])
    run = uuid.uuid4().hex[:8]
    lines = [{**alarm, "event_id": f"ok{i}-{run}", "description": None} for i in range(6)]
    lines[2] = {**lines[2], "event_id": f"big-{run}", "description": "围栏" * 1_500}
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
    result = hub(stack_settings, "produce", str(path), "--topic", topic, "--timeout", "10")
    assert result.returncode == 1
    assert "produced 5, rejected 0, failed 1" in result.stdout, result.stdout + result.stderr
    assert f"{path}:3: not delivered: " in result.stderr
    consumed = hub(stack_settings, "consume", topic, "--from-beginning", "--max", "5",
                   "--timeout", "30")
    assert sorted(json.loads(x)["event_id"] for x in consumed.stdout.splitlines()) == sorted(
        x["event_id"] for i, x in enumerate(lines) if i != 2)


def test_consume_unseals_a_sealed_dead_letter_with_the_key(
    stack_settings: Settings, fresh_topics: Any
) -> None:
    from hub.codec.seal import seal

    (topic,) = fresh_topics("sealed", partitions=1)
    codec = load_codec(stack_settings.schemas_dir)
    raw = b"\xc3\x01 card 6222021234567890123"
    record = dead_letter_record(
        DecodeError("truncated"), topic="hub.src.access_swipe", partition=0, offset=3,
        key=b"S1", value=seal(raw, stack_settings.deadletter_key), time_ms=1714521600000,
        sealed=True)
    producer = Producer({"bootstrap.servers": stack_settings.bootstrap})
    producer.produce(topic, codec.encode("dead_letter", record), key=b"S1")
    assert producer.flush(30) == 0
    args = ("consume", topic, "--from-beginning", "--max", "1", "--timeout", "60")
    shown = json.loads(hub(stack_settings, *args).stdout)
    assert shown["original_sealed"] is True and "6222021234567890123" not in json.dumps(shown)
    opened = json.loads(hub(stack_settings, *args, "--unseal").stdout)
    assert opened["original_sealed"] is False
    import base64
    assert base64.b64decode(opened["original_value"]) == raw
    wrong = subprocess.run([sys.executable, "-m", "hub", *args, "--unseal"], capture_output=True,
                           text=True, timeout=120, env={**os.environ, "HUB_BOOTSTRAP":
                           stack_settings.bootstrap, "HUB_DEADLETTER_KEY": "not-the-key"})
    assert wrong.returncode == 1 and "cannot unseal" in wrong.stderr


def test_consume_of_a_missing_topic_is_status_3(stack_settings: Settings) -> None:
    missing = f"test.missing.{uuid.uuid4().hex[:8]}"
    result = hub(stack_settings, "consume", missing, "--timeout", "5")
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip() == (
        f"hub consume: topic {missing} does not exist at {stack_settings.bootstrap}; "
        "`hub topics list` shows what does, `hub topics apply` creates the hub's topics")


def test_produce_to_a_topic_that_does_not_exist_is_not_ready(stack_settings: Settings) -> None:
    """README, "Exit status": 3 when the topic is not there, nothing sent (it was exit 1 and
    'failed' per line, as if the lines were at fault)."""
    topic = f"test.missing.{uuid.uuid4().hex[:8]}"  # the broker does not auto-create topics
    result = hub(stack_settings, "produce", str(SAMPLES / "face_match.jsonl"), "--topic", topic,
                 "--timeout", "10")
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"topic {topic} does not exist" in result.stderr and "nothing was sent" in result.stderr
