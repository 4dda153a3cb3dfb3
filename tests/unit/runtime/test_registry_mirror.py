"""The worker's Redis mirror of the registry follows the registry, not the topic's last word:
an older card read after a newer one does not replace it, and a tombstone removes the card (the
楼宇身份证 lookup answers from this mirror)."""

from __future__ import annotations

import dataclasses
import json

from hub.codec import load_codec
from hub.core.registry import MemoryBuildingRegistry
from hub.runtime.registry_reader import RegistryReader
from tests.case_builders import building


class FakeRedis:
    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def set(self, key: str, value: str) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


def test_the_mirror_keeps_the_newest_card_and_drops_a_removed_one() -> None:
    codec = load_codec()
    reader = RegistryReader("127.0.0.1:1", "hub.registry.building", codec,
                            MemoryBuildingRegistry())
    fake = FakeRedis()
    reader._redis = fake  # the Redis client, replaced by its twin
    new = building("B-M1", "T-1")
    old = dataclasses.replace(new, name="旧名字", updated_time=new.updated_time - 1)
    try:
        reader._apply(b"B-M1", codec.encode("building_identity", new.to_record()))
        reader._apply(b"B-M1", codec.encode("building_identity", old.to_record()))
        assert json.loads(fake.data["hub:building:B-M1"])["name"] == new.name
        reader._apply(b"B-M1", None)
        assert "hub:building:B-M1" not in fake.data
        assert len(reader.registry) == 0
    finally:
        reader.close()


def test_records_that_do_not_read_are_counted_and_skipped_not_raised() -> None:
    """The reader reads the whole topic before every batch: a bad record raised would stop
    every batch for as long as compaction keeps it."""
    codec = load_codec()
    reader = RegistryReader("127.0.0.1:1", "hub.registry.building", codec,
                            MemoryBuildingRegistry())
    card = building("B-M2", "T-1")
    try:
        reader._apply(b"\xff\xfe", None)  # a tombstone whose key is not UTF-8
        reader._apply(b"B-X", b"not avro")
        reader._apply(b"B-X", codec.encode("grid_report", {
            "event_id": "g1", "vendor": "v", "device_id": "d", "site_id": "s",
            "event_time": 1_700_000_000_000, "report_id": "r", "grid_id": "g",
            "building_id": None, "reporter_hash": "p1:" + "0" * 32, "category": "DISPUTE",
            "status": "REPORTED", "severity": 1, "description": "x"}))
        reader._apply(b"B-M2", codec.encode("building_identity", card.to_record()))
        assert reader.rejected == 3
        assert len(reader.registry) == 1 and reader.registry.get("B-M2") is not None
    finally:
        reader.close()


def test_a_card_breaking_the_cards_rules_is_rejected_and_counted() -> None:
    """A card produced to the topic directly skipped the rules `hub buildings` checks: a
    100 kB name, a bidi override in grid_id, a negative count and an empty district code were
    taken, and the incidents of that building came out unrouted (an outside probe)."""
    codec = load_codec()
    rejected: list[int] = []
    reader = RegistryReader("127.0.0.1:1", "hub.registry.building", codec,
                            MemoryBuildingRegistry(), on_reject=lambda: rejected.append(1))
    card = building("B-M3", "T-1")
    try:
        for bad in ({"name": "x" * 100_000}, {"grid_id": "G\u202eX"}, {"households": -5},
                    {"district_code": ""}):
            record = {**card.to_record(), **bad}
            reader._apply(b"B-M3", codec.encode("building_identity", record))
        assert reader.rejected == 4 and len(rejected) == 4
        assert len(reader.registry) == 0
        reader._apply(b"B-M3", codec.encode("building_identity", card.to_record()))
        assert reader.registry.get("B-M3") is not None
    finally:
        reader.close()
