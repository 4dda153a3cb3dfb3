"""Confluent Schema Registry framing (0 + 4-byte schema id + Avro body) is refused, and said so.

A vendor using Confluent's serializer used to get a dead letter saying only
"not Avro single-object encoding ... got 00 00 00 00 07". The reason stays DECODE_ERROR (the
dead-letter counts by reason do not move); the detail names the framing, the schema id and the fix.
"""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form
from prometheus_client import CollectorRegistry

from hub.adapters.dedup_store import MemoryDedupStore
from hub.codec import load_codec
from hub.codec.avro import HEADER_SIZE
from hub.core.registry import MemoryBuildingRegistry
from hub.model.errors import DecodeError
from hub.observability.metrics import create
from hub.runtime.ingest import Ingestor
from hub.runtime.outbox import Outbox
from hub.settings import DEADLETTER_TOPIC, SOURCE_TOPICS, Settings

SCHEMAS = Settings().schemas_dir

ALARM: dict[str, Any] = {
    "event_id": "e1", "vendor": "v", "device_id": "d", "site_id": "S-1",
    "event_time": 1714521600000, "zone_id": "z", "building_id": None,
    "alarm_type": "INTRUSION", "severity": 3, "description": None,
}


def confluent(schema_id: int, record: dict[str, Any] = ALARM) -> bytes:
    """What Confluent's KafkaAvroSerializer writes: 0, the id big-endian, the Avro body."""
    body = load_codec().encode("perimeter_alarm", record)[HEADER_SIZE:]
    return b"\x00" + schema_id.to_bytes(4, "big") + body


def reason_and_detail(data: bytes) -> tuple[str, str]:
    with pytest.raises(DecodeError) as info:
        load_codec().decode(data)
    return info.value.reason, info.value.detail


def test_confluent_framing_is_named_with_its_schema_id_and_the_fix() -> None:
    reason, detail = reason_and_detail(confluent(7))
    assert reason == reason_and_detail(b"garbage")[0] == "DECODE_ERROR"
    assert detail.startswith("Confluent Schema Registry framing (magic byte 0, schema id 7), ")
    assert "not Avro single-object encoding" in detail
    assert "C3 01" in detail and "CRC-64-AVRO fingerprint" in detail
    assert "Vendors using Confluent's serializer" in detail and "`hub produce`" in detail
    # the id is 4 bytes big-endian
    assert "schema id 100007)" in reason_and_detail(confluent(100007))[1]
    # the bare 5-byte prefix, as in the report above (module doc)
    assert "schema id 7)" in reason_and_detail(b"\x00\x00\x00\x00\x07")[1]


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage", b"\xc3\x01\x00", b'{"kind":"perimeter_alarm"}', b"\x00\x00\x00\x07",
     b"\x01\x00\x00\x00\x07\x02"],
)
def test_other_bytes_keep_the_plain_message(data: bytes) -> None:
    reason, detail = reason_and_detail(data)
    assert reason == "DECODE_ERROR"
    assert detail.startswith("not Avro single-object encoding: expected the bytes C3 01")
    assert "Confluent" not in detail


class FakeMessage:
    """The parts of a confluent-kafka Message that ingest reads."""

    def __init__(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        self._topic, self._key, self._value = topic, key, value

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return 41

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return (1, 1714521600500)

    def headers(self) -> list[tuple[str, bytes]] | None:
        return None


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def produce(self, topic: str, **kwargs: Any) -> None:
        self.sent.append((topic, kwargs))

    def poll(self, timeout: float) -> int:
        return 0


def test_the_worker_dead_letter_carries_the_confluent_detail() -> None:
    codec = load_codec()
    metrics = create(CollectorRegistry())
    ingestor = Ingestor(codec=codec, lanes=[], registry=MemoryBuildingRegistry(),
                        dedup=MemoryDedupStore(), metrics=metrics, pseudonym_key="pk",
                        deadletter_key="dk")
    producer = FakeProducer()
    topic = SOURCE_TOPICS["perimeter_alarm"]
    ingestor.handle_batch([FakeMessage(topic, b"S-1", confluent(7))],
                          Outbox(producer, codec, "w-test"), partitions=4)

    [(out_topic, sent)] = producer.sent  # nothing forwarded: no frame, one dead letter
    assert out_topic == DEADLETTER_TOPIC
    kind, letter = codec.decode(sent["value"])
    assert kind == "dead_letter"
    assert letter["reason"] == "DECODE_ERROR"
    assert letter["detail"].startswith(
        "Confluent Schema Registry framing (magic byte 0, schema id 7), not Avro single-object "
        "encoding: the hub has no registry; send single-object encoding")
    assert (letter["source_topic"], letter["source_partition"], letter["source_offset"]) == (
        topic, 2, 41)
    assert letter["original_sealed"] is True  # bytes that do not decode stay sealed
    assert ("hub-reason", b"DECODE_ERROR") in sent["headers"]
    assert metrics.dead_letters.labels("DECODE_ERROR")._value.get() == 1


def test_the_documented_python_replacement_decodes() -> None:
    """docs/contracts.md, 'Vendors using Confluent's serializer': fastavro body after C3 01 + the
    fingerprint from the table (or computed by fastavro) is what the hub reads."""
    with (SCHEMAS / "history" / "PerimeterAlarm" / "v1.avsc").open(encoding="utf-8") as f:
        schema = fastavro.parse_schema(json.load(f))
    fp = bytes.fromhex("67adb7bda293fb01")
    assert fp == bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))
    buf = io.BytesIO(b"\xc3\x01" + fp)
    buf.seek(0, io.SEEK_END)
    fastavro.schemaless_writer(buf, schema, ALARM)
    assert load_codec().decode(buf.getvalue()) == ("perimeter_alarm", ALARM)


def test_bytes_without_the_marker_show_only_where_it_belongs() -> None:
    """Such bytes are sealed in their dead letter; the detail showed their first ten, ten digits
    of a phone number sent as text (an outside probe)."""
    from hub.codec import load_codec
    from hub.model.errors import DecodeError

    with pytest.raises(DecodeError) as info:
        load_codec().decode(b"13944440006")
    assert "31 33 ... (11 bytes)" in str(info.value)
    assert "34 34" not in str(info.value)
