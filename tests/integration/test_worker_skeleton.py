"""The walking skeleton against the real broker and Redis, with a real ``hub worker``.

One worker per module, on freshly reset topics and a unique app id, with the default rules but a
short lateness (1 s) and idle time (2 s) so results come in seconds. The tests run in file order:
the first one needs engines that have never been flushed (the idle path), the later ones use
``hub flush`` to close windows at once.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.adapters.kafka.io import make_producer
from hub.settings import DEADLETTER_TOPIC, INCIDENTS_TOPIC, LEVEL_TOPICS, Settings
from tests.integration.harness_common import new_app_id, wait_until
from tests.integration.scenarios import write_jsonl
from tests.integration.topic_io import reading
from tests.integration.worker_harness import WorkerGroup, single_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T0 = 1_740_960_000_000  # 2025-03-03 08:00 +08:00
DISTRICT = "330102"


def building(n: str, site: str) -> dict[str, Any]:
    return {
        "kind": "building_identity", "building_id": f"BLDG-{n}", "name": f"测试{n}幢",
        "address": f"杭州市西湖区测试路{n}号", "site_id": site, "grid_id": "GRID-330102001-01",
        "township_code": "330102001", "district_code": DISTRICT, "city_code": "330100",
        "police_station_id": "PS-330102001", "grid_worker_id": "GW-330102001-01",
        "households": 40, "rental_units": 4, "risk_tags": [], "updated_time": T0 - 86_400_000,
    }


def alarm(eid: str, site: str, t: int, alarm_type: str = "INTRUSION") -> dict[str, Any]:
    return {
        "kind": "perimeter_alarm", "event_id": eid, "vendor": "dahua",
        "device_id": f"PA-{site}", "site_id": site, "event_time": t, "zone_id": f"Z-{site}",
        "building_id": None, "alarm_type": alarm_type, "severity": 4,
    }


def swipe(eid: str, site: str, n: str, t: int, result: str = "DENIED") -> dict[str, Any]:
    return {
        "kind": "access_swipe", "event_id": eid, "vendor": "hikvision",
        "device_id": f"AC-{n}", "site_id": site, "event_time": t, "building_id": f"BLDG-{n}",
        "door_id": f"DOOR-{n}", "credential_hash": "p1:00000000000000000000000000000001",
        "method": "CARD", "result": result, "direction": "IN",
    }


SITES = {"A": "SITE-T-A", "B": "SITE-T-B", "C": "SITE-T-C", "D": "SITE-T-D"}


@pytest.fixture(scope="module")
def hub_worker(stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[WorkerGroup]:
    tmp = tmp_path_factory.mktemp("skeleton")

    def produce_registry(group: WorkerGroup) -> None:
        registry = write_jsonl(tmp / "registry.jsonl", [building(k, s) for k, s in SITES.items()])
        done = group.hub("produce", str(registry))
        assert done.returncode == 0, done.stderr

    with single_worker(stack_settings, tmp, new_app_id("skeleton"),
                       before_start=produce_registry) as group:
        yield group


def produce(group: WorkerGroup, tmp: Path, name: str, lines: list[dict[str, Any]],
            *extra: str) -> None:
    done = group.hub("produce", *extra, str(write_jsonl(tmp / name, lines)))
    assert done.returncode == 0, done.stdout + done.stderr


def incidents_of(received: list[Any], site: str, status: str | None = "CONFIRMED"
                 ) -> list[dict[str, Any]]:
    """The site's incident versions of ``status`` (None: all), in the order read."""
    return [r.record for r in received if r.record is not None and r.record["site_id"] == site
            and status in (None, r.record.get("status", "CONFIRMED"))]


def test_provisional_at_arrival_then_confirmed_without_flush(hub_worker: WorkerGroup,
                                                             tmp_path: Path) -> None:
    """Early alerts: the completing swipe makes a PROVISIONAL version in its own batch; no flush:
    once both sources fall idle (2 s), ticks advance their watermarks and the CONFIRMED version
    follows, same id, same evidence."""
    site = SITES["A"]
    # The alarm forwarded before the swipe: produced together, the two topics' fetches may bring
    # the swipe in an earlier batch, and a sequence seen out of order is never provisional.
    produce(hub_worker, tmp_path, "a1.jsonl", [alarm("it-a-1", site, T0)])
    hub_worker.wait_lag_zero(timeout=180)
    produce(hub_worker, tmp_path, "a2.jsonl", [swipe("it-a-2", site, "A", T0 + 3_000)])
    with reading(hub_worker.settings, INCIDENTS_TOPIC) as inc:
        got = inc.until(lambda rs: bool(incidents_of(rs, site)), timeout=45,
                        what=f"the idle-path incident of {site}")
    [incident] = incidents_of(got, site)
    assert incident["rule_id"] == "perimeter_breach_entry"
    assert incident["risk_level"] == "HIGH"
    assert [e["event_id"] for e in incident["evidence"]] == ["it-a-1", "it-a-2"]
    statuses = [r["status"] for r in incidents_of(got, site, None)]
    assert statuses == ["PROVISIONAL", "CONFIRMED"], statuses  # one partition: in this order
    [early] = incidents_of(got, site, "PROVISIONAL")
    assert (early["incident_id"], early["evidence"]) == (incident["incident_id"],
                                                         incident["evidence"])


