"""The soak's city and its traffic: a small building registry, background events that match no
rule, planted situations of the default rules, and the thread that produces them at a steady rate.

Kept apart from the run (benchmarks/soak.py) so that what the worker is fed can be read, and
changed, without the sampling loop and the verdicts around it.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from hub.adapters.kafka.io import DeliveryReport, make_producer, produce, topic_for_kind
from hub.codec import load_codec, parse_object, record_to_json, topic_key
from hub.settings import REGISTRY_TOPIC, Settings

#: The longest planted situation, first event to last (see ``Feed.plant``).
PLANT_SPAN_S = 45.0
#: A site of a planted rule is reused only after this long (more than any planted rule's window).
REUSE_S = 12 * 60.0
PLANTED_RULES = ("perimeter_breach_entry", "credential_brute_force", "forced_door",
                 "door_held_open", "device_tamper", "watchlist_entry", "cloned_credential",
                 "lookup_spike")
TOWNSHIP, DISTRICT, CITY = "330102001", "330102", "330100"


# -- the city and its traffic ----------------------------------------------------------------


@dataclasses.dataclass
class Building:
    building_id: str
    site_id: str
    grid_id: str
    doors: list[tuple[str, str]]  # (door_id, device_id)
    residents: list[str]  # credential pseudonyms: one building each, so never "cloned"


@dataclasses.dataclass
class Site:
    site_id: str
    buildings: list[Building]
    zones: list[tuple[str, str]]  # (zone_id, device_id)
    cameras: list[str]


def pseudonym(rng: random.Random) -> str:
    return f"p1:{rng.getrandbits(128):032x}"


def partition_of(key: str, partitions: int) -> int:
    """The partition murmur2 (Java, aiokafka, librdkafka's murmur2_random) gives ``key``."""
    from aiokafka.partitioner import murmur2

    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class City:
    """Background sites (several buildings, covering every source partition) and, per planted
    rule, a pool of one-building sites used in turn."""

    def __init__(self, rng: random.Random, *, partitions: int, pool: int,
                 background: int = 10) -> None:
        self.rng = rng
        self.records: list[dict[str, Any]] = []
        self.background: list[Site] = []
        by_partition: Counter[int] = Counter()
        for n in itertools.count(1):
            if len(self.background) >= background and min(
                    by_partition[p] for p in range(partitions)) >= 2:
                break
            if n > 1000:
                break
            site_id = f"SITE-B{n:03d}"
            part = partition_of(site_id, partitions)
            if len(self.background) >= background and by_partition[part] >= 2:
                continue
            by_partition[part] += 1
            self.background.append(self._site(site_id, buildings=2, doors=2))
        self.pools: dict[str, list[Site]] = {
            rule: [self._site(f"SITE-P{r + 1}{k + 1:02d}", buildings=1, doors=1)
                   for k in range(pool)]
            for r, rule in enumerate(PLANTED_RULES)
        }

    def _site(self, site_id: str, *, buildings: int, doors: int) -> Site:
        rng = self.rng
        grid = f"GRID-{TOWNSHIP}-{len(self.records) // 6 + 1:02d}"
        blds = []
        for b in range(buildings):
            bid = f"BLDG-{site_id[5:]}-{b + 1}"
            blds.append(Building(bid, site_id, grid,
                                 [(f"DOOR-{bid[5:]}-{d + 1}", f"AC-{bid[5:]}-{d + 1}")
                                  for d in range(doors)],
                                 [pseudonym(rng) for _ in range(40)]))
            self.records.append({
                "kind": "building_identity", "building_id": bid,
                "name": f"天罗苑{site_id[5:]}-{b + 1}幢",
                "address": f"杭州市西湖区文三路{len(self.records) + 1}号{b + 1}幢",
                "site_id": site_id, "grid_id": grid, "township_code": TOWNSHIP,
                "district_code": DISTRICT, "city_code": CITY,
                "police_station_id": f"PS-{TOWNSHIP}", "grid_worker_id": f"GW-{grid[5:]}",
                "households": 60, "rental_units": 6, "risk_tags": [],
                "updated_time": 1_700_000_000_000,
            })
        zones = [(f"ZONE-{site_id[5:]}-{z + 1}", f"PA-{site_id[5:]}-{z + 1}") for z in range(2)]
        cameras = [f"CAM-{site_id[5:]}-{c + 1}" for c in range(2)]
        return Site(site_id, blds, zones, cameras)


#: A planted event: seconds after the situation starts, and a function of event_time -> event.
Step = tuple[float, Callable[[int], dict[str, Any]]]

BACKGROUND_MIX = (("access_swipe", 60), ("face_match", 10), ("building_lookup", 10),
                  ("perimeter_alarm", 10), ("grid_report", 10))


class Feed:
    """Makes the events: background ones that match no rule, and planted situations."""

    def __init__(self, city: City, rng: random.Random, tag: str) -> None:
        self.city, self.rng, self.tag = city, rng, tag
        self.seq = itertools.count(1)
        self.kinds = [k for k, w in BACKGROUND_MIX for _ in range(w)]
        self.used: Counter[str] = Counter()  # rule -> situations planted

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{self.tag}-{next(self.seq):09d}"

    # events
    def swipe(self, b: Building, door: tuple[str, str], t: int, cred: str | None, method: str,
              result: str, direction: str) -> dict[str, Any]:
        return {"kind": "access_swipe", "event_id": self.new_id("ac"), "vendor": "hikvision",
                "device_id": door[1], "site_id": b.site_id, "event_time": t,
                "building_id": b.building_id, "door_id": door[0], "credential_hash": cred,
                "method": method, "result": result, "direction": direction}

    def alarm(self, site: Site, zone: tuple[str, str], t: int, alarm_type: str,
              severity: int) -> dict[str, Any]:
        return {"kind": "perimeter_alarm", "event_id": self.new_id("pa"), "vendor": "dahua",
                "device_id": zone[1], "site_id": site.site_id, "event_time": t,
                "zone_id": zone[0], "building_id": site.buildings[0].building_id,
                "alarm_type": alarm_type, "severity": severity, "description": None}

    def face(self, site: Site, camera: str, t: int, similarity: float) -> dict[str, Any]:
        return {"kind": "face_match", "event_id": self.new_id("fm"), "vendor": "megvii",
                "device_id": camera, "site_id": site.site_id, "event_time": t,
                "building_id": site.buildings[0].building_id, "watchlist_id": "WL-FRAUD",
                "person_hash": pseudonym(self.rng), "similarity": similarity}

    def lookup(self, b: Building, t: int, role: str, channel: str) -> dict[str, Any]:
        return {"kind": "building_lookup", "event_id": self.new_id("bl"),
                "vendor": "bic-platform", "device_id": f"QR-{b.building_id[5:]}",
                "site_id": b.site_id, "event_time": t, "building_id": b.building_id,
                "requester_hash": pseudonym(self.rng), "requester_role": role, "channel": channel}

    def report(self, b: Building, t: int, category: str) -> dict[str, Any]:
        return {"kind": "grid_report", "event_id": self.new_id("gr"), "vendor": "grid-app",
                "device_id": f"PAD-{b.grid_id}", "site_id": b.site_id, "event_time": t,
                "report_id": self.new_id("RPT"), "grid_id": b.grid_id,
                "building_id": b.building_id, "reporter_hash": pseudonym(self.rng),
                "category": category, "status": "REPORTED", "severity": 2,
                "description": "楼道堆物 items left in the stairwell"}

    def background(self, t: int) -> dict[str, Any]:
        """One event at a background site that no default rule matches."""
        rng = self.rng
        site = rng.choice(self.city.background)
        b = rng.choice(site.buildings)
        kind = rng.choice(self.kinds)
        if kind == "access_swipe":
            result = "GRANTED" if rng.random() < 0.97 else "ANTI_PASSBACK"
            return self.swipe(b, rng.choice(b.doors), t, rng.choice(b.residents),
                              rng.choice(("CARD", "FACE", "FINGERPRINT", "PIN", "QR")), result,
                              rng.choice(("IN", "OUT")))
        if kind == "face_match":
            return self.face(site, rng.choice(site.cameras), t, round(rng.uniform(0.3, 0.85), 3))
        if kind == "building_lookup":
            return self.lookup(b, t, rng.choice(("RESIDENT", "POLICE", "GRID_WORKER",
                                                 "PROPERTY")),
                               rng.choice(("QR_SCAN", "APP", "API")))
        if kind == "perimeter_alarm":
            return self.alarm(site, rng.choice(site.zones), t,
                              rng.choice(("LOITERING", "FAULT", "UNKNOWN")), rng.randint(1, 3))
        return self.report(b, t, rng.choice(("SAFETY_HAZARD", "FIRE_HAZARD", "ENVIRONMENT",
                                             "PUBLIC_ORDER", "OTHER")))

    def plant(self, rule: str) -> list[Step]:
        """The events of one situation of ``rule``, at their offsets (all within PLANT_SPAN_S)."""
        rng = self.rng
        pool = self.city.pools[rule]
        i = self.used[rule]
        self.used[rule] += 1
        site = pool[i % len(pool)]
        b = site.buildings[0]
        door = b.doors[0]
        if rule == "perimeter_breach_entry":
            zone = site.zones[0]
            kind = ("INTRUSION", "LINE_CROSSING", "FENCE_CUT", "CLIMB")[i % 4]
            cred = pseudonym(rng)
            return [(0.0, lambda t: self.alarm(site, zone, t, kind, 4)),
                    (20.0, lambda t: self.swipe(b, door, t, cred, "CARD", "DENIED", "IN"))]
        if rule == "credential_brute_force":
            cred = pseudonym(rng)
            return [(4.0 * k, lambda t: self.swipe(b, door, t, cred, "PIN", "DENIED", "IN"))
                    for k in range(5)]
        if rule == "forced_door":
            return [(0.0, lambda t: self.swipe(b, door, t, None, "UNKNOWN", "FORCED_OPEN",
                                               "IN"))]
        if rule == "door_held_open":
            return [(0.0, lambda t: self.swipe(b, door, t, None, "UNKNOWN", "HELD_OPEN",
                                               "UNKNOWN"))]
        if rule == "device_tamper":  # the sensor flaps: the repeat is suppressed
            zone = site.zones[1]
            return [(0.0, lambda t: self.alarm(site, zone, t, "TAMPER", 3)),
                    (4.0, lambda t: self.alarm(site, zone, t, "TAMPER", 3))]
        if rule == "watchlist_entry":
            camera, cred = site.cameras[0], b.residents[0]
            return [(0.0, lambda t: self.face(site, camera, t, 0.95)),
                    (15.0, lambda t: self.swipe(b, door, t, cred, "FACE", "GRANTED", "IN"))]
        if rule == "cloned_credential":  # one credential granted at two sites within 3 min
            away = pool[(i + 1) % len(pool)].buildings[0]
            cred = b.residents[i % len(b.residents)]
            return [(0.0, lambda t: self.swipe(b, door, t, cred, "CARD", "GRANTED", "OUT")),
                    (40.0, lambda t: self.swipe(away, away.doors[0], t, cred, "CARD", "GRANTED",
                                                "IN"))]
        if rule == "lookup_spike":
            return [(5.0 * k, lambda t: self.lookup(b, t, "VISITOR", "QR_SCAN"))
                    for k in range(5)]
        raise ValueError(f"no plant for {rule}")


# -- producing --------------------------------------------------------------------------------


class Producer(threading.Thread):
    """Produces ``rate`` events/s with event_time = now until stopped; plants a situation every
    ``plant_every`` seconds while ``planting`` is set. Records every event as an interchange
    line. Runs in its own thread so that the monitor's broker calls never delay it."""

    def __init__(self, settings: Settings, feed: Feed, out: Any, *, rate: float,
                 plant_every: float) -> None:
        super().__init__(name="soak-producer", daemon=True)
        self.settings, self.feed, self.out = settings, feed, out
        self.rate, self.plant_every = rate, plant_every
        self.codec = load_codec(settings.schemas_dir)
        self.producer: Any = make_producer(settings, **{"client.id": "hub-soak"})
        self.report = DeliveryReport()
        self.stop_event = threading.Event()
        self.planting = threading.Event()
        self.produced = 0
        self.by_kind: Counter[str] = Counter()
        self.behind_max = 0  # most events the loop was ever behind its schedule
        self.error: BaseException | None = None
        self.first_wall: float | None = None
        self.last_plant_event_wall = 0.0

    def emit(self, obj: dict[str, Any], *, planted: bool = False) -> None:
        kind, record = parse_object(obj, pseudonym_key=self.settings.pseudonym_key,
                                    codec=self.codec)
        value = self.codec.encode(kind, record)
        produce(self.producer, topic_for_kind(kind), value, key=topic_key(kind, record),
                headers={"kind": kind.encode()}, on_delivery=self.report.callback)
        self.out.write(record_to_json(kind, record, codec=self.codec) + "\n")
        self.produced += 1
        self.by_kind[kind] += 1
        if planted:
            self.last_plant_event_wall = time.time()

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # reported by the monitor; the soak then fails
            self.error = exc

    def _loop(self) -> None:
        rules = itertools.cycle(PLANTED_RULES)
        pending: list[tuple[float, int, Callable[[int], dict[str, Any]]]] = []
        order = itertools.count()
        t0 = time.monotonic()
        self.first_wall = time.time()
        next_plant = t0 + min(5.0, self.plant_every)
        while not self.stop_event.is_set():
            now = time.monotonic()
            if self.planting.is_set() and now >= next_plant:
                for offset, make in self.feed.plant(next(rules)):
                    heapq.heappush(pending, (now + offset, next(order), make))
                next_plant += self.plant_every
            due = int((now - t0) * self.rate) - self.produced
            self.behind_max = max(self.behind_max, due)
            if due <= 0:
                time.sleep(min(0.02, 1.0 / self.rate))
                continue
            for _ in range(min(due, max(1, int(self.rate)))):
                wall_ms = int(time.time() * 1000)
                if pending and pending[0][0] <= time.monotonic():
                    _, _, make = heapq.heappop(pending)
                    self.emit(make(wall_ms), planted=True)
                else:
                    self.emit(self.feed.background(wall_ms))
            self.producer.poll(0)

    def finish(self, timeout: float = 30.0) -> int:
        """Stop, deliver what is queued; the number of messages not delivered."""
        self.stop_event.set()
        self.join(timeout=timeout)
        if self.producer is None:  # finished already
            return 0
        left = self.producer.flush(timeout)
        self.producer = None  # let librdkafka go before the stack does
        self.out.flush()
        return int(left)


def produce_registry(settings: Settings, city: City, out: Any) -> None:
    codec = load_codec(settings.schemas_dir)
    report = DeliveryReport()
    producer = make_producer(settings, **{"client.id": "hub-soak-registry"})
    for obj in city.records:
        kind, record = parse_object(obj, pseudonym_key=settings.pseudonym_key, codec=codec)
        produce(producer, REGISTRY_TOPIC, codec.encode(kind, record),
                key=topic_key(kind, record), headers={"kind": kind.encode()},
                on_delivery=report.callback)
        out.write(record_to_json(kind, record, codec=codec) + "\n")
    left = producer.flush(30)
    if left or report.failed:
        raise RuntimeError(f"registry not delivered: {left} queued, {report.errors}")
