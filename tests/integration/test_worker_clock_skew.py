"""A device clock that runs ahead, live: nothing goes LATE, nothing is lost (ADR 0006).

A live worker (event time = now) gets, on one partition of each source, honest intrusion alarms
and DENIED swipes at five sites, a camera whose clock is 4 minutes fast and one alarm stamped
2099. Before the clock rule the fast camera's first alarm made every later honest alarm LATE.
Now: no dead letter at all, every honest incident confirmed, the fast stamps corrected to their
arrival and counted per device, and the same confirmed incidents as `hub correlate` over a
recording of the same topics (which keeps each message's Kafka timestamp).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.codec import load_codec
from hub.replay.record import record
from hub.runtime.frames import partition_for
from hub.settings import REGISTRY_TOPIC, SOURCE_TOPICS, Settings
from tests.integration.harness_common import REPO, new_app_id
from tests.integration.incident_compare import describe_diff, final_versions
from tests.integration.test_worker_hostile import alarm, swipe  # the same record builders
from tests.integration.topic_io import produce_raw
from tests.integration.topic_reset import exclusive_topics
from tests.integration.worker_harness import WorkerGroup, flush_and_collect, single_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ALARMS, SWIPES = SOURCE_TOPICS["perimeter_alarm"], SOURCE_TOPICS["access_swipe"]
FAST_MS = 4 * 60_000
YEAR_2099 = 4_102_358_400_000  # 2099-12-31T00:00:00Z
#: five sites whose keys share one partition, so the bad clocks share the honest ones' origin
SITES = [s for s in (f"SKEW-{i}" for i in range(200)) if partition_for(s, 4) ==
         partition_for("SKEW-0", 4)][:5]


def now_ms() -> int:
    return int(time.time() * 1000)


def alarm_at(eid: str, site: str, t: int, device: str, alarm_type: str) -> dict[str, Any]:
    return alarm(eid, t, site_id=site, device_id=device, alarm_type=alarm_type, zone_id="Z")


def swipe_at(eid: str, site: str, t: int) -> dict[str, Any]:
    return swipe(eid, t, site_id=site, device_id=f"AC-{site}", building_id=f"B-{site}",
                 door_id=f"DOOR-{site}", credential_hash=None)


@pytest.fixture(scope="module")
def group(stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[WorkerGroup]:
    tmp = tmp_path_factory.mktemp("skew")
    with exclusive_topics(stack_settings), \
            single_worker(stack_settings, tmp, new_app_id("skew")) as g:
        yield g


def test_fast_and_2099_clocks_lose_nothing_and_match_offline(group: WorkerGroup,
                                                            tmp_path: Path) -> None:
    codec = load_codec()
    settings = group.settings
    stamped: dict[str, int] = {}  # fast or 2099 alarm id -> its device stamp

    def send(topic: str, kind: str, rec: dict[str, Any]) -> None:
        produce_raw(settings, topic, codec.encode(kind, rec), key=rec["site_id"].encode())

    for r, site in enumerate(SITES):
        honest = alarm_at(f"a{r}", site, now_ms(), f"PA-{site}", "INTRUSION")
        send(ALARMS, "perimeter_alarm", honest)
        fast = alarm_at(f"fast{r}", site, now_ms() + FAST_MS, "PA-FAST", "TAMPER")
        stamped[fast["event_id"]] = fast["event_time"]
        send(ALARMS, "perimeter_alarm", fast)
        if r == 1:
            bad = alarm_at("y2099", site, YEAR_2099, "PA-2099", "TAMPER")
            stamped["y2099"] = YEAR_2099
            send(ALARMS, "perimeter_alarm", bad)
        time.sleep(0.2)
        send(SWIPES, "access_swipe", swipe_at(f"s{r}", site, now_ms()))
        time.sleep(1.5)  # > the fast rules' 1 s lateness: each round is behind the last
    incidents, dead = flush_and_collect(group)

    assert [d.record and d.record.get("reason") for d in dead] == []
    online = final_versions(r.record for r in incidents if r.record is not None)
    rules = sorted(i["rule_id"] for i in online.values())
    assert rules.count("perimeter_breach_entry") == len(SITES), rules
    assert rules.count("device_tamper") == 2, rules  # the fast camera and the 2099 one
    evidence = {e["event_id"]: e["event_time"] for i in online.values() for e in i["evidence"]}
    assert {"fast0", "y2099"} <= set(evidence)
    for eid in set(stamped) & set(evidence):  # corrected to their arrival, before the stamp
        assert evidence[eid] < stamped[eid] - FAST_MS // 2, (eid, evidence[eid], stamped[eid])
    counted = group.workers["w1"].metric_sum("hub_ingest_future_events_total")
    assert counted == len(stamped)

    rec = tmp_path / "skew.avro"
    record(settings, [*SOURCE_TOPICS.values(), REGISTRY_TOPIC], rec, from_beginning=True)
    out = tmp_path / "offline.jsonl"
    done = subprocess.run([sys.executable, "-m", "hub", "correlate", "--rules",
                           str(group.rules_dir), "--in", str(rec), "--out", str(out), "--final"],
                          env=group.env, cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "device PA-FAST: 5 event times past their arrival" in done.stderr
    offline = final_versions(json.loads(x) for x in out.read_text().splitlines() if x)
    assert not describe_diff(online, offline), describe_diff(online, offline)