def test_breach_then_denied_gives_one_routed_incident_and_repeats_give_none(
        hub_worker: WorkerGroup, tmp_path: Path) -> None:
    site = SITES["B"]
    events = [alarm("it-b-1", site, T0 + 600_000),
              swipe("it-b-2", site, "B", T0 + 600_000 + 120_000)]
    # the alarm forwarded before the swipe (see test_provisional_at_arrival_...)
    produce(hub_worker, tmp_path, "b1.jsonl", events[:1])
    hub_worker.wait_lag_zero(timeout=180)
    produce(hub_worker, tmp_path, "b2.jsonl", events[1:])
    hub_worker.wait_lag_zero(timeout=180)
    flushed = hub_worker.hub("flush", "--wait", "60")
    assert flushed.returncode == 0, flushed.stderr

    with reading(hub_worker.settings, INCIDENTS_TOPIC, LEVEL_TOPICS["DISTRICT"]) as rd:
        rd.until(lambda rs: len(incidents_of(rs, site)) >= 2, timeout=45,
                 what="the incident on hub.incidents and hub.incidents.district")
        rd.until_quiet(quiet=2.0, timeout=30)
        every = [r for r in rd.received if r.record is not None and r.record["site_id"] == site]
    # the PROVISIONAL versions (one per topic) went out first, in the swipe's batch
    assert sorted(r.record["status"] for r in every) == [
        "CONFIRMED", "CONFIRMED", "PROVISIONAL", "PROVISIONAL"]
    mine = [r for r in every if r.record["status"] == "CONFIRMED"]
    by_topic = {r.topic: r for r in mine}
    assert sorted(r.topic for r in mine) == [INCIDENTS_TOPIC, LEVEL_TOPICS["DISTRICT"]], mine
    main, routed = by_topic[INCIDENTS_TOPIC], by_topic[LEVEL_TOPICS["DISTRICT"]]
    rec = main.record
    assert rec is not None
    assert (rec["rule_id"], rec["risk_level"], rec["version"]) == (
        "perimeter_breach_entry", "HIGH", 1)
    assert main.key == rec["incident_id"].encode()
    assert [(e["kind"], e["event_id"]) for e in rec["evidence"]] == [
        ("perimeter_alarm", "it-b-1"), ("access_swipe", "it-b-2")]
    assert rec["route"] == {"level": "DISTRICT", "department_id": DISTRICT}
    assert rec["building_id"] == "BLDG-B" and rec["building"]["district_code"] == DISTRICT
    assert routed.key == DISTRICT.encode() and routed.record == rec

    # The same events again: Redis dedup drops them at ingest, nothing new comes out.
    before = hub_worker.workers["w1"].metric_sum("hub_dedup_duplicates_total")
    produce(hub_worker, tmp_path, "b-again.jsonl", events)
    hub_worker.wait_lag_zero(timeout=180)
    wait_until(lambda: hub_worker.workers["w1"].metric_sum("hub_dedup_duplicates_total")
               >= before + 2, timeout=30, what="2 duplicates counted")
    with reading(hub_worker.settings, INCIDENTS_TOPIC, LEVEL_TOPICS["DISTRICT"]) as rd:
        rd.until_quiet(quiet=3.0, timeout=30)
        again = [r for r in rd.received if r.record is not None and r.record["site_id"] == site]
    # Two topics are read at once: their records interleave in no fixed order.
    assert sorted((r.topic, r.offset) for r in again) == sorted((r.topic, r.offset) for r in every)


