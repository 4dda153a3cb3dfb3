"""Builders for the analytics tests: grid reports, incidents and buildings, times in local days."""

from __future__ import annotations

from typing import Any

from hub.core.analytics import AnalyticsConfig, AreaDirectory
from hub.model.events import Building, Event
from hub.model.incidents import CONFIRMED, Evidence, Incident

H = 3_600_000
DAY = 24 * H
WEEK = 7 * DAY
#: Monday 2026-01-05 00:00 in Asia/Shanghai (2026-01-04T16:00:00Z)
MONDAY = 1_767_542_400_000
CONFIG = AnalyticsConfig()


def building(bid: str = "B1", grid: str = "G1", township: str = "T1", district: str = "D1",
             city: str = "C1", households: int = 500, updated: int = 0) -> Building:
    return Building(bid, "name", "address", "S1", grid, township, district, city, None, None,
                    households, 0, (), updated)


def directory(*buildings: Building) -> AreaDirectory:
    return AreaDirectory(buildings or (building(),))


def report(eid: str, t: int, report_id: str, status: str = "REPORTED",
           category: str = "DISPUTE", building_id: str | None = "B1",
           grid_id: str = "G1") -> Event:
    record: dict[str, Any] = {
        "event_id": eid, "vendor": "v", "device_id": "d", "site_id": "S1", "event_time": t,
        "report_id": report_id, "grid_id": grid_id, "building_id": building_id,
        "reporter_hash": "p1:" + "0" * 32, "category": category, "status": status,
        "severity": 2, "description": ""}
    return Event.from_record("grid_report", record)


def incident(iid: str, t: int, rule_id: str = "perimeter_breach_entry", risk: str = "HIGH",
             version: int = 1, status: str = CONFIRMED, b: Building | None = None,
             grid_id: str | None = "G1") -> Incident:
    b = b if b is not None else building()
    return Incident(iid, version, rule_id, "single", "title", risk, "key", "S1", b.building_id,
                    grid_id, t, t, (Evidence("perimeter_alarm", f"{iid}-e", t),), None, True, b,
                    t, status=status)
