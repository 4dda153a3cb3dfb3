"""Registry records the registry cannot take: what ``read_card`` refuses and how the worker's
RegistryCheck dead-letters them. Exactly once across workers and restarts is the group's
committed offsets' doing: tests/integration/test_worker_registry_junk.py shows it on the broker."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from hub.codec import load_codec
from hub.codec.seal import unseal
from hub.model.errors import RecordError
from hub.model.events import Building
from hub.observability.metrics import create
from hub.runtime.batch_parts import by_stage
from hub.runtime.ingest import Ingestor
from hub.runtime.outbox import Outbox
from hub.runtime.registry_check import RegistryCheck, read_card
from hub.settings import CORRELATE_TOPIC, DEADLETTER_TOPIC, REGISTRY_TOPIC, SOURCE_TOPICS
from tests.unit.runtime.producer_sink import Sink

CODEC = load_codec()
T0 = 1_740_967_200_000
KEY = "dl-key-for-tests"


def card(**over: Any) -> dict[str, Any]:
    return {"building_id": "BLDG-1", "name": "一号楼", "address": "测试路1号", "site_id": "SITE-1",
            "grid_id": "GRID-1", "township_code": "330102001", "district_code": "330102",
            "city_code": "330100", "police_station_id": None, "grid_worker_id": None,
            "households": 40, "rental_units": 0, "risk_tags": [], "updated_time": T0, **over}


def alarm() -> dict[str, Any]:
    return {"event_id": "a-1", "vendor": "dahua", "device_id": "PA-1", "site_id": "SITE-1",
            "event_time": T0, "zone_id": "Z-1", "building_id": None, "alarm_type": "INTRUSION",
            "severity": 4, "description": None}


def test_a_card_and_a_tombstone_read_as_the_registry_takes_them() -> None:
    got = read_card(CODEC, b"BLDG-1", CODEC.encode("building_identity", card()))
    assert isinstance(got, Building) and got.building_id == "BLDG-1" and got.grid_id == "GRID-1"
    assert read_card(CODEC, b"BLDG-1", None) == "BLDG-1"


@pytest.mark.parametrize(("key", "value", "field"), [
    (b"BLDG-1", b"\x00garbage", None),
    (b"BLDG-1", CODEC.encode("perimeter_alarm", alarm()), "kind"),
    (b"BLDG-1", CODEC.encode("building_identity", card(grid_id="GRID-\u202e1")), "grid_id"),
    (b"\xff\xfe", None, "key"),
    (None, None, "key"),
    (b"", None, "key"),
    (b"BLDG-2", CODEC.encode("building_identity", card()), "key"),
])
def test_what_the_registry_cannot_take_is_refused_naming_the_field(
        key: bytes | None, value: bytes | None, field: str | None) -> None:
    with pytest.raises(RecordError) as info:
        read_card(CODEC, key, value)
    if field is not None:
        assert info.value.field == field, info.value


class Msg:
    def __init__(self, topic: str, offset: int, key: bytes | None, value: bytes | None) -> None:
        self.coords, self.key_, self.value_ = (topic, 1, offset), key, value

    def topic(self) -> str:
        return self.coords[0]

    def partition(self) -> int:
        return self.coords[1]

    def offset(self) -> int:
        return self.coords[2]

    def key(self) -> bytes | None:
        return self.key_

    def value(self) -> bytes | None:
        return self.value_

    def headers(self) -> list[tuple[str, bytes]]:
        return [("vendor-trace", b"t-1")]

    def timestamp(self) -> tuple[int, int]:
        return 1, T0


def check_batch(messages: list[Msg]) -> tuple[int, list[dict[str, Any]], CollectorRegistry]:
    collectors = CollectorRegistry()
    metrics = create(collectors)
    ingestor = Ingestor(codec=CODEC, lanes=[], registry=None,  # type: ignore[arg-type]
                        dedup=None, metrics=metrics,  # type: ignore[arg-type]
                        pseudonym_key="pk", deadletter_key=KEY)
    check = RegistryCheck(CODEC, metrics, ingestor.kept_for_dead_letter, "pk")
    sink = Sink()
    bad = check.handle_batch(messages, Outbox(sink, CODEC, "w-test"))
    letters = []
    for topic, kwargs in sink.sent:
        assert topic == DEADLETTER_TOPIC
        kind, record = CODEC.decode(kwargs["value"])
        assert kind == "dead_letter"
        letters.append(record)
    return bad, letters, collectors


def test_only_the_records_the_registry_cannot_take_become_dead_letters() -> None:
    good = CODEC.encode("building_identity", card())
    broken = CODEC.encode("building_identity", card(grid_id="GRID-\u202e1"))
    swipe = CODEC.encode("access_swipe", {
        "event_id": "s-1", "vendor": "zk", "device_id": "AC-1", "site_id": "SITE-1",
        "event_time": T0, "building_id": "BLDG-1", "door_id": "D-1",
        "credential_hash": "6222021234567890123", "method": "CARD", "result": "DENIED",
        "direction": "IN"})
    messages = [Msg(REGISTRY_TOPIC, 0, b"BLDG-1", good), Msg(REGISTRY_TOPIC, 1, b"BLDG-1", None),
                Msg(REGISTRY_TOPIC, 2, b"BLDG-2", b"junk"),
                Msg(REGISTRY_TOPIC, 3, b"BLDG-3", broken),
                Msg(REGISTRY_TOPIC, 4, b"\xff", None),
                Msg(REGISTRY_TOPIC, 5, b"BLDG-4", swipe)]
    bad, letters, collectors = check_batch(messages)
    assert bad == 4
    by_offset = {r["source_offset"]: r for r in letters}
    assert sorted(by_offset) == [2, 3, 4, 5]
    assert {o: r["reason"] for o, r in by_offset.items()} == {
        2: "DECODE_ERROR", 3: "VALIDATION_ERROR", 4: "VALIDATION_ERROR", 5: "VALIDATION_ERROR"}
    assert (by_offset[3]["field"], by_offset[4]["field"], by_offset[5]["field"]) == (
        "grid_id", "key", "kind")
    for r in letters:
        assert (r["source_topic"], r["source_partition"]) == (REGISTRY_TOPIC, 1)
        assert r["source_kind"] == "building_identity"
        assert [(h["key"], h["value"]) for h in r["original_headers"]] == [
            ("vendor-trace", b"t-1")]
    # bytes that do not decode are kept sealed; a card that breaks its rules, readable
    assert by_offset[2]["original_sealed"]
    assert unseal(by_offset[2]["original_value"], KEY) == b"junk"
    assert not by_offset[3]["original_sealed"] and by_offset[3]["original_value"] == broken
    assert by_offset[4]["original_key"] == b"\xff" and not by_offset[4]["original_value"]
    # a raw card number in a swipe sent to the registry topic never reaches the dead letter
    assert b"6222021234567890123" not in (by_offset[5]["original_value"] or b"")
    assert by_offset[5]["original_value"]
    assert collectors.get_sample_value("hub_deadletter_messages_total",
                                       {"reason": "VALIDATION_ERROR"}) == 3
    assert collectors.get_sample_value("hub_deadletter_messages_total",
                                       {"reason": "DECODE_ERROR"}) == 1


def test_a_batch_splits_into_sources_forwards_and_registry_records() -> None:
    swipes = SOURCE_TOPICS["access_swipe"]
    batch = [Msg(swipes, 0, None, b""), Msg(CORRELATE_TOPIC, 0, None, b""),
             Msg(REGISTRY_TOPIC, 0, None, b""), Msg(swipes, 1, None, b"")]
    sources, forwards, cards = by_stage(batch)
    assert [m.offset() for m in sources] == [0, 1] and all(m.topic() == swipes for m in sources)
    assert [m.topic() for m in forwards] == [CORRELATE_TOPIC]
    assert [m.topic() for m in cards] == [REGISTRY_TOPIC]


def test_a_cards_free_text_is_read_with_personal_numbers_pseudonymized() -> None:
    """A card written by another producer must not carry a raw number into the incidents'
    building snapshots; `hub buildings load` (the edge) scrubs the same fields."""
    from hub.codec import parse_object
    from hub.core.pseudonym import pseudonymize

    raw = card(name="3号楼 管理员 13977770003", address="测试路9号 联系 139 7777 0004")
    got = read_card(CODEC, b"BLDG-1", CODEC.encode("building_identity", raw), "pk")
    assert isinstance(got, Building)
    assert got.name == f"3号楼 管理员 {pseudonymize('13977770003', 'pk')}"
    assert got.address == f"测试路9号 联系 {pseudonymize('13977770004', 'pk')}"
    _, edge = parse_object({"kind": "building_identity", **raw}, pseudonym_key="pk", codec=CODEC)
    assert (edge["name"], edge["address"]) == (got.name, got.address)
