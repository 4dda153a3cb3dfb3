"""Registry records the registry cannot take, produced to a running worker: each becomes one dead
letter (reason, field, original key and bytes) and stays one through a restart of the worker;
the registry goes on taking the good card behind them, and its events are routed by it.

Before, such a record was skipped, logged and counted by every worker reading the registry, and
was on no topic but its own: against "every input is processed or dead-lettered".
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from hub.codec import load_codec
from hub.codec.seal import unseal
from hub.settings import DEADLETTER_TOPIC, INCIDENTS_TOPIC, REGISTRY_TOPIC, SOURCE_TOPICS, Settings
from tests.integration.harness_common import new_app_id
from tests.integration.topic_io import Received, Sent, produce_raw, reading
from tests.integration.topic_reset import exclusive_topics
from tests.integration.worker_harness import single_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T0 = 1_740_967_200_000  # 2025-03-03 10:00 +08:00
SITE, BUILDING = "SITE-RJ", "BLDG-RJ"


def card(**over: Any) -> dict[str, Any]:
    return {"building_id": BUILDING, "name": "登记楼", "address": "测试路9号", "site_id": SITE,
            "grid_id": "GRID-RJ", "township_code": "330102009", "district_code": "330102",
            "city_code": "330100", "police_station_id": None, "grid_worker_id": None,
            "households": 30, "rental_units": 0, "risk_tags": [], "updated_time": T0, **over}


def alarm(eid: str, t: int) -> dict[str, Any]:
    return {"event_id": eid, "vendor": "dahua", "device_id": "PA-RJ", "site_id": SITE,
            "event_time": t, "zone_id": "Z-RJ", "building_id": None, "alarm_type": "INTRUSION",
            "severity": 4, "description": None}


def swipe(eid: str, t: int) -> dict[str, Any]:
    return {"event_id": eid, "vendor": "zk", "device_id": "AC-RJ", "site_id": SITE,
            "event_time": t, "building_id": BUILDING, "door_id": "DOOR-RJ",
            "credential_hash": "p1:00000000000000000000000000000009", "method": "CARD",
            "result": "DENIED", "direction": "IN"}


def registry_letters(received: list[Received]) -> list[dict[str, Any]]:
    return [r.record for r in received if r.topic == DEADLETTER_TOPIC and r.record is not None
            and r.record["source_topic"] == REGISTRY_TOPIC]


def test_registry_junk_is_dead_lettered_once_and_good_cards_still_route(
        stack_settings: Settings, tmp_path: Path) -> None:
    with exclusive_topics(stack_settings), \
            single_worker(stack_settings, tmp_path, new_app_id("regjunk")) as group:
        settings = group.settings
        codec = load_codec(settings.schemas_dir)
        junk = [  # key, value, reason, field
            (BUILDING.encode(), b"\x00not avro", "DECODE_ERROR", None),
            (BUILDING.encode(), codec.encode("perimeter_alarm", alarm("rj-wrong", T0)),
             "VALIDATION_ERROR", "kind"),
            (BUILDING.encode(), codec.encode("building_identity", card(grid_id="GRID-\u202eRJ")),
             "VALIDATION_ERROR", "grid_id"),
            (b"\xff\xfe", None, "VALIDATION_ERROR", "key"),
        ]
        sent: list[Sent] = [produce_raw(settings, REGISTRY_TOPIC, value, key=key,
                                        headers=[("vendor-trace", b"rj")])
                            for key, value, _, _ in junk]
        produce_raw(settings, REGISTRY_TOPIC, codec.encode("building_identity", card()),
                    key=BUILDING.encode())
        alarms, swipes = SOURCE_TOPICS["perimeter_alarm"], SOURCE_TOPICS["access_swipe"]
        produce_raw(settings, alarms, codec.encode("perimeter_alarm", alarm("rj-1", T0 + 1_000)),
                    key=SITE.encode())
        produce_raw(settings, swipes, codec.encode("access_swipe", swipe("rj-2", T0 + 30_000)),
                    key=SITE.encode())

        with reading(settings, INCIDENTS_TOPIC) as inc:
            got = inc.until(lambda rs: any(r.record and r.record["site_id"] == SITE for r in rs),
                            timeout=90, what="the incident of the good card's building")
        incident = next(r.record for r in got if r.record and r.record["site_id"] == SITE)
        assert (incident["building_id"], incident["grid_id"]) == (BUILDING, "GRID-RJ"), incident

        coords = {(s.partition, s.offset): (reason, field, s)
                  for s, (_, _, reason, field) in zip(sent, junk, strict=True)}
        with reading(settings, DEADLETTER_TOPIC) as dl:
            dl.until(lambda rs: {(r["source_partition"], r["source_offset"])
                                 for r in registry_letters(rs)} >= set(coords),
                     timeout=60, what="a dead letter for each registry record it cannot take")
        first = registry_letters(dl.received)
        for rec in first:
            reason, field, s = coords[(rec["source_partition"], rec["source_offset"])]
            assert (rec["reason"], rec["field"] if field else None) == (reason, field), rec
            assert rec["original_key"] == s.key and rec["source_kind"] == "building_identity"
            kept = (unseal(rec["original_value"], settings.deadletter_key)
                    if rec["original_sealed"] else rec["original_value"])
            assert kept == (s.value or b""), rec["detail"]
            assert {"key": "vendor-trace", "value": b"rj"} in rec["original_headers"]

        # A restart: the records are not dead-lettered again. One more junk record per key,
        # after it, shows the new worker has read each of those partitions past them.
        w1 = group.workers["w1"]
        w1.stop()
        assert w1.proc is not None and w1.proc.returncode == 0, w1.log_tail(20)
        group.start("w1")  # the same worker again, a new process
        group.wait_members(1, timeout=60)
        again = [produce_raw(settings, REGISTRY_TOPIC, b"\x00junk after the restart", key=key)
                 for key in {key for key, _, _, _ in junk}]
        with reading(settings, DEADLETTER_TOPIC) as dl:
            dl.until(lambda rs: {(r["source_partition"], r["source_offset"])
                                 for r in registry_letters(rs)}
                     >= {(s.partition, s.offset) for s in again},
                     timeout=90, what="the dead letters of the records after the restart")
            letters = registry_letters(dl.received)
        counts = Counter((r["source_partition"], r["source_offset"]) for r in letters)
        assert counts == Counter(list(coords) + [(s.partition, s.offset) for s in again]), counts
        group.assert_alive()
        assert "batch failed" not in group.logs(400)
