"""A synthetic city for tests, demos and benchmarks: ``hub simulate``.

Pure: :func:`simulate` returns the interchange lines (registry first, then events in arrival order)
and the ground-truth labels; the command writes them. The same :class:`SimConfig` always gives
byte-identical output (one seeded ``random.Random``, no set iteration, no wall clock).

What the city holds
    sites (小区) of 2-8 buildings; buildings with their 楼宇身份证 records; grids of about 300
    households grouped into townships and districts; 1-2 doors per building; 2-4 face cameras and
    2-5 perimeter zones (1-2 devices each) per site; 1-3 residents per household, each with a
    credential pseudonym ``p1:<32 hex>`` derived from the seed.

Background (never satisfies a default rule, by construction)
    residents' swipes with morning and evening peaks; visitors with one-off QR credentials, some
    followed by a tailgater; short DENIED bursts (at most 3, at least 3 min apart per door);
    FORCED_OPEN only 5-15 s after a GRANTED on the same door; false perimeter alarms (intrusion
    types only where no DENIED/FORCED_OPEN/TAILGATE follows at the site within 6 min) and flapping
    sensors; watchlist face matches below 0.90; registry lookups (at most 3 VISITOR lookups per
    building in any 30 min); grid reports with status updates (at most 2 DISPUTE reports per
    building in any 7 days); exact duplicate lines; out-of-order arrival within the allowed
    lateness (device events at most 25 s late, grid reports at most 6 h). No HELD_OPEN and no TAMPER
    at all: each is an incident by itself.

Injected situations (one label each)
    for every default rule, placed at a reserved site and time (no other situation within 45 min at
    that site, 8 days for a building's disputes) with exclusion zones that keep the background from
    joining or spoiling it. See :data:`RULE_IDS`.
"""

from __future__ import annotations

import bisect
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

SECOND_MS = 1_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

#: Arrival delays stay inside the engine's allowed lateness (30 s devices, 24 h grid reports).
DEVICE_MAX_DELAY_MS = 25 * SECOND_MS
GRID_MAX_DELAY_MS = 6 * HOUR_MS

INTRUSION_TYPES: tuple[str, ...] = ("INTRUSION", "LINE_CROSSING", "FENCE_CUT", "CLIMB")
BAD_RESULTS: tuple[str, ...] = ("DENIED", "FORCED_OPEN", "TAILGATE")

#: The default rule pack (topology/rules), in the order situations are planned.
RULE_IDS: tuple[str, ...] = (
    "perimeter_breach_entry",
    "forced_door",
    "credential_brute_force",
    "cloned_credential",
    "watchlist_entry",
    "dispute_hotspot",
    "lookup_spike",
    "door_held_open",
    "device_tamper",
)

#: Default start: a Monday midnight, China Standard Time (2025-03-03T00:00:00+08:00).
DEFAULT_START_MS = 1_740_931_200_000

# Exclusion-zone flags (what the background may not generate at a site during a zone).
_Z_INTRUSION = 1  # intrusion-type perimeter alarms
_Z_BAD = 2  # DENIED / FORCED_OPEN / TAILGATE swipes
_Z_ENTRY = 4  # GRANTED / TAILGATE swipes (watchlist partners, forced_door's GRANTED)

_RESERVE_MARGIN_MS = 45 * MINUTE_MS
_DISPUTE_MARGIN_MS = 8 * DAY_MS

_STREETS = ("文三路", "学院路", "教工路", "莫干山路", "古墩路", "紫荆花路", "天目山路", "庆春路")
_ESTATES = ("翠苑", "嘉绿苑", "文鼎苑", "三墩新城", "古荡新村", "西溪花园", "朝晖", "德加公寓")
_DISTRICTS = ("西湖区", "拱墅区", "上城区", "滨江区", "余杭区", "萧山区")
_RISK_TAGS = ("elderly_alone", "fire_old_wiring", "key_person", "no_property_management")
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
_CATEGORY_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("DISPUTE", 30),
    ("SAFETY_HAZARD", 15),
    ("FIRE_HAZARD", 10),
    ("SUSPICIOUS_PERSON", 8),
    ("PUBLIC_ORDER", 15),
    ("ENVIRONMENT", 15),
    ("OTHER", 7),
)
_FALSE_ALARM_TYPES: tuple[tuple[str, int], ...] = (
    ("INTRUSION", 30),
    ("LOITERING", 30),
    ("LINE_CROSSING", 12),
    ("FAULT", 15),
    ("UNKNOWN", 5),
    ("CLIMB", 5),
    ("FENCE_CUT", 3),
)


@dataclass(frozen=True)
class Delay:
    """A log-normal delay: ``median_h · exp(sigma · N(0, 1))`` hours, clipped to [min_h, max_h]."""

    median_h: float
    sigma: float
    min_h: float
    max_h: float

    def draw_ms(self, rng: random.Random) -> int:
        hours = self.median_h * math.exp(self.sigma * rng.gauss(0.0, 1.0))
        return int(min(self.max_h, max(self.min_h, hours)) * HOUR_MS)


