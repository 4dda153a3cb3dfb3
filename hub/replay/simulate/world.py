"""The state one simulation run shares, and the event records it makes.

Every part (background, situations, disputes, trends) draws from one seeded ``random.Random``
in a fixed order; keeping that rng, the city, the sink and the constraint bookkeeping in one
object is what lets the parts live in their own modules and still give the same bytes.
"""

from __future__ import annotations

import random
from typing import Any

from hub.replay.simulate.city import Building, Site, build_city
from hub.replay.simulate.config import DAY_MS, MINUTE_MS, SimConfig
from hub.replay.simulate.constraints import Index, Zones
from hub.replay.simulate.dispute_statuses import dispute_history
from hub.replay.simulate.labels import Label, TrendLabel
from hub.replay.simulate.sink import Sink

_WATCHLISTS = ("WL-WANTED", "WL-MISSING", "WL-KEY-PERSON", "WL-FRAUD")
_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "DISPUTE": ("邻里噪音纠纷", "楼道堆物引发争执", "漏水赔偿纠纷", "停车位纠纷", "租金押金纠纷"),
    "SAFETY_HAZARD": ("楼道照明损坏", "井盖松动", "外墙脱落风险"),
    "FIRE_HAZARD": ("电动车楼道充电", "消防通道堵塞", "灭火器过期"),
    "SUSPICIOUS_PERSON": ("陌生人多次徘徊", "疑似群租人员频繁进出"),
    "PUBLIC_ORDER": ("夜间聚集喧哗", "流动摊贩占道"),
    "ENVIRONMENT": ("垃圾未分类堆放", "污水外溢"),
    "OTHER": ("居民咨询", "设施报修"),
}