def test_garbage_goes_to_deadletter_and_next_event_still_processed(
        hub_worker: WorkerGroup, tmp_path: Path) -> None:
    site = SITES["C"]
    garbage = b"\x00not avro\xff" + random.Random(7).randbytes(40)
    delivered: list[Any] = []
    producer = make_producer(hub_worker.settings)
    producer.produce("hub.src.access_swipe", value=garbage, key=site.encode(),
                     on_delivery=lambda err, msg: delivered.append((err, msg)))
    assert producer.flush(30) == 0
    [(err, msg)] = delivered
    assert err is None
    coords = ("hub.src.access_swipe", msg.partition(), msg.offset())

    produce(hub_worker, tmp_path, "c.jsonl", [
        alarm("it-c-1", site, T0 + 1_200_000), swipe("it-c-2", site, "C", T0 + 1_260_000),
    ])
    from hub.codec.seal import unseal

    def kept(rec: dict[str, Any] | None) -> bytes | None:
        """The original bytes of a dead letter: undecodable ones are sealed (hub.codec.seal)."""
        if not rec or not rec["original_sealed"]:
            return None
        return unseal(rec["original_value"], hub_worker.settings.deadletter_key)

    with reading(hub_worker.settings, DEADLETTER_TOPIC) as dl:
        got = dl.until(lambda rs: any(kept(r.record) == garbage for r in rs), timeout=45,
                       what="the garbage dead letter")
    [dead] = [r.record for r in got if kept(r.record) == garbage]
    assert garbage not in dead["original_value"]  # not readable without the key
    assert dead["reason"] == "DECODE_ERROR"
    assert (dead["source_topic"], dead["source_partition"], dead["source_offset"]) == coords
    assert dead["original_key"] == site.encode()

    # The worker kept going: the good events behind the garbage (same key, so the same source
    # partition, later offsets) make their incident once the input is flushed.
    flushed = hub_worker.hub("flush", "--wait", "60")
    assert flushed.returncode == 0, flushed.stderr
    with reading(hub_worker.settings, INCIDENTS_TOPIC) as inc:
        got = inc.until(lambda rs: bool(incidents_of(rs, site)), timeout=45,
                        what=f"the incident of {site} after the garbage")
    [incident] = incidents_of(got, site)
    assert [e["event_id"] for e in incident["evidence"]] == ["it-c-1", "it-c-2"]


def test_wrong_kind_on_a_topic_is_a_validation_error(hub_worker: WorkerGroup,
                                                     tmp_path: Path) -> None:
    site = SITES["C"]
    produce(hub_worker, tmp_path, "wrong.jsonl",
            [alarm("it-wrong-1", site, T0 + 1_300_000)], "--topic", "hub.src.access_swipe")
    with reading(hub_worker.settings, DEADLETTER_TOPIC) as dl:
        got = dl.until(lambda rs: any(r.record and r.record["reason"] == "VALIDATION_ERROR"
                                      for r in rs), timeout=45, what="a VALIDATION_ERROR")
    [dead] = [r.record for r in got if r.record and r.record["reason"] == "VALIDATION_ERROR"]
    assert dead["source_topic"] == "hub.src.access_swipe"
    assert dead["field"] == "kind"
    assert dead["source_kind"] == "access_swipe"
    from hub.codec import load_codec

    kind, record = load_codec(hub_worker.settings.schemas_dir).decode(dead["original_value"])
    assert (kind, record["event_id"]) == ("perimeter_alarm", "it-wrong-1")


def test_after_a_flush_newer_events_still_correlate(hub_worker: WorkerGroup,
                                                    tmp_path: Path) -> None:
    """The flushes above closed time up to their newest events, not for ever: a later
    situation is correlated as usual, and only an event from the flushed time is LATE. Before,
    every later event was LATE, restarts included."""
    site = SITES["D"]
    produce(hub_worker, tmp_path, "d.jsonl", [
        alarm("it-d-1", site, T0 + 3_600_000), swipe("it-d-2", site, "D", T0 + 3_603_000),
        alarm("it-d-old", SITES["C"], T0 + 1_000, alarm_type="TAMPER"),
    ])
    hub_worker.wait_lag_zero(timeout=180)
    # The other source partitions' clocks stand an hour behind (idle time counts in wall
    # time): a flush closes the windows at once, as in the tests above.
    flushed = hub_worker.hub("flush", "--wait", "60")
    assert flushed.returncode == 0, flushed.stderr
    with reading(hub_worker.settings, INCIDENTS_TOPIC) as inc:
        got = inc.until(lambda rs: bool(incidents_of(rs, site)), timeout=45,
                        what=f"the incident of {site} after the flushes")
    [incident] = incidents_of(got, site)
    assert [e["event_id"] for e in incident["evidence"]] == ["it-d-1", "it-d-2"]
    # LATE for its source: no provisional alert from it either (it could only be retracted)
    assert [r.record["status"] for r in got if r.record and "it-d-old" in
            [e["event_id"] for e in r.record["evidence"]]] == []
    with reading(hub_worker.settings, DEADLETTER_TOPIC) as dl:
        dl.until(lambda rs: any(r.record and "it-d-old" in r.record["detail"] for r in rs),
                 timeout=45, what="the LATE dead letter of the event from the flushed time")
        dl.until_quiet(quiet=2.0, timeout=30)
        late = [r.record for r in dl.received if r.record and r.record["reason"] == "LATE"]
    assert {d["detail"].split()[1] for d in late} == {"it-d-old"}, late
