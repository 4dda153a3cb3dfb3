"""Builders for events in core tests: short, explicit, no codec involved."""

from __future__ import annotations

from typing import Any

from hub.model.events import Building, Event

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def ev(kind: str, eid: str, t: int, site: str = "S1", **fields: Any) -> Event:
    base = {"event_id": eid, "vendor": "v", "device_id": fields.pop("device_id", "dev1"),
            "site_id": site, "event_time": T0 + t}
    base.update(fields)
    return Event.from_record(kind, base)


def alarm(eid: str, t: int, alarm_type: str = "INTRUSION", **kw: Any) -> Event:
    kw.setdefault("zone_id", "Z1")
    kw.setdefault("building_id", None)
    kw.setdefault("severity", 3)
    return ev("perimeter_alarm", eid, t, alarm_type=alarm_type, **kw)


def swipe(eid: str, t: int, result: str = "GRANTED", door: str = "D1", cred: str = "c1",
          **kw: Any) -> Event:
    kw.setdefault("building_id", "B1")
    return ev("access_swipe", eid, t, door_id=door, credential_hash=cred, method="CARD",
              result=result, direction="IN", **kw)


def face(eid: str, t: int, similarity: float = 0.95, **kw: Any) -> Event:
    kw.setdefault("building_id", "B1")
    return ev("face_match", eid, t, watchlist_id="W1", person_hash="p1", similarity=similarity,
              **kw)


def lookup(eid: str, t: int, requester: str, role: str = "VISITOR", **kw: Any) -> Event:
    kw.setdefault("building_id", "B1")
    return ev("building_lookup", eid, t, requester_hash=requester, requester_role=role,
              channel="QR_SCAN", **kw)


def report(eid: str, t: int, report_id: str, category: str = "DISPUTE", status: str = "REPORTED",
           **kw: Any) -> Event:
    kw.setdefault("building_id", "B1")
    kw.setdefault("grid_id", "G1")
    return ev("grid_report", eid, t, report_id=report_id, reporter_hash="r1",
              category=category, status=status, severity=2, description="", **kw)


def building(bid: str = "B1", site: str = "S1", grid: str = "G1") -> Building:
    return Building(bid, f"楼{bid}", "路1号", site, grid, "T1", "D1", "C1", "PS1", "GW1", 120, 10,
                    (), T0)