@dataclass(frozen=True)
class DisputeModel:
    """How a dispute's history unfolds: REPORTED → ACCEPTED → [MEDIATING →] RESOLVED | UNRESOLVED.

    A dispute is accepted (受理) with ``accept_rate`` (else its history is REPORTED alone); an
    accepted one ends RESOLVED (调处成功) with ``resolve_rate``, else UNRESOLVED; it passes through
    MEDIATING with ``mediate_rate`` (always when it ends UNRESOLVED), else it is settled on the
    spot. Each transition waits a log-normal :class:`Delay` (docs/toolkit.md lists them).
    """

    accept_rate: float = 0.97
    mediate_rate: float = 0.8
    resolve_rate: float = 0.9
    to_accepted: Delay = Delay(4.0, 1.0, 1 / 6, 72.0)  # 10 min - 3 days, median 4 h
    to_mediating: Delay = Delay(18.0, 0.9, 1.0, 7 * 24.0)  # 1 h - 7 days, median 18 h
    to_resolved: Delay = Delay(48.0, 0.9, 2.0, 30 * 24.0)  # 2 h - 30 days, median 2 days
    to_unresolved: Delay = Delay(8 * 24.0, 0.6, 24.0, 45 * 24.0)  # 1 - 45 days, median 8 days

    def __post_init__(self) -> None:
        for name in ("accept_rate", "mediate_rate", "resolve_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"dispute {name.replace('_', ' ')} {value} is not from 0 to 1")


@dataclass(frozen=True)
class DisputePlan:
    """Exact dispute figures for a window: so many disputes first reported in
    [window_start, window_end) that end RESOLVED, UNRESOLVED, or stay REPORTED (not accepted);
    every history ends before ``window_end``. Accepted = resolved + unresolved."""

    resolved: int
    unresolved: int
    window_start: int
    window_end: int
    not_accepted: int = 0

    @property
    def accepted(self) -> int:
        return self.resolved + self.unresolved

    @property
    def total(self) -> int:
        return self.accepted + self.not_accepted


#: The rising trends' shape (docs/toolkit.md, "Planted rising trends"): weeks of baseline
#: (planted counts ~Poisson(2), at most 4 a week), then one week of 14-20 reports.
TREND_BASELINE_WEEKS = 16
TREND_BASELINE_MEAN = 2.0
TREND_BASELINE_CAP = 4
TREND_SPIKE_MIN, TREND_SPIKE_MAX = 14, 20
#: Report categories a trend is planted in (DISPUTE is left to the dispute rules and funnel).
TREND_CATEGORIES: tuple[str, ...] = (
    "SAFETY_HAZARD", "FIRE_HAZARD", "SUSPICIOUS_PERSON", "PUBLIC_ORDER", "ENVIRONMENT", "OTHER",
)
_CST_OFFSET_MS = 8 * HOUR_MS  # Asia/Shanghai: +08:00 all year (no DST since 1991)


@dataclass(frozen=True)
class SimConfig:
    """What to simulate. ``situations_per_rule`` None: about one per 40 building-days (1-50).

    The options after ``inject`` are off by default, and then the output is byte for byte what
    it was before they existed: ``background`` False leaves out the daily background (a single
    closing report on the last day remains), ``disputes`` gives background disputes full
    histories, ``dispute_plan`` adds disputes with exact figures, ``trends`` plants rising trends.
    """

    seed: int
    buildings: int
    days: int
    start_ms: int = DEFAULT_START_MS
    situations_per_rule: int | None = None
    duplicate_rate: float = 0.004
    inject: bool = True
    background: bool = True
    disputes: DisputeModel | None = None
    dispute_plan: DisputePlan | None = None
    trends: int = 0

    def __post_init__(self) -> None:
        if self.buildings < 2:
            raise ValueError("--buildings must be at least 2 (cloned_credential needs two sites)")
        if self.days < 1:
            raise ValueError("--days must be at least 1")
        if self.situations_per_rule is not None and self.situations_per_rule < 0:
            raise ValueError("situations_per_rule must be >= 0")
        if self.trends < 0:
            raise ValueError("--trends must be >= 0")
        plan = self.dispute_plan
        if plan is not None:
            if self.background or (self.inject and self.per_rule > 0):
                raise ValueError("an exact dispute plan needs a city without other disputes: "
                                 "no background and no injected situations")
            if min(plan.resolved, plan.unresolved, plan.not_accepted) < 0:
                raise ValueError("dispute plan counts must be >= 0")
            end = self.start_ms + self.days * DAY_MS
            if not self.start_ms <= plan.window_start < plan.window_end <= end:
                raise ValueError("the dispute plan's window must lie within the simulated days")

    @property
    def dispute_model(self) -> DisputeModel | None:
        """The model of dispute histories: ``disputes``, or the default one for a plan."""
        if self.disputes is None and self.dispute_plan is not None:
            return DisputeModel()
        return self.disputes

    @property
    def per_rule(self) -> int:
        if self.situations_per_rule is not None:
            return self.situations_per_rule
        return max(1, min(50, (self.buildings * self.days) // 40))


@dataclass(frozen=True)
class Label:
    """One injected ground-truth situation: what `hub evaluate` expects an incident for."""

    rule_id: str
    key: str
    event_ids: tuple[str, ...]
    risk_level: str
    first_event_time: int

    def to_record(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "key": self.key,
            "event_ids": list(self.event_ids),
            "risk_level": self.risk_level,
            "first_event_time": self.first_event_time,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_record(), ensure_ascii=False, separators=(",", ":"))


TREND_LABEL_KIND = "risk_trend"


@dataclass(frozen=True)
class TrendLabel:
    """A planted rising trend: what `hub evaluate --warnings` expects a final RiskWarning for.

    ``areas`` names the areas that enclose ``area_code`` (level -> code): a warning there for the
    same case type and week is explained by the trend.
    """

    area_level: str
    area_code: str
    case_source: str
    case_type: str
    week_start: int
    week_label: str
    count: int  # planted reports in the rising week (the background may add some)
    baseline_counts: tuple[int, ...]  # planted reports in each baseline week, oldest first
    areas: tuple[tuple[str, str], ...] = ()

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": TREND_LABEL_KIND,
            "area_level": self.area_level,
            "area_code": self.area_code,
            "case_source": self.case_source,
            "case_type": self.case_type,
            "week_start": self.week_start,
            "week_label": self.week_label,
            "count": self.count,
            "baseline_counts": list(self.baseline_counts),
            "areas": dict(self.areas),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_record(), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Simulation:
    """The result: registry lines, event lines (arrival order), labels, and counts by kind."""

    registry_lines: tuple[str, ...]
    event_lines: tuple[str, ...]
    labels: tuple[Label, ...]
    counts: dict[str, int]
    trends: tuple[TrendLabel, ...] = ()

    def label_lines(self) -> Iterator[str]:
        """The labels file: situations (by first event time), then the planted trends."""
        for label in self.labels:
            yield label.to_json()
        for trend in self.trends:
            yield trend.to_json()

    def lines(self) -> Iterator[str]:
        yield from self.registry_lines
        yield from self.event_lines


# -- the city ----------------------------------------------------------------------------------


@dataclass
class _Building:
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
class _Site:
    site_id: str
    buildings: list[_Building] = field(default_factory=list)
    cameras: list[tuple[str, str | None]] = field(default_factory=list)
    zones: list[tuple[str, str | None, list[str]]] = field(default_factory=list)


@dataclass
class _City:
    sites: list[_Site]
    buildings: list[_Building]
    grids: dict[str, list[_Building]]
    grid_workers: dict[str, str]  # grid_id -> reporter pseudonym
    staff: list[str]  # pseudonyms of police, property and grid staff who look buildings up


def _pseudonym(rng: random.Random) -> str:
    return f"p1:{rng.getrandbits(128):032x}"


def _build_city(rng: random.Random, n_buildings: int, start_ms: int) -> _City:
    sites: list[_Site] = []
    buildings: list[_Building] = []
    remaining = n_buildings
    while remaining > 0:
        size = min(remaining, rng.randint(2, 8))
        if len(sites) == 0 and size == remaining and remaining > 1:
            size = remaining - 1  # at least two sites
        site = _Site(f"SITE-{len(sites) + 1:04d}")
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
                    residents.append(_pseudonym(rng))
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
            b = _Building(
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
    grids: dict[str, list[_Building]] = {}
    workers: dict[str, str] = {}
    current: list[_Building] = []
    target = rng.randint(260, 340)
    for b in buildings:
        current.append(b)
        if sum(x.households for x in current) >= target:
            _close_grid(current, grids, workers, rng)
            current = []
            target = rng.randint(260, 340)
    if current:
        _close_grid(current, grids, workers, rng)
    staff = [_pseudonym(rng) for _ in range(max(10, len(grids) * 3))]
    return _City(sites, buildings, grids, workers, staff)


def _close_grid(
    members: list[_Building],
    grids: dict[str, list[_Building]],
    workers: dict[str, str],
    rng: random.Random,
) -> None:
    n = len(grids)
    district = 2 + n // 32
    township = f"3301{district:02d}{(n // 8) % 4 + 1:03d}"
    grid_id = f"GRID-{township}-{n % 8 + 1:02d}"
    grids[grid_id] = list(members)
    workers[grid_id] = _pseudonym(rng)
    for b in members:
        b.grid_id = grid_id
        r = b.record
        r["grid_id"] = grid_id
        r["township_code"] = township
        r["district_code"] = f"3301{district:02d}"
        r["police_station_id"] = f"PS-{township}"
        r["grid_worker_id"] = f"GW-{grid_id[5:]}"
        r["address"] = "杭州市" + _DISTRICTS[(district - 2) % len(_DISTRICTS)] + r["address"][3:]


# -- event emission ----------------------------------------------------------------------------


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class _Sink:
    """Collects events as (arrival, seq, line) and keeps ids, event times and counts."""

    def __init__(self, rng: random.Random, duplicate_rate: float, end_ms: int) -> None:
        self.rng = rng
        self.duplicate_rate = duplicate_rate
        self.end_ms = end_ms
        self.pending: list[tuple[int, int, str]] = []
        self.seq = 0
        self.counts: dict[str, int] = {}

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{self.rng.getrandbits(80):020x}"

    def emit(self, event: dict[str, Any]) -> bool:
        """Queue one event (and maybe its duplicate); False when past the simulated period."""
        t = event["event_time"]
        if t >= self.end_ms:
            return False
        line = _dumps(event)
        kind = event["kind"]
        rng = self.rng
        grid = kind == "grid_report"
        self._push(t + self._delay(grid), line)
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if rng.random() < self.duplicate_rate:
            self._push(t + self._delay(grid), line)
            self.counts["duplicates"] = self.counts.get("duplicates", 0) + 1
        return True

    def _delay(self, grid: bool) -> int:
        r = self.rng.random()
        if grid:
            return int(r * r * r * GRID_MAX_DELAY_MS)
        return int(r**4 * DEVICE_MAX_DELAY_MS)

    def _push(self, arrival: int, line: str) -> None:
        self.pending.append((arrival, self.seq, line))
        self.seq += 1

    def drain_before(self, limit: int | None) -> list[str]:
        """Lines that arrive before ``limit`` (all when None), in arrival order."""
        self.pending.sort()
        cut = (
            len(self.pending)
            if limit is None
            else bisect.bisect_left(self.pending, (limit, -1, ""))
        )
        out = [line for _, _, line in self.pending[:cut]]
        del self.pending[:cut]
        return out


class _Index:
    """Sorted times per key, for the background's "never triggers a rule" checks."""

    def __init__(self) -> None:
        self.times: dict[str, list[int]] = {}

    def count(self, key: str, lo: int, hi: int) -> int:
        """Number of times t with lo <= t <= hi."""
        ts = self.times.get(key)
        if not ts:
            return 0
        return bisect.bisect_right(ts, hi) - bisect.bisect_left(ts, lo)

    def add(self, key: str, t: int) -> None:
        bisect.insort(self.times.setdefault(key, []), t)


class _Zones:
    """Exclusion zones around injected situations: (start, end, flags) per key."""

    def __init__(self) -> None:
        self.by_key: dict[str, list[tuple[int, int, int]]] = {}

    def add(self, key: str, start: int, end: int, flags: int = 0) -> None:
        self.by_key.setdefault(key, []).append((start, end, flags))

    def blocks(self, key: str, t: int, flag: int = 0) -> bool:
        zones = self.by_key.get(key)
        if not zones:
            return False
        return any(s <= t <= e and (flag == 0 or f & flag) for s, e, f in zones)

    def overlaps(self, key: str, start: int, end: int) -> bool:
        zones = self.by_key.get(key)
        return bool(zones) and any(s <= end and start <= e for s, e, _ in zones or ())


class _Generator:
    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.start = cfg.start_ms
        self.end = cfg.start_ms + cfg.days * DAY_MS
        self.city = _build_city(self.rng, cfg.buildings, cfg.start_ms)
        self.sink = _Sink(self.rng, cfg.duplicate_rate, self.end)
        # background constraint indices
        self.intrusions = _Index()  # site -> intrusion-type alarm times
        self.bad = _Index()  # site -> DENIED/FORCED_OPEN/TAILGATE times
        self.denied = _Index()  # door -> DENIED times
        self.visitor_lookups = _Index()  # building -> VISITOR lookup times
        self.disputes: dict[str, list[tuple[int, int]]] = {}  # building -> report spans
        # exclusion zones around injected situations
        self.site_zones = _Zones()
        self.cred_zones = _Zones()
        self.lookup_zones = _Zones()
        self.dispute_zones = _Zones()
        self.reserved = _Zones()  # site -> reserved spans of situations
        self.reserved_buildings = _Zones()  # building -> dispute situation spans
        self.injected: dict[int, list[dict[str, Any]]] = {}  # day -> events
        self.labels: list[Label] = []
        self.trend_labels: list[TrendLabel] = []
        if cfg.inject:
            self._plan_situations()
        if cfg.dispute_plan is not None:
            self._plan_disputes(cfg.dispute_plan)
        if cfg.trends:
            self._plan_trends(cfg.trends)

    # -- events ------------------------------------------------------------------------------
    def _swipe(
        self,
        b: _Building,
        door: tuple[str, str],
        t: int,
        cred: str | None,
        method: str,
        result: str,
        direction: str,
    ) -> dict[str, Any]:
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

    def _alarm(
        self,
        site: _Site,
        zone: tuple[str, str | None, list[str]],
        device: str,
        t: int,
        alarm_type: str,
        severity: int,
    ) -> dict[str, Any]:
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

    def _face(
        self, site: _Site, camera: tuple[str, str | None], t: int, person: str, sim: float
    ) -> dict[str, Any]:
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

    def _lookup(
        self, b: _Building, t: int, requester: str, role: str, channel: str
    ) -> dict[str, Any]:
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

    def _report_chain(
        self,
        grid_id: str,
        b: _Building | None,
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

    # -- run ---------------------------------------------------------------------------------
    def registry_lines(self) -> list[str]:
        return [_dumps(b.record) for b in sorted(self.city.buildings, key=lambda b: b.building_id)]

    def event_lines(self) -> Iterator[str]:
        """Generate day by day; a day's lines are released once nothing earlier can arrive."""
        for day in range(self.cfg.days):
            day_start = self.start + day * DAY_MS
            for event in self.injected.get(day, ()):
                self.sink.emit(event)
            if self.cfg.background:
                self._background_day(day_start)
            elif day == self.cfg.days - 1:
                self._closing_report(day_start)
            yield from self.sink.drain_before(day_start + DAY_MS)
        yield from self.sink.drain_before(None)

    def sorted_labels(self) -> tuple[Label, ...]:
        return tuple(sorted(self.labels, key=lambda x: (x.first_event_time, x.rule_id, x.key)))

    # -- background --------------------------------------------------------------------------
    def _background_day(self, day_start: int) -> None:
        weekend = ((day_start - DEFAULT_START_MS) // DAY_MS) % 7 >= 5
        for b in self.city.buildings:
            self._resident_swipes(b, day_start, weekend)
            self._visitors_and_noise(b, day_start)
            self._lookups(b, day_start)
        for site in self.city.sites:
            self._alarms(site, day_start)
            self._faces(site, day_start)
        for grid_id, members in self.city.grids.items():
            self._grid_reports(grid_id, members, day_start)

    def _entry_ok(self, b: _Building, t: int, cred: str | None) -> bool:
        if self.site_zones.blocks(b.site_id, t, _Z_ENTRY):
            return False
        return cred is None or not self.cred_zones.blocks(cred, t)

    def _bad_ok(self, b: _Building, t: int) -> bool:
        """A DENIED/FORCED_OPEN/TAILGATE may go here: no intrusion alarm before it within 6 min."""
        if self.site_zones.blocks(b.site_id, t, _Z_BAD):
            return False
        return self.intrusions.count(b.site_id, t - 6 * MINUTE_MS, t + SECOND_MS) == 0

    def _resident_swipes(self, b: _Building, day_start: int, weekend: bool) -> None:
        rng = self.rng
        rand = rng.random
        gauss = rng.gauss
        doors = b.doors
        n_doors = len(doors)
        emit = self.sink.emit
        swipe = self._swipe
        entry_ok = self._entry_ok
        for cred, method, commuter in zip(b.residents, b.methods, b.commuter, strict=True):
            trips: list[tuple[float, float]] = []
            if commuter and not weekend and rand() < 0.88:
                out_h = min(11.0, max(5.5, gauss(7.7, 0.6)))
                in_h = min(23.5, max(out_h + 1.0, gauss(18.6, 1.1)))
                trips.append((out_h, in_h))
                if rand() < 0.2:
                    o = min(22.0, max(in_h + 0.2, gauss(20.0, 0.7)))
                    trips.append((o, min(23.9, o + 0.3 + rand() * 1.5)))
            else:
                for _ in range(0 if rand() < 0.25 else 1 if rand() < 0.7 else 2):
                    o = 8.0 + rand() * 11.0
                    trips.append((o, min(23.9, o + 0.3 + rand() * 3.0)))
            for out_h, in_h in trips:
                for hour, direction in ((out_h, "OUT"), (in_h, "IN")):
                    t = day_start + int(hour * HOUR_MS)
                    if not entry_ok(b, t, cred):
                        continue
                    door = doors[0] if n_doors == 1 or rand() < 0.6 else doors[1]
                    result = "GRANTED" if rand() >= 0.003 else "ANTI_PASSBACK"
                    emit(swipe(b, door, t, cred, method, result, direction))

    def _visitors_and_noise(self, b: _Building, day_start: int) -> None:
        rng = self.rng
        # visitors with one-off QR codes, now and then a tailgater behind them
        for _ in range(_poisson(rng, 2.0 + b.households / 40)):
            t = day_start + int((9.0 + rng.random() * 12.0) * HOUR_MS)
            door = b.doors[rng.randrange(len(b.doors))]
            if not self._entry_ok(b, t, None):
                continue
            cred = _pseudonym(rng)
            self.sink.emit(self._swipe(b, door, t, cred, "QR", "GRANTED", "IN"))
            t2 = t + rng.randint(2, 6) * SECOND_MS
            if rng.random() < 0.08 and self._entry_ok(b, t2, None) and self._bad_ok(b, t2):
                self.bad.add(b.site_id, t2)
                self.sink.emit(self._swipe(b, door, t2, cred, "QR", "TAILGATE", "IN"))
        for door in b.doors:
            # a resident with an expired card: 1-3 DENIED within 30 s, bursts >= 3 min apart
            if rng.random() < 0.35:
                t = day_start + int((6.0 + rng.random() * 17.0) * HOUR_MS)
                n = rng.randint(1, 3)
                times = [t + i * rng.randint(3, 9) * SECOND_MS for i in range(n)]
                ok = self.denied.count(door[0], t - 3 * MINUTE_MS, times[-1] + 3 * MINUTE_MS) == 0
                if ok and all(self._bad_ok(b, x) for x in times):
                    cred = b.residents[rng.randrange(len(b.residents))]
                    method = rng.choice(("CARD", "FACE", "PIN"))
                    for x in times:
                        self.denied.add(door[0], x)
                        self.bad.add(b.site_id, x)
                        self.sink.emit(self._swipe(b, door, x, cred, method, "DENIED", "IN"))
            # a door sensor that reports FORCED_OPEN shortly after a legitimate GRANTED
            if rng.random() < 0.06:
                t = day_start + int((7.0 + rng.random() * 15.0) * HOUR_MS)
                t2 = t + rng.randint(5, 15) * SECOND_MS
                i = rng.randrange(len(b.residents))
                cred = b.residents[i]
                if (
                    self._entry_ok(b, t, cred)
                    and self._entry_ok(b, t2, None)
                    and self._bad_ok(b, t2)
                ):
                    self.bad.add(b.site_id, t2)
                    self.sink.emit(self._swipe(b, door, t, cred, b.methods[i], "GRANTED", "IN"))
                    self.sink.emit(self._swipe(b, door, t2, None, "UNKNOWN", "FORCED_OPEN", "IN"))

    def _lookups(self, b: _Building, day_start: int) -> None:
        rng = self.rng
        for _ in range(_poisson(rng, 3.0)):
            t = day_start + int((7.0 + rng.random() * 15.0) * HOUR_MS)
            r = rng.random()
            if r < 0.4:
                lo, hi = t - 31 * MINUTE_MS, t + 31 * MINUTE_MS
                if self.lookup_zones.blocks(b.building_id, t):
                    continue
                if self.visitor_lookups.count(b.building_id, lo, hi) > 2:
                    continue
                self.visitor_lookups.add(b.building_id, t)
                self.sink.emit(self._lookup(b, t, _pseudonym(rng), "VISITOR", "QR_SCAN"))
                continue
            role = (
                "RESIDENT"
                if r < 0.6
                else "POLICE"
                if r < 0.7
                else "GRID_WORKER"
                if r < 0.82
                else "PROPERTY"
                if r < 0.95
                else "SYSTEM"
            )
            if role == "RESIDENT":
                requester = b.residents[rng.randrange(len(b.residents))]
            else:
                requester = self.city.staff[rng.randrange(len(self.city.staff))]
            channel = "QR_SCAN" if role == "RESIDENT" else "API" if role == "SYSTEM" else "APP"
            self.sink.emit(self._lookup(b, t, requester, role, channel))

    def _alarms(self, site: _Site, day_start: int) -> None:
        rng = self.rng
        for _ in range(_poisson(rng, 1.0 + 0.6 * len(site.zones))):
            # mostly at night: wind, animals, headlights
            hour = (20.0 + rng.random() * 10.0) % 24 if rng.random() < 0.6 else rng.random() * 24
            t = day_start + int(hour * HOUR_MS)
            zone = site.zones[rng.randrange(len(site.zones))]
            device = zone[2][rng.randrange(len(zone[2]))]
            alarm_type = _weighted(rng, _FALSE_ALARM_TYPES)
            times = [t]
            if rng.random() < 0.15:  # a flapping sensor: repeats 2-9 s apart
                for _ in range(rng.randint(1, 4)):
                    times.append(times[-1] + rng.randint(2, 9) * SECOND_MS)
            if alarm_type in INTRUSION_TYPES and not all(
                not self.site_zones.blocks(site.site_id, x, _Z_INTRUSION)
                and self.bad.count(site.site_id, x - SECOND_MS, x + 6 * MINUTE_MS) == 0
                for x in times
            ):
                alarm_type = "LOITERING"  # a real sensor would have said something harmless
            severity = (
                1
                if alarm_type == "FAULT"
                else 2
                if alarm_type in ("LOITERING", "UNKNOWN")
                else rng.randint(3, 4)
            )
            for x in times:
                if alarm_type in INTRUSION_TYPES:
                    self.intrusions.add(site.site_id, x)
                self.sink.emit(self._alarm(site, zone, device, x, alarm_type, severity))

    def _faces(self, site: _Site, day_start: int) -> None:
        rng = self.rng
        for _ in range(_poisson(rng, 1.5 + len(site.buildings) / 2)):
            t = day_start + int(rng.random() * DAY_MS)
            camera = site.cameras[rng.randrange(len(site.cameras))]
            similarity = round(0.55 + rng.random() * 0.339, 3)  # never >= 0.90
            self.sink.emit(self._face(site, camera, t, _pseudonym(rng), similarity))

    def _grid_reports(self, grid_id: str, members: list[_Building], day_start: int) -> None:
        rng = self.rng
        for _ in range(_poisson(rng, 1.5)):
            t = day_start + int((8.0 + rng.random() * 10.0) * HOUR_MS)
            category = _weighted(rng, _CATEGORY_WEIGHTS)
            b: _Building | None = members[rng.randrange(len(members))]
            if category != "DISPUTE" and rng.random() < 0.2:
                b = None
            site_id = b.site_id if b else members[0].site_id
            chain = self._report_chain(grid_id, b, site_id, t, category)
            if category == "DISPUTE" and b is not None:
                lo, hi = chain[0]["event_time"], chain[-1]["event_time"]
                if self.dispute_zones.overlaps(b.building_id, lo, hi):
                    continue
                spans = self.disputes.setdefault(b.building_id, [])
                near = sum(
                    1
                    for s, e in spans
                    if s <= hi + 7 * DAY_MS + HOUR_MS and lo <= e + 7 * DAY_MS + HOUR_MS
                )
                if near > 1:
                    continue
                spans.append((lo, hi))
            for event in chain:
                self.sink.emit(event)

    # -- injected situations ----------------------------------------------------------------
    def _plan_situations(self) -> None:
        planners = {
            "perimeter_breach_entry": self._inject_breach,
            "forced_door": self._inject_forced,
            "credential_brute_force": self._inject_brute,
            "cloned_credential": self._inject_cloned,
            "watchlist_entry": self._inject_watchlist,
            "dispute_hotspot": self._inject_dispute,
            "lookup_spike": self._inject_lookups,
            "door_held_open": self._inject_held,
            "device_tamper": self._inject_tamper,
        }
        for i in range(self.cfg.per_rule):
            for rule_id in RULE_IDS:
                planners[rule_id](i)

    def _slot(self, span_ms: int, n_sites: int = 1, night: bool = False) -> tuple[list[_Site], int]:
        """Sites and an anchor time no other situation uses within 45 min (deterministic)."""
        rng = self.rng
        sites = self.city.sites
        lo = self.start + HOUR_MS
        hi = self.end - HOUR_MS - span_ms
        for _ in range(10_000):
            chosen = (
                rng.sample(sites, n_sites) if n_sites > 1 else [sites[rng.randrange(len(sites))]]
            )
            if night:
                day = rng.randrange(self.cfg.days)
                t = self.start + day * DAY_MS + int((22.0 + rng.random() * 7.0) * HOUR_MS)
            else:
                t = lo + int(rng.random() * max(1, hi - lo))
            t = min(max(t, lo), hi)
            a, z = t - _RESERVE_MARGIN_MS, t + span_ms + _RESERVE_MARGIN_MS
            if any(self.reserved.overlaps(s.site_id, a, z) for s in chosen):
                continue
            for s in chosen:
                self.reserved.add(s.site_id, t, t + span_ms)
            return chosen, t
        raise ValueError(
            "the city is too small for this many situations; use more buildings or days"
        )

    def _add(self, rule_id: str, key: str, events: list[dict[str, Any]], risk: str) -> None:
        for e in events:
            day = (e["event_time"] - self.start) // DAY_MS
            self.injected.setdefault(day, []).append(e)
        self.labels.append(
            Label(
                rule_id,
                key,
                tuple(e["event_id"] for e in events),
                risk,
                min(e["event_time"] for e in events),
            )
        )

    def _pick_door(self, site: _Site) -> tuple[_Building, tuple[str, str]]:
        b = site.buildings[self.rng.randrange(len(site.buildings))]
        return b, b.doors[self.rng.randrange(len(b.doors))]

    def _inject_breach(self, i: int) -> None:
        rng = self.rng
        (site,), t = self._slot(5 * MINUTE_MS, night=True)
        zone = site.zones[rng.randrange(len(site.zones))]
        alarm = self._alarm(site, zone, zone[2][0], t, INTRUSION_TYPES[i % 4], rng.randint(3, 5))
        b, door = self._pick_door(site)
        t2 = t + rng.randint(30, 240) * SECOND_MS
        result = "DENIED" if i % 2 == 0 else "TAILGATE"
        cred = _pseudonym(rng) if result == "DENIED" else b.residents[0]
        events = [alarm, self._swipe(b, door, t2, cred, "CARD", result, "IN")]
        if rng.random() < 0.3:  # a second attempt joins the same incident
            events.append(self._swipe(b, door, t2 + 20 * SECOND_MS, cred, "CARD", result, "IN"))
        self.site_zones.add(
            site.site_id, t - 20 * MINUTE_MS, t + 25 * MINUTE_MS, _Z_INTRUSION | _Z_BAD | _Z_ENTRY
        )
        self._add("perimeter_breach_entry", site.site_id, events, "HIGH")

    def _inject_forced(self, i: int) -> None:
        (site,), t = self._slot(MINUTE_MS)
        b, door = self._pick_door(site)
        event = self._swipe(b, door, t, None, "UNKNOWN", "FORCED_OPEN", "IN")
        self.site_zones.add(site.site_id, t - 3 * MINUTE_MS, t + MINUTE_MS, _Z_ENTRY)
        self.site_zones.add(site.site_id, t - 20 * MINUTE_MS, t + 20 * MINUTE_MS, _Z_INTRUSION)
        self._add("forced_door", door[0], [event], "HIGH")

    def _inject_brute(self, i: int) -> None:
        rng = self.rng
        (site,), t = self._slot(2 * MINUTE_MS)
        b, door = self._pick_door(site)
        cred = _pseudonym(rng)
        method = rng.choice(("CARD", "PIN"))
        events = [
            self._swipe(
                b, door, t + k * rng.randint(8, 15) * SECOND_MS, cred, method, "DENIED", "IN"
            )
            for k in range(5 + i % 3)
        ]
        self.site_zones.add(site.site_id, t - 10 * MINUTE_MS, t + 15 * MINUTE_MS, _Z_BAD)
        self.site_zones.add(site.site_id, t - 20 * MINUTE_MS, t + 20 * MINUTE_MS, _Z_INTRUSION)
        self._add("credential_brute_force", door[0], events, "MEDIUM")

    def _inject_cloned(self, i: int) -> None:
        rng = self.rng
        (home, away), t = self._slot(3 * MINUTE_MS, n_sites=2)
        hb, hdoor = self._pick_door(home)
        k = rng.randrange(len(hb.residents))
        cred = hb.residents[k]
        ab, adoor = self._pick_door(away)
        t2 = t + rng.randint(40, 150) * SECOND_MS
        events = [
            self._swipe(hb, hdoor, t, cred, hb.methods[k], "GRANTED", "OUT"),
            self._swipe(ab, adoor, t2, cred, "CARD", "GRANTED", "IN"),
        ]
        self.cred_zones.add(cred, t - 30 * MINUTE_MS, t2 + 30 * MINUTE_MS)
        self._add("cloned_credential", cred, events, "HIGH")

    def _inject_watchlist(self, i: int) -> None:
        rng = self.rng
        (site,), t = self._slot(10 * MINUTE_MS)
        camera = site.cameras[rng.randrange(len(site.cameras))]
        b, door = self._pick_door(site)
        t_face, t_swipe = t, t + rng.randint(30, 300) * SECOND_MS
        if i % 2:
            t_face, t_swipe = t_swipe, t_face  # either order
        face = self._face(
            site, camera, t_face, _pseudonym(rng), round(0.91 + rng.random() * 0.08, 3)
        )
        if i % 3 == 2:
            swipe = self._swipe(b, door, t_swipe, b.residents[-1], "FACE", "TAILGATE", "IN")
        else:
            k = rng.randrange(len(b.residents))
            swipe = self._swipe(b, door, t_swipe, b.residents[k], b.methods[k], "GRANTED", "IN")
        self.site_zones.add(
            site.site_id, t - 25 * MINUTE_MS, t + 30 * MINUTE_MS, _Z_ENTRY | _Z_INTRUSION | _Z_BAD
        )
        self._add("watchlist_entry", site.site_id, [face, swipe], "HIGH")

    def _inject_dispute(self, i: int) -> None:
        rng = self.rng
        n = 3 if i % 2 == 0 else 5
        span = min(3 * DAY_MS, (self.end - self.start) // 2)
        buildings = self.city.buildings
        for _ in range(10_000):
            b = buildings[rng.randrange(len(buildings))]
            t = (
                self.start
                + HOUR_MS
                + int(rng.random() * max(1, self.end - self.start - span - 3 * HOUR_MS))
            )
            if not self.reserved_buildings.overlaps(
                b.building_id, t - _DISPUTE_MARGIN_MS, t + span + _DISPUTE_MARGIN_MS
            ):
                break
        else:
            raise ValueError("no building is free for another dispute_hotspot situation")
        self.reserved_buildings.add(b.building_id, t, t + span)
        events: list[dict[str, Any]] = []
        for k in range(n):
            tk = t + k * (span // n)
            chain = self._report_chain(b.grid_id, b, b.site_id, tk, "DISPUTE", updates=False)
            if k % 2 == 0:  # a status update: the same report, counted once
                update = dict(
                    chain[0],
                    event_id=self.sink.new_id("gr"),
                    status="ACCEPTED",
                    event_time=tk + rng.randint(10, 50) * MINUTE_MS,
                )
                chain.append(update)
            events.extend(chain)
        last = max(e["event_time"] for e in events)
        self.dispute_zones.add(b.building_id, t - _DISPUTE_MARGIN_MS, last + _DISPUTE_MARGIN_MS)
        self._add("dispute_hotspot", b.building_id, events, "MEDIUM" if n < 5 else "HIGH")

    # -- planned disputes and trends -----------------------------------------------------------
    def _schedule(self, events: list[dict[str, Any]]) -> None:
        """Emit ``events`` with their day's generation (like an injected situation's)."""
        for e in events:
            day = (e["event_time"] - self.start) // DAY_MS
            self.injected.setdefault(day, []).append(e)

    def _dispute_fits(self, building_id: str, lo: int, hi: int) -> bool:
        """The background's rule for disputes: never three in a building within 7 days."""
        if self.dispute_zones.overlaps(building_id, lo, hi):
            return False
        spans = self.disputes.get(building_id, ())
        margin = 7 * DAY_MS + HOUR_MS
        return sum(1 for s, e in spans if s <= hi + margin and lo <= e + margin) <= 1

    def _plan_disputes(self, plan: DisputePlan) -> None:
        """Exactly ``plan``'s disputes, first reported and finished inside its window."""
        rng = self.rng
        model = self.cfg.dispute_model
        assert model is not None
        outcomes = (["RESOLVED"] * plan.resolved + ["UNRESOLVED"] * plan.unresolved
                    + ["REPORTED"] * plan.not_accepted)
        rng.shuffle(outcomes)
        buildings = self.city.buildings
        lo, hi = plan.window_start, plan.window_end
        days = (hi - lo) // DAY_MS
        for outcome in outcomes:
            for _ in range(10_000):
                offsets = dispute_history(rng, model, 0, outcome)
                span = offsets[-1][1]
                if days >= 1:  # the working day's rhythm: first reported 08:00-20:00
                    t = lo + rng.randrange(days) * DAY_MS + int((8 + 12 * rng.random()) * HOUR_MS)
                else:
                    t = lo + rng.randrange(hi - lo)
                b = buildings[rng.randrange(len(buildings))]
                if t + span < hi and self._dispute_fits(b.building_id, t, t + span):
                    break
            else:
                raise ValueError("the planned disputes do not fit: use more buildings or a "
                                 "longer window")
            self.disputes.setdefault(b.building_id, []).append((t, t + span))
            history = [(status, t + dt) for status, dt in offsets]
            self._schedule(self._report_chain(b.grid_id, b, b.site_id, t, "DISPUTE",
                                              history=history))

    def _plan_trends(self, n: int) -> None:
        """``n`` rising trends in distinct (grid, category) pairs (docs/toolkit.md)."""
        rng = self.rng
        week = 7 * DAY_MS
        first = _first_monday(self.start)
        n_weeks = (self.end - DAY_MS - first) // week  # whole weeks before the last day
        if n_weeks <= TREND_BASELINE_WEEKS:
            need = -(-(first - self.start) // DAY_MS) + (TREND_BASELINE_WEEKS + 1) * 7 + 1
            raise ValueError(f"--trends needs {TREND_BASELINE_WEEKS} whole weeks of baseline "
                             f"and the rising week before the last day: use --days {need} or "
                             "more")
        grids = sorted(self.city.grids)
        if n > len(grids) * len(TREND_CATEGORIES):
            raise ValueError(f"--trends {n}: this city has only {len(grids)} grids of "
                             f"{len(TREND_CATEGORIES)} categories; use more buildings")
        # categories in turn (all different while n <= 6), each in grids not used for it yet
        order = rng.sample(TREND_CATEGORIES, len(TREND_CATEGORIES))
        free = {c: rng.sample(grids, len(grids)) for c in order}
        chosen = []
        for i in range(n):
            category = order[i % len(order)]
            chosen.append((free[category].pop(), category))
        for grid_id, category in chosen:
            members = self.city.grids[grid_id]
            spike = rng.randrange(TREND_BASELINE_WEEKS, n_weeks)
            counts = [min(TREND_BASELINE_CAP, _poisson(rng, TREND_BASELINE_MEAN))
                      for _ in range(spike)]
            counts.append(rng.randint(TREND_SPIKE_MIN, TREND_SPIKE_MAX))
            for k, count in enumerate(counts):
                for _ in range(count):
                    t = (first + k * week + rng.randrange(7) * DAY_MS
                         + int((8 + 10 * rng.random()) * HOUR_MS))
                    b = members[rng.randrange(len(members))]
                    self._schedule(self._report_chain(grid_id, b, b.site_id, t, category))
            record = members[0].record
            week_start = first + spike * week
            self.trend_labels.append(TrendLabel(
                "GRID", grid_id, "grid_report", category, week_start, _week_label(week_start),
                counts[-1], tuple(counts[:-1]),
                tuple((level, str(record[name])) for level, name in (
                    ("TOWNSHIP", "township_code"), ("DISTRICT", "district_code"),
                    ("CITY", "city_code")) if record[name])))

    def _closing_report(self, day_start: int) -> None:
        """Without background, one report on the last day: the analytics see time pass."""
        grid_id = sorted(self.city.grids)[0]
        b = self.city.grids[grid_id][0]
        t = day_start + 9 * HOUR_MS
        for event in self._report_chain(grid_id, b, b.site_id, t, "OTHER", updates=False):
            self.sink.emit(event)

    def _inject_lookups(self, i: int) -> None:
        rng = self.rng
        (site,), t = self._slot(25 * MINUTE_MS)
        b = site.buildings[rng.randrange(len(site.buildings))]
        events = []
        tk = t
        for _ in range(5 + i % 3):
            events.append(self._lookup(b, tk, _pseudonym(rng), "VISITOR", "QR_SCAN"))
            tk += rng.randint(60, 240) * SECOND_MS
        self.lookup_zones.add(b.building_id, t - 40 * MINUTE_MS, tk + 40 * MINUTE_MS)
        self._add("lookup_spike", b.building_id, events, "LOW")

    def _inject_held(self, i: int) -> None:
        (site,), t = self._slot(MINUTE_MS)
        b, door = self._pick_door(site)
        event = self._swipe(b, door, t, None, "UNKNOWN", "HELD_OPEN", "UNKNOWN")
        self._add("door_held_open", door[0], [event], "LOW")

    def _inject_tamper(self, i: int) -> None:
        rng = self.rng
        (site,), t = self._slot(MINUTE_MS, night=i % 2 == 1)
        zone = site.zones[rng.randrange(len(site.zones))]
        device = zone[2][-1]
        events = [self._alarm(site, zone, device, t, "TAMPER", 3)]
        if i % 2 == 0:  # the sensor flaps: the repeat is suppressed, the incident stays one
            events.append(self._alarm(site, zone, device, t + 4 * SECOND_MS, "TAMPER", 3))
        self._add("device_tamper", device, events, "MEDIUM")


def dispute_history(rng: random.Random, model: DisputeModel, t: int,
                    outcome: str | None = None) -> list[tuple[str, int]]:
    """A dispute's (status, event time) history from ``t``, by ``model``.

    ``outcome`` forces how it ends: RESOLVED, UNRESOLVED or REPORTED (never accepted); None
    draws it from the model's rates. Times strictly increase.
    """
    if outcome is None:
        if rng.random() >= model.accept_rate:
            outcome = "REPORTED"
        else:
            outcome = "RESOLVED" if rng.random() < model.resolve_rate else "UNRESOLVED"
    history = [("REPORTED", t)]
    if outcome == "REPORTED":
        return history
    t += max(MINUTE_MS, model.to_accepted.draw_ms(rng))
    history.append(("ACCEPTED", t))
    if outcome == "UNRESOLVED" or rng.random() < model.mediate_rate:
        t += max(MINUTE_MS, model.to_mediating.draw_ms(rng))
        history.append(("MEDIATING", t))
    last = model.to_resolved if outcome == "RESOLVED" else model.to_unresolved
    t += max(MINUTE_MS, last.draw_ms(rng))
    history.append((outcome, t))
    return history


def _first_monday(t: int) -> int:
    """The first Monday 00:00 Asia/Shanghai at or after ``t`` (epoch ms)."""
    day = -(-(t + _CST_OFFSET_MS) // DAY_MS)  # local days since 1970-01-01, a Thursday
    day += (4 - day) % 7
    return day * DAY_MS - _CST_OFFSET_MS


def _week_label(week_start: int) -> str:
    """ISO week label (``2025-W14``) of a local week start."""
    local = datetime.fromtimestamp(week_start / 1000, tz=timezone(timedelta(hours=8)))
    year, number, _ = local.isocalendar()
    return f"{year}-W{number:02d}"


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method; fine for the small means used here."""
    limit = math.exp(-lam)
    k, p = 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    total = sum(w for _, w in table)
    r = rng.random() * total
    for value, w in table:
        r -= w
        if r < 0:
            return value
    return table[-1][0]


class Simulator:
    """Streaming form for big runs: labels are known at once, lines are made while iterated.

    ``counts`` (events by kind, duplicates, situations) is complete once :meth:`lines` is exhausted.
    """

    def __init__(self, cfg: SimConfig) -> None:
        self._gen = _Generator(cfg)
        self.labels: tuple[Label, ...] = self._gen.sorted_labels()
        self.trends: tuple[TrendLabel, ...] = tuple(sorted(
            self._gen.trend_labels, key=lambda x: (x.week_start, x.area_code, x.case_type)))

    def lines(self) -> Iterator[str]:
        yield from self._gen.registry_lines()
        yield from self._gen.event_lines()

    @property
    def counts(self) -> dict[str, int]:
        counts = dict(sorted(self._gen.sink.counts.items()))
        counts["situations"] = len(self.labels)
        if self.trends:
            counts["trends"] = len(self.trends)
        return counts

    def label_lines(self) -> Iterator[str]:
        """The labels file: situations (by first event time), then the planted trends."""
        for label in self.labels:
            yield label.to_json()
        for trend in self.trends:
            yield trend.to_json()


def simulate(cfg: SimConfig) -> Simulation:
    """Generate the city, its background and its injected situations (pure, deterministic)."""
    sim = Simulator(cfg)
    registry = tuple(sim._gen.registry_lines())
    events = tuple(sim._gen.event_lines())
    return Simulation(registry, events, sim.labels, sim.counts, sim.trends)


# -- profiles ------------------------------------------------------------------------------------

#: Tai'an's published dispute mediation figures: 5,872 accepted (受理), 5,797 resolved (调处成功).
TAIAN_ACCEPTED = 5_872
TAIAN_RESOLVED = 5_797


def taian_year(seed: int = 1, *, year: int = 2025, buildings: int = 400,
               trends: int = 0) -> SimConfig:
    """A city-year whose YEAR dispute funnel is Tai'an's: exactly 5,872 disputes accepted and
    5,797 resolved (98.7 %), the other 75 UNRESOLVED, every one first reported in ``year``
    (Asia/Shanghai) and finished before it ends. No background and no situations: only the
    disputes (the trends if asked), and on 1 January of the next year one closing report so
    `hub analytics` sees the year end and publishes it."""
    cst = timezone(timedelta(hours=8))
    start = int(datetime(year, 1, 1, tzinfo=cst).timestamp() * 1000)
    end = int(datetime(year + 1, 1, 1, tzinfo=cst).timestamp() * 1000)
    plan = DisputePlan(resolved=TAIAN_RESOLVED, unresolved=TAIAN_ACCEPTED - TAIAN_RESOLVED,
                       window_start=start, window_end=end)
    return SimConfig(seed=seed, buildings=buildings, days=(end - start) // DAY_MS + 1,
                     start_ms=start, inject=False, background=False, dispute_plan=plan,
                     trends=trends)


#: ``hub simulate --profile NAME``.
PROFILES = {"taian-year": taian_year}
