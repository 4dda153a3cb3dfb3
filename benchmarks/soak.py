"""Soak: the supervised `hub worker` under steady live traffic, with planted situations.

    python -m benchmarks.soak                      # 30 min at 200 events/s on a private stack
    python -m benchmarks.soak --minutes 3          # the CI-sized run
    python -m benchmarks.soak --rate 400 --shared-stack

What it does, in order:

1. Starts a private stack (benchmarks/stack.py: `hub stack up` with HUB_STATE_DIR in a temp
   directory, free loopback ports, the shared stack's cached Kafka jars copied in) and applies
   topology/topics.yaml. ``--shared-stack`` uses the configured broker instead, after taking the
   hub-topics lock and waiting until nobody else uses the hub.* topics, and resets them.
2. Produces a small building registry (background sites with a few buildings each, plus one
   single-building site per planted situation slot) to hub.registry.building.
3. Starts ONE `hub worker` supervised (no ``--no-supervise``: its self-restarts are real), with a
   fresh HUB_APP_ID and the worker's own tick setting, and waits for its consumer group to be
   stable.
4. Feeds the five source topics at ``--rate`` events/s in total with event_time = now, produced
   with confluent-kafka exactly like `hub produce` (murmur2, keyed by site_id, Avro single-object
   via hub.codec, validated and pseudonymized by the interchange parser first). Every produced
   event is also written as an interchange line to ``events.jsonl`` (registry lines first).
   Background traffic matches no rule (granted swipes of each building's own residents, face
   matches below 0.90, non-visitor lookups, loitering/fault alarms, non-dispute grid reports).
   Every ``--plant-every`` seconds one situation of a default rule is planted, cycling through
   perimeter_breach_entry, credential_brute_force, forced_door, door_held_open, device_tamper,
   watchlist_entry, cloned_credential and lookup_spike, each on a site of its own pool (reused
   only after longer than any rule's window). dispute_hotspot is not planted: grid reports have
   24 h of allowed lateness, so it cannot be released within a soak.
5. For ``--minutes`` situations are planted; then ``--tail`` seconds (default 90) of background
   traffic only. Once a second it samples the group's source lag (group_lag: end − committed),
   reads hub.incidents (read_committed), watches the supervisor's log for restarts and the
   worker's pid; every 5 s it scrapes the worker's /metrics and reads its RSS.
6. At the end of the tail, WITH TRAFFIC STILL FLOWING (nothing depends on `hub flush`), it takes
   the figures; then it stops the feed and the worker, runs `hub correlate` over the recorded
   file and compares: expected = the offline incidents whose completing event (last evidence) is
   older than the rule's allowed lateness + ``--margin`` at the end; published = the final
   version of each incident read from hub.incidents during the run.
7. Diagnostic, not a goal (``--no-flush-check`` skips it): with the traffic stopped, `hub flush`,
   and everything the worker then published against offline over the whole file: tells a worker
   that holds its incidents until the end of input from one that loses them.

Goals (PASS/FAIL each; exit status 1 on any FAIL): no self-restart; no watchdog re-fetch
(hub_liveness_partitions_reread_total; the worker has had no watchdog since ADR 0005, so 0 when
/metrics answers without it); source lag at
most ``--max-lag`` seconds of traffic after the warm-up; expected == published (and nothing
published that offline never emits); worker RSS growth from the end of the warm-up to the end at
most ``--max-rss-growth`` percent.
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import itertools
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import machine_note
from benchmarks.incidents import (
    IncidentReader,
    Seen,
    correlate_offline,
    describe_diff,
    final_versions,
    incident_view,
)
from benchmarks.stack import (
    APP_PREFIX,
    REPO,
    children_of,
    delete_dedup_keys,
    delete_topics,
    free_port,
    group_members,
    private_stack_down,
    private_stack_up,
    reset_topics,
    rss_bytes,
    stack_env,
    stop_process_group,
    take_topics_lock,
    wait_exclusive,
)
from hub.adapters.kafka.io import DeliveryReport, make_producer, produce, topic_for_kind
from hub.adapters.topic_specs import load_topic_specs
from hub.codec import (
    event_enums,
    event_fields,
    load_codec,
    parse_object,
    record_to_json,
    topic_key,
)
from hub.core.rule_loading import load_rules
from hub.runtime.control import group_lag
from hub.settings import REGISTRY_TOPIC, SOURCE_TOPICS, Settings

SOURCE_LIST = list(SOURCE_TOPICS.values())
#: What the supervisor (hub/runtime/supervise.py) writes each time it restarts the worker.
RESTART_LINE = "the worker stopped itself"
#: The longest planted situation, first event to last (see ``Feed.plant``).
PLANT_SPAN_S = 45.0
#: A site of a planted rule is reused only after this long (more than any planted rule's window).
REUSE_S = 12 * 60.0
REREAD_METRIC = "hub_liveness_partitions_reread_total"
INFO_METRICS = ("hub_deadletter_messages_total", "hub_correlate_late_events_total",
                "hub_redis_errors_total")
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


# -- watching the worker ----------------------------------------------------------------------


def scrape(port: int) -> dict[str, float] | None:
    """The worker's Prometheus samples, ``name{labels}`` -> value; None if unreachable. A metric
    declared without samples yet (a labelled counter nobody incremented) appears as ``name`` ->
    0.0, from its ``# TYPE`` line."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            out.setdefault(line.split()[2], 0.0)
        elif line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                continue
    return out


