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
from hub.codec import dead_letter_record, load_codec, parse_object
from hub.codec.seal import unseal
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
    # as an outside probe wrote them, each kept as sent before: full-width digits (a Chinese
    # input method), other separators, a card in groups, an ID in groups, letters before
    ("居民手机１３９１２３４５６７８", f"居民手机{PHONE}"),
    ("139.1234.5678", PHONE), ("(139)1234-5678", PHONE), ("139-123-45678", PHONE),
    ("139\u00a01234\u00a05678", PHONE), ("139－1234－5678", PHONE), ("＋86 139 1234 5678", PHONE),
    ("tel13912345678", f"tel{PHONE}"), ("ABC13912345678", f"ABC{PHONE}"),
    ("银行卡 6222 0255 5500 0002", f"银行卡 {pseudonymize('6222025555000002', KEY)}"),
    ("身份证 330102 19900101 1235", f"身份证 {pseudonymize('330102199001011235', KEY)}"),
    # a second probe's (2026-12-07): runs of separators, slashes and underscores, a digit at a
    # time, Chinese numerals read out, an Amex-style 4-6-5 card
    ("139  1234  5678", PHONE), ("139/1234/5678", PHONE), ("139_1234_5678", PHONE),
    ("1-3-9-1234-5678", PHONE), ("电话一三九一二三四五六七八", f"电话{PHONE}"),
    ("卡 3782 822463 10005", f"卡 {pseudonymize('378282246310005', KEY)}"),
])
def test_personal_numbers_become_their_pseudonyms(text: str, expected: str) -> None:
    assert scrub_text(text, KEY) == expected
    assert scrub_text(expected, KEY) == expected  # and again: nothing more


def test_a_pseudonym_in_text_is_kept_though_its_hex_holds_long_digit_runs() -> None:
    """Text scrubbed at the edge is scrubbed again in the worker (Ingestor, shield): a
    pseudonym's hex must not be taken for a number there."""
    text = "见 p1:0123456789012345678901234567abcd 与 p1:ab98765432109876543210fedcba9876"
    assert scrub_text(text, KEY) == text


@pytest.mark.parametrize("text", [
    "3 号楼 1203 室漏水, 2024-05-01 报修", "围栏 Z-12 段 8 点 30 分", "2026-12-07 13:45:12",
    "13912345678901234567890", "", "短", "第一二三四章", "2026/12/07 13:45", "v1.3.9",
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


def test_a_record_that_is_no_source_event_is_kept_sealed() -> None:
    """A DeadLetter record produced to a source topic decodes (its own schema) and was kept as
    it came: the raw card in its original_value reached hub.deadletter."""
    inner = dead_letter_record(ValidationError("x", field="f"), topic="t", partition=0, offset=0,
                               key=None, value=b"card 6222024444000008", time_ms=1)
    bad = CODEC.encode("dead_letter", inner)
    kept, _, sealed = ingestor().kept_for_dead_letter(bad)
    assert sealed and kept is not None and b"6222024444000008" not in kept
    assert unseal(kept, "dk") == bad


def test_a_dead_letters_detail_key_and_headers_carry_no_personal_number() -> None:
    """An error quotes what the sender wrote ("'13911110027' is not Start, Stop..." for a
    mangled Dahua field) and a vendor may key by card number: the letter's value was sealed or
    pseudonymized, and the rest of it repeated the number (an outside probe)."""
    phone, card = pseudonymize("13911110027", KEY), pseudonymize("6222024444000008", KEY)
    error = ValidationError("'13911110027' is not Start, Stop or Pulse", field="action")
    letter = dead_letter_record(error, topic="t", partition=0, offset=0,
                                key=b"6222024444000008", value=b"v", time_ms=1,
                                headers=[("card", b"6222024444000008"), ("bin", b"\xff" * 12),
                                         ("none", None)], pseudonym_key=KEY)
    assert letter["detail"].startswith(f"'{phone}' is not Start, Stop or Pulse (personal ")
    assert letter["original_key"] == card.encode()
    assert letter["original_headers"] == [{"key": "card", "value": card.encode()},
                                          {"key": "bin", "value": b"\xff" * 12},
                                          {"key": "none", "value": None}]
    kept = dead_letter_record(error, topic="t", partition=0, offset=0, key=b"S-1", value=b"v",
                              time_ms=1, headers=[("kind", b"access_swipe")], pseudonym_key=KEY)
    assert kept["detail"] == f"'{phone}' is not Start, Stop or Pulse"
    assert kept["original_key"] == b"S-1"
    assert "13911110027" in dead_letter_record(error, topic="t", partition=0, offset=0, key=None,
                                               value=b"v", time_ms=1)["detail"]


def test_a_zone_named_with_a_phone_number_is_scrubbed_at_the_edge() -> None:
    """A Dahua rule's name becomes the zone id ("...:值班电话13911110024"): it reached
    hub.src.perimeter_alarm, the correlation topic and the changelog as sent."""
    alarm = {**ALARM, "zone_id": "dh-1:0:CrossLineDetection:值班电话13911110024",
             "event_time": 1714521600000}
    _, record = parse_object({"kind": "perimeter_alarm", **alarm}, pseudonym_key=KEY,
                             codec=CODEC)
    assert record["zone_id"] == (
        f"dh-1:0:CrossLineDetection:值班电话{pseudonymize('13911110024', KEY)}")
