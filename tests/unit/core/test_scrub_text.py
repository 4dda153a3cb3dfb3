"""Personal numbers in free text (hub.core.pseudonym.scrub_text), at the edge (parse_object) and
in the worker for producers that skipped the edge (Ingestor): an outside probe found a grid
report's "电话13912345678 身份证330102199001011234" on hub.src.grid_report as sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from hub.adapters.dedup_store import MemoryDedupStore
from hub.codec import load_codec, parse_object
from hub.core.pseudonym import pseudonymize, scrub_text
from hub.core.registry import MemoryBuildingRegistry
from hub.model.errors import ValidationError
from hub.observability.metrics import create
from hub.runtime.ingest import Ingestor

KEY = "unit-pseudonym-key"
CODEC = load_codec()
PHONE = pseudonymize("13912345678", KEY)
SAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "avro" / "samples"


@pytest.mark.parametrize(("text", "expected"), [
    ("居民张三 电话13912345678 反映噪音", f"居民张三 电话{PHONE} 反映噪音"),
    ("call 139-1234-5678 now", f"call {PHONE} now"),
    ("+86 139 1234 5678", PHONE),
    ("8613912345678", PHONE),
    ("身份证330102199001011234", f"身份证{pseudonymize('330102199001011234', KEY)}"),
    ("ID 33010219900101123x.", f"ID {pseudonymize('33010219900101123X', KEY)}."),
    ("卡号6222025555555555555", f"卡号{pseudonymize('6222025555555555555', KEY)}"),
])
def test_personal_numbers_become_their_pseudonyms(text: str, expected: str) -> None:
    assert scrub_text(text, KEY) == expected


@pytest.mark.parametrize("text", [
    "3 号楼 1203 室漏水, 2024-05-01 报修", "围栏 Z-12 段 8 点 30 分", "ABC13912345678",
    "13912345678901234567890", "", "短",
])
def test_other_text_is_left_as_it_is(text: str) -> None:
    assert scrub_text(text, KEY) == text


def test_the_edge_scrubs_a_grid_reports_description() -> None:
    line = (SAMPLES / "grid_report.jsonl").read_text(encoding="utf-8").splitlines()[0]
    report = {**json.loads(line), "description": "电话 139 1234 5678 邻里纠纷"}
    _, record = parse_object(report, pseudonym_key=KEY, codec=CODEC)
    assert record["description"] == f"电话 {PHONE} 邻里纠纷"


ALARM: dict[str, Any] = {
    "event_id": "e1", "vendor": "v", "device_id": "d", "site_id": "S-1",
    "event_time": 1714521600000, "zone_id": "z", "building_id": None,
    "alarm_type": "INTRUSION", "severity": 3, "description": "业主 13655556666 报警",
}


def ingestor() -> Ingestor:
    return Ingestor(codec=CODEC, lanes=[], registry=MemoryBuildingRegistry(),
                    dedup=MemoryDedupStore(), metrics=create(CollectorRegistry()),
                    pseudonym_key=KEY, deadletter_key="dk")


def test_the_worker_scrubs_what_a_producer_sent_past_the_edge() -> None:
    event, forwarded = ingestor().decode("hub.src.perimeter_alarm",
                                         CODEC.encode("perimeter_alarm", ALARM), b"S-1")
    phone = pseudonymize("13655556666", KEY)
    assert CODEC.decode(forwarded)[1]["description"] == f"业主 {phone} 报警"
    assert "13655556666" not in str(event.fields)


def test_a_dead_letter_keeps_the_record_scrubbed() -> None:
    """An alarm sent to the swipe topic is refused; its dead letter keeps it scrubbed."""
    bad = CODEC.encode("perimeter_alarm", ALARM)
    with pytest.raises(ValidationError, match="send perimeter_alarm to"):
        ingestor().decode("hub.src.access_swipe", bad, b"S-1")
    kept, fields, sealed = ingestor().kept_for_dead_letter(bad)
    assert kept is not None and b"13655556666" not in kept and not sealed
    assert fields == ["description"]