def metric_sum(samples: dict[str, float], name: str) -> float | None:
    """Sum of a metric's samples over its labels; None if the worker does not declare it."""
    found = [v for k, v in samples.items() if k == name or k.startswith(name + "{")]
    return sum(found) if found else None


@dataclasses.dataclass
class Watch:
    """What the monitor saw, sampled while the traffic flows."""

    lag: list[tuple[float, int]] = dataclasses.field(default_factory=list)  # (t, messages)
    lag_errors: int = 0
    rss: list[tuple[float, int, int]] = dataclasses.field(default_factory=list)  # (t, pid, B)
    child_pids: list[int] = dataclasses.field(default_factory=list)
    restart_lines: list[str] = dataclasses.field(default_factory=list)
    #: metric -> pid -> last value seen (counters restart at 0 with a new process)
    metrics: dict[str, dict[int, float]] = dataclasses.field(default_factory=dict)
    metrics_declared: set[str] = dataclasses.field(default_factory=set)
    scrapes_ok: int = 0
    log_pos: int = 0

    def metric_total(self, name: str) -> float | None:
        if name not in self.metrics_declared:
            return None
        return sum(self.metrics.get(name, {}).values())


def read_restarts(log_path: Path, watch: Watch) -> None:
    """New supervisor restart lines in the worker's log (read incrementally)."""
    try:
        with open(log_path, "rb") as fh:
            fh.seek(watch.log_pos)
            chunk = fh.read()
    except OSError:
        return
    cut = chunk.rfind(b"\n") + 1
    watch.log_pos += cut
    for line in chunk[:cut].decode(errors="replace").splitlines():
        if RESTART_LINE in line or "giving up" in line:
            watch.restart_lines.append(line.strip())


def sample_worker(sup_pid: int, port: int, watch: Watch, t: float) -> int | None:
    """RSS and metrics of the supervised worker process (the supervisor's child)."""
    kids = children_of(sup_pid)
    if not kids:
        return None
    pid = kids[-1]
    if pid not in watch.child_pids:
        watch.child_pids.append(pid)
    rss = rss_bytes(pid)
    if rss:
        watch.rss.append((t, pid, rss))
    samples = scrape(port)
    if samples is not None:
        watch.scrapes_ok += 1
        for name in (REREAD_METRIC, *INFO_METRICS):
            value = metric_sum(samples, name)
            if value is not None:
                watch.metrics_declared.add(name)
                watch.metrics.setdefault(name, {})[pid] = value
    return pid


