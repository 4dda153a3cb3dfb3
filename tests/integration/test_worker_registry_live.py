"""Registry records produced together with events, to a running worker, enrich them as offline.

The worker starts with an empty registry; then one file holding the 楼宇身份证 records followed by
the events is produced, and the routed incidents must equal `hub correlate`'s. Before each batch
the agents wait until every registry record already on the topic is applied
(RegistryReader.sync), so this holds by construction; without that barrier it held here only by
timing (the engines' start-up hold gives the reader time), which this test cannot distinguish.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hub.settings import Settings
from tests.integration.harness_common import REPO, new_app_id
from tests.integration.incident_compare import (
    assert_same_incidents,
    dead_letter_summary,
    read_offline,
)
from tests.integration.scenarios import Scenario, make_scenario
from tests.integration.topic_io import Received
from tests.integration.topic_reset import reset_topics
from tests.integration.worker_harness import WorkerGroup, flush_and_collect, produce_file

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def one_worker_over(settings: Settings, tmp_path: Path, app: str, path: Path,
                    lag_timeout: float) -> tuple[list[Received], list[Received]]:
    """A worker on fresh topics from the start, ``path`` produced to it, then `hub flush`:
    every incident version and dead letter it published."""
    app_id = new_app_id(app)
    reset_topics(settings, app_id)
    group = WorkerGroup(settings, tmp_path, app_id)
    try:
        group.start("w1")
        group.wait_members(1, timeout=90)
        produce_file(group, path)
        group.wait_lag_zero(timeout=lag_timeout)
        return flush_and_collect(group)
    finally:
        group.stop_all()


def test_registry_and_events_produced_together_route_as_offline(
        stack_settings: Settings, tmp_path: Path) -> None:
    scenario = make_scenario(tmp_path / "scenario", seed=41, buildings=8, days=1,
                             situations_per_rule=2)
    routed = [i for i in scenario.offline.values() if i.get("route")]
    assert len(routed) >= 10  # the property is about routing: most incidents must be routed
    combined = tmp_path / "combined.jsonl"
    combined.write_text(scenario.registry.read_text() + scenario.events.read_text())
    incidents, dead = one_worker_over(stack_settings, tmp_path, "registry", combined, 180)
    assert_same_incidents(incidents, scenario, dead)
    assert dead_letter_summary(dead) == {}


T0 = 1_740_967_200_000  # 2025-03-03 10:00 +08:00


def card(grid: str, township: str, updated: int) -> dict[str, Any]:
    return {
        "kind": "building_identity", "building_id": "BLDG-MOVE", "name": "移交楼",
        "address": "测试路1号", "site_id": "SITE-MOVE", "grid_id": grid, "township_code": township,
        "district_code": "330102", "city_code": "330100", "police_station_id": None,
        "grid_worker_id": None, "households": 40, "rental_units": 0, "risk_tags": [],
        "updated_time": updated,
    }


def held_open(door: str, t: int) -> dict[str, Any]:
    return {
        "kind": "access_swipe", "event_id": f"ac-move-{door}", "vendor": "zk",
        "device_id": f"AC-{door}", "site_id": "SITE-MOVE", "event_time": t,
        "building_id": "BLDG-MOVE", "door_id": door, "method": "UNKNOWN", "result": "HELD_OPEN",
        "direction": "IN",
    }


def test_a_card_changed_mid_stream_routes_each_incident_by_its_event_time(
        stack_settings: Settings, tmp_path: Path) -> None:
    """The building moves to another grid at T0+121 s (an outside probe's case). Routing by the
    card held when an incident was emitted sent the door held open at T0 to the new grid online
    (everything was emitted after the change was read) and to the old one offline; by the card
    in force at the event's time both say: the two doors before the change to GRID-OLD, the two
    after to GRID-NEW, PROVISIONAL and CONFIRMED alike."""
    old, new = card("GRID-OLD", "330102001", T0 - 86_400_000), card("GRID-NEW", "330102009",
                                                                     T0 + 121_000)
    lines = [old, held_open("D2", T0), held_open("D9", T0 + 120_000), new,
             held_open("D3", T0 + 125_000), held_open("D4", T0 + 300_000)]
    path = tmp_path / "moved.jsonl"
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
    offline_path = tmp_path / "offline.jsonl"
    done = subprocess.run([sys.executable, "-m", "hub", "correlate", "--in", str(path), "--out",
                           str(offline_path), "--final"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    offline = read_offline(offline_path)
    expected = {"ac-move-D2": "GRID-OLD", "ac-move-D9": "GRID-OLD", "ac-move-D3": "GRID-NEW",
                "ac-move-D4": "GRID-NEW"}
    assert {i["evidence"][0]["event_id"]: i["route"]["department_id"]
            for i in offline.values()} == expected
    incidents, dead = one_worker_over(stack_settings, tmp_path, "registry-move", path, 120)
    scenario = Scenario(path, path, 4, offline, frozenset({"door_held_open"}))
    assert_same_incidents(incidents, scenario, dead)
    every = [r.record for r in incidents if r.record is not None]
    assert {r["status"] for r in every} == {"PROVISIONAL", "CONFIRMED"}
    for r in every:
        door = r["evidence"][0]["event_id"]
        assert r["route"]["department_id"] == expected[door], (door, r["status"])
    assert dead_letter_summary(dead) == {}
