"""The city the simulation takes place in: sites, buildings, doors, cameras, zones and grids.

Built once, first, from the seeded generator, so its draws come before any event's; every other
part reads it and none changes it (grid assignment happens here).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from hub.replay.simulate.config import DAY_MS
from hub.replay.simulate.draws import pseudonym

_STREETS = ("文三路", "学院路", "教工路", "莫干山路", "古墩路", "紫荆花路", "天目山路", "庆春路")
_ESTATES = ("翠苑", "嘉绿苑", "文鼎苑", "三墩新城", "古荡新村", "西溪花园", "朝晖", "德加公寓")
_DISTRICTS = ("西湖区", "拱墅区", "上城区", "滨江区", "余杭区", "萧山区")
_RISK_TAGS = ("elderly_alone", "fire_old_wiring", "key_person", "no_property_management")


@dataclass
class Building:
    """A building, its 楼宇身份证 record, doors and residents (with their habits)."""

    building_id: str
    site_id: str
    grid_id: str
    households: int
    record: dict[str, Any]
    doors: list[tuple[str, str]]  # (door_id, controller device_id)
    residents: list[str]  # credential pseudonyms
    methods: list[str]  # preferred method of each resident
    commuter: list[bool]
    vendor: str


@dataclass
class Site:
    """A 小区: its buildings, face cameras (near a building or not) and perimeter zones."""

    site_id: str
    buildings: list[Building] = field(default_factory=list)
    cameras: list[tuple[str, str | None]] = field(default_factory=list)
    zones: list[tuple[str, str | None, list[str]]] = field(default_factory=list)


@dataclass
class City:
    """Everything the events happen in; grid workers report, staff look buildings up."""

    sites: list[Site]
    buildings: list[Building]
    grids: dict[str, list[Building]]
    grid_workers: dict[str, str]  # grid_id -> reporter pseudonym
    staff: list[str]  # pseudonyms of police, property and grid staff who look buildings up


def build_city(rng: random.Random, n_buildings: int, start_ms: int) -> City:
    """Sites of 2-8 buildings (at least two sites), then grids of about 300 households."""
    sites: list[Site] = []
    buildings: list[Building] = []
    remaining = n_buildings
    while remaining > 0:
        size = min(remaining, rng.randint(2, 8))
        if len(sites) == 0 and size == remaining and remaining > 1:
            size = remaining - 1  # at least two sites
        site = Site(f"SITE-{len(sites) + 1:04d}")
        estate = _ESTATES[len(sites) % len(_ESTATES)]
        street = _STREETS[rng.randrange(len(_STREETS))]
        number = rng.randint(1, 999)
        for k in range(size):
            floors = rng.randint(6, 33)
            per_floor = rng.choice((2, 2, 3, 4, 6))
            households = floors * per_floor
            bid = f"BLDG-{len(buildings) + 1:05d}"
            n_doors = 1 if households < 90 else 2
            vendor = "hikvision" if rng.random() < 0.6 else "zkteco"
            doors = [(f"DOOR-{bid[5:]}-{d + 1}", f"AC-{bid[5:]}-{d + 1}") for d in range(n_doors)]
            residents: list[str] = []
            methods: list[str] = []
            commuter: list[bool] = []
            for _ in range(households):
                for _ in range(rng.choice((1, 2, 2, 2, 3))):
                    residents.append(pseudonym(rng))
                    r = rng.random()
                    methods.append(
                        "CARD"
                        if r < 0.5
                        else "FACE"
                        if r < 0.85
                        else "FINGERPRINT"
                        if r < 0.93
                        else "PIN"
                    )
                    commuter.append(rng.random() < 0.7)
            rental = int(households * rng.uniform(0.05, 0.45))
            tags = sorted(
                {_RISK_TAGS[rng.randrange(len(_RISK_TAGS))] for _ in range(rng.randint(0, 2))}
                | ({"group_rental"} if rental > households * 0.35 else set())
            )
            record: dict[str, Any] = {
                "kind": "building_identity",
                "building_id": bid,
                "name": f"{estate}{k + 1}幢",
                "address": f"杭州市{street}{number}号{estate}{k + 1}幢",
                "site_id": site.site_id,
                "grid_id": "",
                "township_code": "",
                "district_code": "",
                "city_code": "330100",
                "police_station_id": None,
                "grid_worker_id": None,
                "households": households,
                "rental_units": rental,
                "risk_tags": tags,
                "updated_time": start_ms - rng.randint(1, 400) * DAY_MS + rng.randrange(DAY_MS),
            }
            b = Building(
                bid,
                site.site_id,
                "",
                households,
                record,
                doors,
                residents,
                methods,
                commuter,
                vendor,
            )
            site.buildings.append(b)
            buildings.append(b)
        for c in range(rng.randint(2, 4)):
            near = site.buildings[rng.randrange(len(site.buildings))].building_id
            site.cameras.append((f"CAM-{site.site_id[5:]}-{c + 1}", near if c else None))
        for z in range(rng.randint(2, 5)):
            near_b: str | None = None
            if rng.random() < 0.5:
                near_b = site.buildings[rng.randrange(len(site.buildings))].building_id
            devices = [f"PA-{site.site_id[5:]}-{z + 1}{d}" for d in "ab"[: rng.randint(1, 2)]]
            site.zones.append((f"ZONE-{site.site_id[5:]}-{z + 1}", near_b, devices))
        sites.append(site)
        remaining -= size
    # grids of about 300 households; 8 grids a township, 4 townships a district
    grids: dict[str, list[Building]] = {}
    workers: dict[str, str] = {}
    current: list[Building] = []
    target = rng.randint(260, 340)
    for b in buildings:
        current.append(b)
        if sum(x.households for x in current) >= target:
            _close_grid(current, grids, workers, rng)
            current = []
            target = rng.randint(260, 340)
    if current:
        _close_grid(current, grids, workers, rng)
    staff = [pseudonym(rng) for _ in range(max(10, len(grids) * 3))]
    return City(sites, buildings, grids, workers, staff)


def _close_grid(
    members: list[Building],
    grids: dict[str, list[Building]],
    workers: dict[str, str],
    rng: random.Random,
) -> None:
    n = len(grids)
    district = 2 + n // 32
    township = f"3301{district:02d}{(n // 8) % 4 + 1:03d}"
    grid_id = f"GRID-{township}-{n % 8 + 1:02d}"
    grids[grid_id] = list(members)
    workers[grid_id] = pseudonym(rng)
    for b in members:
        b.grid_id = grid_id
        r = b.record
        r["grid_id"] = grid_id
        r["township_code"] = township
        r["district_code"] = f"3301{district:02d}"
        r["police_station_id"] = f"PS-{township}"
        r["grid_worker_id"] = f"GW-{grid_id[5:]}"
        r["address"] = "杭州市" + _DISTRICTS[(district - 2) % len(_DISTRICTS)] + r["address"][3:]