# -- the comparison ---------------------------------------------------------------------------


@dataclasses.dataclass
class RuleRow:
    rule: str
    planted: int = 0
    expected: int = 0
    published: int = 0  # expected ids whose published final version equals the offline one
    missing: int = 0
    differs: int = 0
    pending: int = 0  # offline incidents completed after the cutoff (not judged)
    delays: list[float] = dataclasses.field(default_factory=list)
    #: from the first version's event time to the first record of the id, of any status
    #: (PROVISIONAL when early alerts are on)
    alert_delays: list[float] = dataclasses.field(default_factory=list)


def compare(offline: list[dict[str, Any]], seen: list[Seen], *, end_ms: int,
            lateness_ms: dict[str, int], margin_ms: int,
            planted: Counter[str]) -> tuple[dict[str, RuleRow], list[str]]:
    """Per rule: expected (offline, completed before the rule's cutoff) vs published."""
    off_final = final_versions(offline)
    first_time = {r["incident_id"]: r["emitted_time"] for r in offline if r["version"] == 1}
    online: dict[str, dict[str, Any]] = {}
    first_seen: dict[tuple[str, int], float] = {}
    first_any: dict[str, float] = {}
    for s in seen:
        if s.record is None:
            continue
        first_any.setdefault(s.record["incident_id"], s.at)
        if s.record.get("status", "CONFIRMED") != "CONFIRMED":
            continue  # early alerts: the comparison with offline is on confirmed versions
        key = (s.record["incident_id"], s.record["version"])
        first_seen.setdefault(key, s.at)
        held = online.get(key[0])
        if held is None or key[1] > held["version"]:
            online[key[0]] = s.record
    rows: dict[str, RuleRow] = {r: RuleRow(r, planted=planted[r]) for r in PLANTED_RULES}
    problems: list[str] = []
    for iid, rec in sorted(off_final.items(), key=lambda kv: kv[1]["last_event_time"]):
        rule = rec["rule_id"]
        row = rows.setdefault(rule, RuleRow(rule))
        cutoff = end_ms - lateness_ms.get(rule, 30_000) - margin_ms
        if rec["last_event_time"] > cutoff:
            row.pending += 1
            continue
        row.expected += 1
        got = online.get(iid)
        if got is None:
            row.missing += 1
            problems.append(f"MISSING online: {rule} {iid} {incident_view(rec)}")
        elif incident_view(got) != incident_view(rec):
            row.differs += 1
            a, b = incident_view(got), incident_view(rec)
            fields = [k for k in a if a[k] != b[k]]
            problems.append(f"DIFFERS {rule} {iid} in {fields}: online={a} offline={b}")
        else:
            row.published += 1
            at = first_seen[(iid, rec["version"])]
            row.delays.append(at - rec["last_event_time"] / 1000)
            row.alert_delays.append(first_any[iid] - first_time.get(iid, 0) / 1000)
    for iid, rec in sorted(online.items()):
        if iid not in off_final:
            rows.setdefault(rec["rule_id"], RuleRow(rec["rule_id"]))
            problems.append(f"EXTRA online (never emitted offline): {rec['rule_id']} {iid} "
                            f"{incident_view(rec)}")
    return rows, problems


def lateness_by_rule(settings: Settings, rules_dir: Path | None) -> dict[str, int]:
    """Each rule's allowed lateness: the largest of the sources it reads (sources.yaml)."""
    codec = load_codec(settings.schemas_dir)
    pack = load_rules(rules_dir or settings.rules_dir, event_fields(codec), event_enums(codec))
    return {r.id: max(pack.policy(k).lateness for k in r.sources) for r in pack.rules}


# -- the run ----------------------------------------------------------------------------------


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


