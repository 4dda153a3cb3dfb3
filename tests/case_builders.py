"""Incidents, buildings and operators' actions for the casework and console tests."""

from __future__ import annotations

import uuid
from typing import Any

from hub.model.cases import Department, IncidentAction
from hub.model.events import Building
from hub.model.incidents import Evidence, Incident, Route

MIN = 60_000


def building(bid: str, township: str, district: str = "D-CW-1", grid: str = "G-CW-1",
             city: str = "C-CW") -> Building:
    return Building.from_record({
        "building_id": bid, "name": f"{township} 幸福小区 3 号楼", "site_id": f"S-{bid}",
        "address": "幸福路 1 号", "grid_id": grid, "township_code": township,
        "district_code": district, "city_code": city, "police_station_id": "PS-1",
        "grid_worker_id": "pseudo:5f2a9c", "households": 48, "rental_units": 6,
        "risk_tags": ["rental_dense"], "updated_time": 1_700_000_000_000,
    })


def incident(iid: str, *, risk: str = "HIGH", level: str = "TOWNSHIP", township: str = "T-CW-1",
             emitted: int, version: int = 1, status: str = "CONFIRMED",
             district: str = "D-CW-1") -> Incident:
    b = building(f"B-{iid[-6:]}", township, district)
    code = {"GRID": b.grid_id, "TOWNSHIP": township, "DISTRICT": b.district_code,
            "CITY": b.city_code}[level]
    return Incident(iid, version, "perimeter_breach_entry", "sequence", "周界入侵 breach", risk,
                    b.site_id, b.site_id, b.building_id, b.grid_id, emitted - 60_000,
                    emitted - 1_000, (Evidence("perimeter_alarm", f"pa-{iid}", emitted - 60_000),),
                    Route(level, code), False, b, emitted, status=status)


def action(iid: str, what: str, level: str, code: str, t: int, **kw: Any) -> IncidentAction:
    return IncidentAction(f"act-{uuid.uuid4().hex[:12]}", iid, what, "op-test",
                          Department(level, code), t, **kw)