class World:
    """The one generator's shared state: the seeded rng, the city, the sink, and the indices and
    exclusion zones through which the background and the situations keep out of each other.

    It also makes the event records, so every part draws ids and values from the same rng in
    the same order as ever. The planners (situations, disputes, trends) fill ``injected`` and the
    labels before the first day is generated.
    """

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.start = cfg.start_ms
        self.end = cfg.start_ms + cfg.days * DAY_MS
        self.city = build_city(self.rng, cfg.buildings, cfg.start_ms)
        self.sink = Sink(self.rng, cfg.duplicate_rate, self.end,
                         reorder_devices=cfg.reorder_devices)
        # background constraint indices
        self.intrusions = Index()  # site -> intrusion-type alarm times
        self.bad = Index()  # site -> DENIED/FORCED_OPEN/TAILGATE times
        self.denied = Index()  # door -> DENIED times
        self.visitor_lookups = Index()  # building -> VISITOR lookup times
        self.disputes: dict[str, list[tuple[int, int]]] = {}  # building -> report spans
        # exclusion zones around injected situations
        self.site_zones = Zones()
        self.cred_zones = Zones()
        self.lookup_zones = Zones()
        self.dispute_zones = Zones()
        self.reserved = Zones()  # site -> reserved spans of situations
        self.reserved_buildings = Zones()  # building -> dispute situation spans
        self.injected: dict[int, list[dict[str, Any]]] = {}  # day -> events
        self.labels: list[Label] = []
        self.trend_labels: list[TrendLabel] = []

    def swipe(
        self,
        b: Building,
        door: tuple[str, str],
        t: int,
        cred: str | None,
        method: str,
        result: str,
        direction: str,
    ) -> dict[str, Any]:
        """An access_swipe record at a door of ``b``."""
        return {
            "kind": "access_swipe",
            "event_id": self.sink.new_id("ac"),
            "vendor": b.vendor,
            "device_id": door[1],
            "site_id": b.site_id,
            "event_time": t,
            "building_id": b.building_id,
            "door_id": door[0],
            "credential_hash": cred,
            "method": method,
            "result": result,
            "direction": direction,
        }

    def alarm(
        self,
        site: Site,
        zone: tuple[str, str | None, list[str]],
        device: str,
        t: int,
        alarm_type: str,
        severity: int,
    ) -> dict[str, Any]:
        """A perimeter_alarm record from a zone's device."""
        return {
            "kind": "perimeter_alarm",
            "event_id": self.sink.new_id("pa"),
            "vendor": "dahua",
            "device_id": device,
            "site_id": site.site_id,
            "event_time": t,
            "zone_id": zone[0],
            "building_id": zone[1],
            "alarm_type": alarm_type,
            "severity": severity,
            "description": None,
        }

    def face(
        self, site: Site, camera: tuple[str, str | None], t: int, person: str, sim: float
    ) -> dict[str, Any]:
        """A face_match record against a random watchlist."""
        return {
            "kind": "face_match",
            "event_id": self.sink.new_id("fm"),
            "vendor": "megvii",
            "device_id": camera[0],
            "site_id": site.site_id,
            "event_time": t,
            "building_id": camera[1],
            "watchlist_id": _WATCHLISTS[self.rng.randrange(len(_WATCHLISTS))],
            "person_hash": person,
            "similarity": sim,
        }

    def lookup(
        self, b: Building, t: int, requester: str, role: str, channel: str
    ) -> dict[str, Any]:
        """A building_lookup record (QR scans name the building's code)."""
        return {
            "kind": "building_lookup",
            "event_id": self.sink.new_id("bl"),
            "vendor": "bic-platform",
            "device_id": f"QR-{b.building_id[5:]}" if channel == "QR_SCAN" else f"{channel}-GW",
            "site_id": b.site_id,
            "event_time": t,
            "building_id": b.building_id,
            "requester_hash": requester,
            "requester_role": role,
            "channel": channel,
        }

    def report_chain(
        self,
        grid_id: str,
        b: Building | None,
        site_id: str,
        t: int,
        category: str,
        updates: bool = True,
        history: list[tuple[str, int]] | None = None,
    ) -> list[dict[str, Any]]:
        """One report's events: REPORTED at ``t`` and, with ``updates``, its status updates
        (a DISPUTE's drawn from ``cfg.disputes`` when set); ``history`` gives them instead."""
        rng = self.rng
        report_id = f"RPT-{rng.getrandbits(48):012x}"
        desc = _DESCRIPTIONS[category][rng.randrange(len(_DESCRIPTIONS[category]))]
        statuses = [("REPORTED", t)]
        if history is not None:
            statuses = list(history)
        elif updates and category == "DISPUTE" and self.cfg.disputes is not None:
            statuses = dispute_history(rng, self.cfg.disputes, t)
        elif updates:
            t2 = t + rng.randint(10, 120) * MINUTE_MS
            statuses.append(("ACCEPTED", t2))
            if category == "DISPUTE":
                t3 = t2 + rng.randint(60, 24 * 60) * MINUTE_MS
                statuses.append(("MEDIATING", t3))
                statuses.append(
                    (
                        "RESOLVED" if rng.random() < 0.9 else "UNRESOLVED",
                        t3 + rng.randint(60, 48 * 60) * MINUTE_MS,
                    )
                )
            elif rng.random() < 0.7:
                statuses.append(("RESOLVED", t2 + rng.randint(60, 72 * 60) * MINUTE_MS))
        severity = rng.randint(1, 3)
        worker = f"GW-{grid_id[5:]}"
        return [
            {
                "kind": "grid_report",
                "event_id": self.sink.new_id("gr"),
                "vendor": "grid-app",
                "device_id": f"PAD-{worker}",
                "site_id": site_id,
                "event_time": ts,
                "report_id": report_id,
                "grid_id": grid_id,
                "building_id": b.building_id if b else None,
                "reporter_hash": self.city.grid_workers[grid_id],
                "category": category,
                "status": status,
                "severity": severity,
                "description": desc,
            }
            for status, ts in statuses
        ]

    def schedule(self, events: list[dict[str, Any]]) -> None:
        """Emit ``events`` with their day's generation (like an injected situation's)."""
        for e in events:
            day = (e["event_time"] - self.start) // DAY_MS
            self.injected.setdefault(day, []).append(e)