def wait_stable(settings: Settings, group: str, sup: subprocess.Popen[bytes],
                timeout: float) -> float:
    """Seconds until ``group`` is stable with a member; raises if the worker exits or never
    joins."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if sup.poll() is not None:
            raise RuntimeError(f"`hub worker` exited with status {sup.returncode} at start-up")
        if group_members(settings, group) >= 1:
            return time.monotonic() - t0
        time.sleep(1.0)
    raise RuntimeError(f"the worker's consumer group {group} was not stable in {timeout:.0f} s")


def latency_goals(rows: dict[str, RuleRow], max_first: float,
                  lateness_ms: dict[str, int]) -> list[tuple[str, bool | None, str]]:
    """The latency goals (BENCHMARKS.md §5): p99 over every judged situation of the first
    publication (PROVISIONAL or CONFIRMED) and, per rule, of the confirmed version against the
    rule's lateness + 3 s."""
    first = [d for r in rows.values() for d in r.alert_delays]
    print(f"\nlatency over {len(first)} published situations (wall time from the completing "
          "event's production, event_time = now, to this reader getting the record)")
    print(f"  first publication: p50 {pct(first, 0.5):.2f} s  p99 {pct(first, 0.99):.2f} s  "
          f"max {max(first, default=float('nan')):.2f} s")
    goals: list[tuple[str, bool | None, str]] = [(
        f"first publication p99 <= {max_first:g} s", bool(first) and pct(first, 0.99) <= max_first,
        f"p99 {pct(first, 0.99):.2f} s over {len(first)}")]
    late = []
    for row in rows.values():
        if not row.delays:
            continue
        bound = lateness_ms.get(row.rule, 30_000) / 1000 + 3.0
        p99 = pct(row.delays, 0.99)
        print(f"  confirmed {row.rule:<24} p50 {pct(row.delays, 0.5):6.2f} s  p99 {p99:6.2f} s"
              f"  (goal <= {bound:g} s)")
        if p99 > bound:
            late.append(f"{row.rule} {p99:.1f} s > {bound:g} s")
    goals.append(("confirmed p99 <= lateness + 3 s", not late and bool(first),
                  "; ".join(late) or "every rule"))
    return goals


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=30.0,
                   help="minutes of traffic with planted situations (default 30)")
    p.add_argument("--rate", type=float, default=200.0, help="events/s over all five sources")
    p.add_argument("--tail", type=float, default=90.0,
                   help="seconds of background-only traffic after --minutes, before the figures "
                   "are taken (still producing)")
    p.add_argument("--plant-every", type=float, default=10.0,
                   help="seconds between planted situations (rules in turn)")
    p.add_argument("--margin", type=float, default=45.0,
                   help="an incident is expected once its completing event is older than the "
                   "rule's allowed lateness + this many seconds")
    p.add_argument("--warmup", type=float, default=60.0,
                   help="seconds of traffic before the start RSS is taken and lag is judged "
                   "(at most a third of --minutes)")
    p.add_argument("--max-lag", type=float, default=2.0, help="goal: source lag, seconds")
    p.add_argument("--max-rss-growth", type=float, default=10.0, help="goal: RSS growth, %%")
    p.add_argument("--rules", type=Path, default=None, help="rules directory for the worker")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--shared-stack", action="store_true",
                   help="use the configured broker (HUB_BOOTSTRAP) instead of a private one; "
                   "waits until nobody else uses the hub.* topics, then resets them")
    p.add_argument("--wait-exclusive", type=float, default=300.0,
                   help="--shared-stack: how long to wait for other users before giving up")
    p.add_argument("--no-flush-check", dest="flush_check", action="store_false",
                   help="skip the diagnostic after the figures (stop the traffic, `hub flush`, "
                   "compare everything with offline)")
    p.add_argument("--keep", action="store_true", help="keep the temp directory (logs, events)")
    p.add_argument("--latency-goals", action="store_true",
                   help="judge alert latency (benchmarks/latency_bench.py): first publication "
                   "p99 <= --max-first-alert, confirmed p99 <= the rule's lateness + 3 s; RSS is "
                   "reported, not judged (a short run says little about growth)")
    p.add_argument("--max-first-alert", type=float, default=1.0,
                   help="--latency-goals: first publication p99, seconds")
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0 or args.tail < 0:
        p.error("--minutes and --rate must be positive, --tail not negative")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)

    shared = Settings.from_env()
    tmp = Path(tempfile.mkdtemp(prefix="hubsoak-"))
    settings = shared
    lock = None
    sup: subprocess.Popen[bytes] | None = None
    feeder: Producer | None = None
    reader: IncidentReader | None = None
    events_file = tmp / "events.jsonl"
    log_path = tmp / "worker.log"
    app_id = f"{APP_PREFIX}soak-{uuid.uuid4().hex[:6]}"
    warmup = min(args.warmup, args.minutes * 60 / 3)
    watch = Watch()
    status = 2
    try:
        if args.shared_stack:
            lock = take_topics_lock(shared, args.wait_exclusive, "soak")
            wait_exclusive(args.wait_exclusive, who="soak")
        else:
            t0 = time.monotonic()
            settings = private_stack_up(shared, tmp / "stack")
            print(f"private stack (Kafka {settings.bootstrap}, Redis {settings.redis_url}) up in "
                  f"{time.monotonic() - t0:.1f} s", flush=True)
        s = dataclasses.replace(settings, app_id=app_id)
        print(f"# soak  {machine_note()}  broker {settings.bootstrap}  app {app_id}  "
              f"HUB_TICK_SECONDS={settings.tick_seconds:g}", flush=True)
        print(f"  {args.minutes:g} min planted + {args.tail:g} s tail at {args.rate:g} ev/s; "
              f"a situation every {args.plant_every:g} s; warm-up {warmup:.0f} s; files in {tmp}",
              flush=True)
        reset_topics(settings)
        partitions = max(sp.partitions for sp in load_topic_specs(settings.topics_file)
                         if sp.name in SOURCE_LIST)
        rng = random.Random(args.seed)
        pool = max(2, math.ceil(REUSE_S / (args.plant_every * len(PLANTED_RULES))) + 1)
        city = City(rng, partitions=partitions, pool=pool)
        out = open(events_file, "w", encoding="utf-8")
        produce_registry(settings, city, out)
        print(f"  registry: {len(city.records)} buildings on {len(city.background)} background "
              f"sites and {pool} sites per planted rule", flush=True)

        port = free_port()
        argv_worker = [sys.executable, "-m", "hub", "worker", "--worker-id", "soak1",
                       "--metrics-port", str(port)]
        if args.rules is not None:
            argv_worker += ["--rules", str(args.rules)]
        env = {**os.environ, **stack_env(settings), "HUB_APP_ID": app_id,
               "HUB_STATE_DIR": str(tmp / "state"), "PYTHONUNBUFFERED": "1"}
        with open(log_path, "wb") as log:
            sup = subprocess.Popen(argv_worker, env=env, cwd=REPO, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        took = wait_stable(settings, app_id, sup, timeout=180)
        print(f"  `hub worker` (supervised, pid {sup.pid}) in a stable group after {took:.1f} s",
              flush=True)
        reader = IncidentReader(settings)

        feeder = Producer(settings, Feed(city, rng, uuid.uuid4().hex[:6]), out,
                          rate=args.rate, plant_every=args.plant_every)
        feeder.planting.set()
        feeder.start()
        t_feed = time.monotonic()
        plant_until = t_feed + args.minutes * 60 - PLANT_SPAN_S
        t_stop = t_feed + args.minutes * 60 + args.tail
        rss_start: tuple[float, int, int] | None = None
        last_print = last_sample = 0.0
        worker_exit: int | None = None
        while True:
            now = time.monotonic()
            if now >= t_stop:
                break
            if feeder.planting.is_set() and now >= plant_until:
                feeder.planting.clear()
            if feeder.error is not None:
                raise RuntimeError(f"the producer failed: {feeder.error!r}")
            if sup.poll() is not None:
                worker_exit = sup.returncode
                print(f"  `hub worker` EXITED with status {worker_exit} at "
                      f"{now - t_feed:.0f} s; see {log_path}", flush=True)
                break
            t = now - t_feed
            try:
                watch.lag.append((t, group_lag(s, SOURCE_LIST)))
            except Exception:
                watch.lag_errors += 1
            read_restarts(log_path, watch)
            if now - last_sample >= 5:
                last_sample = now
                sample_worker(sup.pid, port, watch, t)
                if rss_start is None and t >= warmup and watch.rss:
                    rss_start = watch.rss[-1]
            reader.poll(max(0.05, min(0.5, 1.0 - (time.monotonic() - now))))
            if now - last_print >= 30:
                last_print = now
                lag = watch.lag[-1][1] if watch.lag else -1
                rss = watch.rss[-1][2] / 2**20 if watch.rss else float("nan")
                print(f"    {t:6.0f}s  produced {feeder.produced:>8,}  source lag {lag:>6,} msgs"
                      f"  worker RSS {rss:6.1f} MB  incident versions read {len(reader.seen):>5,}"
                      f"  restarts {len(watch.restart_lines)}", flush=True)
            left = 1.0 - (time.monotonic() - now)
            if left > 0:
                time.sleep(left)

        # -- the figures, taken while the traffic still flows ------------------------------
        reader.read_to_end(quiet=1.0, timeout=15)
        end_ms = int(time.time() * 1000)
        t_end = time.monotonic() - t_feed
        sample_worker(sup.pid, port, watch, t_end)
        read_restarts(log_path, watch)
        rss_end = watch.rss[-1] if watch.rss else None
        produced_during = feeder.produced
        seen_during = list(reader.seen)
        undelivered = feeder.finish()
        out.close()
        flushed = False
        if args.flush_check and sup.poll() is None:
            flushed = flush_check(env, reader)
        stop_process_group(sup)
        read_restarts(log_path, watch)
        print(f"  traffic stopped after {t_end:.0f} s: {feeder.produced:,} events "
              f"({', '.join(f'{k} {n:,}' for k, n in sorted(feeder.by_kind.items()))}); "
              f"{feeder.report.failed + undelivered} not delivered; producer at most "
              f"{feeder.behind_max} events behind its schedule", flush=True)

        t0 = time.monotonic()
        offline = correlate_offline(events_file, tmp / "offline.jsonl",
                                    env={**os.environ, **stack_env(settings)}, rules=args.rules)
        print(f"  offline: `hub correlate` over {events_file.name}: {len(offline):,} versions "
              f"({time.monotonic() - t0:.1f} s)", flush=True)
        args.lateness_ms = lateness_by_rule(settings, args.rules)
        rows, problems = compare(offline, seen_during, end_ms=end_ms,
                                 lateness_ms=args.lateness_ms,
                                 margin_ms=int(args.margin * 1000), planted=feeder.feed.used)
        diagnostic = ""
        if flushed:
            after = final_versions(reader.records())
            diff = describe_diff(after, final_versions(offline), limit=10)
            diagnostic = (f"after the figures: traffic stopped, `hub flush`: "
                          f"{len(reader.seen) - len(seen_during)} more versions published; then "
                          f"{len(after)} incident ids online "
                          + (f"== {len(final_versions(offline))} offline (whole file)"
                             if not diff else f"vs {len(final_versions(offline))} offline:\n"
                             + diff))
        status = report(args, watch, rows, problems, seen_during, rss_start=rss_start,
                        rss_end=rss_end, warmup=warmup, worker_exit=worker_exit,
                        produced=produced_during, seconds=t_end, diagnostic=diagnostic,
                        undelivered=feeder.report.failed + undelivered)
        return status
    except RuntimeError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("soak: interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        if feeder is not None and feeder.is_alive():
            feeder.finish(timeout=10)
        if sup is not None:
            stop_process_group(sup)
        if reader is not None:
            reader.close()
        if lock is not None:
            lock.close()
        if args.shared_stack:
            delete_topics(settings, app_id)
            delete_dedup_keys(settings, app_id)
        elif settings is not shared:
            private_stack_down(settings)
            shutil.rmtree(tmp / "stack", ignore_errors=True)
        if status == 0 and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"files (worker log, events.jsonl, offline.jsonl): {tmp}")


def flush_check(env: dict[str, str], reader: IncidentReader) -> bool:
    """Diagnostic, after the figures: `hub flush` and read what it releases. Tells a worker that
    holds its incidents until the end of input from one that loses them."""
    done = subprocess.run([sys.executable, "-m", "hub", "flush", "--wait", "60"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        print(f"  (flush check skipped: {done.stdout}{done.stderr})".strip(), flush=True)
        return False
    reader.until_quiet(quiet=5.0, timeout=120)
    return True


def report(args: argparse.Namespace, watch: Watch, rows: dict[str, RuleRow],
           problems: list[str], seen: list[Seen], *, rss_start: tuple[float, int, int] | None,
           rss_end: tuple[float, int, int] | None, warmup: float, worker_exit: int | None,
           produced: int, seconds: float, diagnostic: str = "", undelivered: int = 0) -> int:
    goals: list[tuple[str, bool | None, str]] = []
    print("\n## soak results (taken while the traffic was still flowing)")
    print(f"events produced {produced:,} in {seconds:.0f} s ({produced / seconds:,.1f} ev/s)")
    if undelivered:  # recorded but not on the topics: offline would expect what never arrived
        goals.append(("every event delivered", False, f"{undelivered} not delivered"))

    restarts = len([x for x in watch.restart_lines if RESTART_LINE in x])
    pids = len(watch.child_pids)
    print(f"self-restarts: {restarts} (supervisor log lines); worker pids seen: {pids}"
          + (f"  {watch.child_pids}" if pids > 1 else ""))
    for line in watch.restart_lines[:10]:
        print(f"    {line}")
    if worker_exit is not None:
        print(f"`hub worker` itself exited with status {worker_exit} during the run")
    goals.append(("no self-restart", restarts == 0 and pids <= 1 and worker_exit is None,
                  f"{restarts} restart(s), {pids} worker pid(s)"
                  + (f", supervisor exited {worker_exit}" if worker_exit is not None else "")))

    rereads = watch.metric_total(REREAD_METRIC)
    if rereads is None and watch.scrapes_ok:
        # Since ADR 0005 the worker has no watchdog and re-reads nothing: nothing to count.
        goals.append(("no watchdog re-fetch", True, "0 (no re-fetch mechanism since ADR 0005)"))
    elif rereads is None:
        goals.append(("no watchdog re-fetch", None, "n/a (/metrics unreachable)"))
    else:
        goals.append(("no watchdog re-fetch", rereads == 0, f"{rereads:g}"))
    print(f"watchdog re-fetches ({REREAD_METRIC}): {goals[-1][2]}")
    info = []
    for name in INFO_METRICS:
        total = watch.metric_total(name)
        info.append(f"{name} {'n/a' if total is None else f'{total:g}'}")
    print("  also: " + ", ".join(info))

    rate = args.rate
    after = [m for t, m in watch.lag if t >= warmup]
    during = [m for t, m in watch.lag if t < warmup]
    if after:
        worst = max(after)
        print(f"source lag after the {warmup:.0f} s warm-up ({len(after)} samples, 1/s): max "
              f"{worst:,} msgs = {worst / rate:.2f} s of traffic; p99 {pct(after, 0.99) / rate:.2f}"
              f" s; mean {statistics.fmean(after) / rate:.2f} s"
              + (f"; {watch.lag_errors} failed samples" if watch.lag_errors else ""))
        goals.append((f"source lag <= {args.max_lag:g} s", worst / rate <= args.max_lag,
                       f"max {worst / rate:.2f} s"))
    else:
        goals.append((f"source lag <= {args.max_lag:g} s", False, "no samples after warm-up"))
    if during:
        print(f"  during the warm-up: max {max(during):,} msgs = {max(during) / rate:.2f} s "
              "(not judged)")

    print(f"\nincidents (expected: offline, completing event older than the rule's lateness + "
          f"{args.margin:g} s at the end; published: read from hub.incidents while the traffic "
          "flowed, final version per id)")
    print(f"  {'rule':<24}{'planted':>8}{'expected':>9}{'published':>10}{'missing':>8}"
          f"{'differs':>8}{'pending':>8}{'delay s median/max':>20}"
          f"{'first alert s med/max':>23}")
    expected = published = 0
    for row in rows.values():
        expected += row.expected
        published += row.published
        delay = (f"{statistics.median(row.delays):.1f} / {max(row.delays):.1f}"
                 if row.delays else "-")
        alert = (f"{statistics.median(row.alert_delays):.1f} / {max(row.alert_delays):.1f}"
                 if row.alert_delays else "-")
        print(f"  {row.rule:<24}{row.planted:>8}{row.expected:>9}{row.published:>10}"
              f"{row.missing:>8}{row.differs:>8}{row.pending:>8}{delay:>20}{alert:>23}")
    print("  (delay: from the completing event's time to when this reader got the confirmed "
          "final version; first alert: from the first version's event time to the first record "
          "of the id, PROVISIONAL or CONFIRMED; pending: completed after the cutoff, not judged)")
    undecodable = sum(1 for x in seen if x.record is None)
    if undecodable:
        problems.append(f"{undecodable} undecodable message(s) on hub.incidents")
    for line in problems[:30]:
        print(f"  {line}")
    if len(problems) > 30:
        print(f"  ... {len(problems) - 30} more")
    planted = sum(r.planted for r in rows.values())
    print(f"  {len(seen)} incident version(s) read from hub.incidents while the traffic flowed "
          f"(no `hub flush` before the figures); {planted} situations planted")
    goals.append(("expected == published", not problems and expected > 0,
                  f"{published} of {expected} expected, {len(problems)} problem(s)"))
    if args.latency_goals:
        goals += latency_goals(rows, args.max_first_alert, args.lateness_ms)
    if diagnostic:
        print("  " + diagnostic.replace("\n", "\n    "))

    if rss_start is not None and rss_end is not None:
        growth = 100.0 * (rss_end[2] - rss_start[2]) / rss_start[2]
        same = rss_start[1] == rss_end[1]
        print(f"worker RSS: {rss_start[2] / 2**20:.1f} MB at {rss_start[0]:.0f} s, "
              f"{rss_end[2] / 2**20:.1f} MB at {rss_end[0]:.0f} s: {growth:+.1f} %"
              + ("" if same else " (NOT the same process: it restarted)"))
        goals.append((f"RSS growth <= {args.max_rss_growth:g} %",
                      None if args.latency_goals else same and growth <= args.max_rss_growth,
                      f"{growth:+.1f} %" + (" (not judged in a latency run)"
                                            if args.latency_goals else "")))
    else:
        goals.append((f"RSS growth <= {args.max_rss_growth:g} %", False, "not measured"))

    print()
    failed = False
    for name, ok, detail in goals:
        verdict = "n/a " if ok is None else ("PASS" if ok else "FAIL")
        failed |= ok is False
        print(f"{verdict}  {name}: {detail}")
    print("SOAK " + ("FAILED" if failed else "PASSED"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
