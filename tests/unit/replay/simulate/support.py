"""What the simulate tests share: cached cities, event readers, the analytics runner, and
``oracle``, an independent rule checker.

The checker re-implements the default rules naively and on its own, from the rule text in issue
3, without the engine or the simulator's code: the background must never satisfy a rule, and the
injected situations must produce exactly one incident each.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

from hub.codec import load_codec
from hub.core.analytics import load_analytics
from hub.model.events import REGISTRY_KIND
from hub.offline.analytics import AnalyticsResult, analyse
from hub.offline.inputs import read_input
from hub.replay.simulate.config import SimConfig
from hub.replay.simulate.simulator import Simulation, simulate

S, M, H, D = 1_000, 60_000, 3_600_000, 86_400_000


PSEUDONYM = re.compile(r"^p1:[0-9a-f]{32}$")


REPO = Path(__file__).resolve().parents[4]


CONFIG = load_analytics(REPO / "topology" / "analytics.yaml")


CST = timezone(timedelta(hours=8))
#: fields the engine keys per site as well (a rule `by: [door_id]` is keyed by site and door)
SITE_LOCAL = frozenset({"door_id", "building_id", "device_id", "zone_id"})


ORDER = ("REPORTED", "ACCEPTED", "MEDIATING")


@cache
def sim(seed: int, buildings: int, days: int, inject: bool = True) -> Simulation:
    return simulate(SimConfig(seed=seed, buildings=buildings, days=days, inject=inject))


def events_of(s: Simulation) -> list[dict[str, Any]]:
    return [json.loads(line) for line in s.event_lines]


def events(s: Simulation) -> list[dict[str, Any]]:
    return [json.loads(line) for line in s.event_lines]


def disputes(evs: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """report_id -> its DISPUTE events by event time (duplicate lines once)."""
    out: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for e in evs:
        if e["kind"] == "grid_report" and e["category"] == "DISPUTE":
            out[e["report_id"]][e["event_id"]] = e
    return {r: sorted(h.values(), key=lambda e: e["event_time"]) for r, h in out.items()}


def run_analytics(s: Simulation, tmp_path: Path, config: Any = CONFIG) -> AnalyticsResult:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(s.lines()) + "\n", encoding="utf-8")
    return analyse(read_input(path, pseudonym_key="k", codec=load_codec(),
                              only=("grid_report", REGISTRY_KIND)), [], config)


WINDOW = {  # merge window of each rule (an incident absorbs matches this close to its last one)
    "perimeter_breach_entry": 5 * M,
    "forced_door": 30 * S,
    "credential_brute_force": 2 * M,
    "cloned_credential": 3 * M,
    "watchlist_entry": 10 * M,
    "dispute_hotspot": 7 * D,
    "lookup_spike": 30 * M,
    "door_held_open": 10 * M,
    "device_tamper": 10 * M,
}


RANK = {"LOW": 0, "MEDIUM": 1, "HIGH": 2, "CRITICAL": 3}


def oracle(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Incidents as (rule, key, evidence ids, risk) by the rule text, naively."""
    unique: dict[str, dict[str, Any]] = {}
    for e in events:
        unique.setdefault(e["event_id"], e)
    evs = sorted(unique.values(), key=lambda e: (e["event_time"], e["kind"], e["event_id"]))
    last_alarm: dict[tuple[str, str], int] = {}
    kept = []
    for e in evs:
        if e["kind"] == "perimeter_alarm":
            k = (e["device_id"], e["alarm_type"])
            prev = last_alarm.get(k)
            last_alarm[k] = e["event_time"]
            if prev is not None and e["event_time"] - prev <= 10 * S:
                continue  # flapping: the same alarm again
        kept.append(e)

    def of(kind: str, **where: Any) -> list[dict[str, Any]]:
        out = []
        for e in kept:
            if e["kind"] != kind:
                continue
            if all(v(e[f]) if callable(v) else e[f] == v for f, v in where.items()):
                out.append(e)
        return out

    matches: list[tuple[str, str, int, list[str], str]] = []  # rule, key, time, ids, risk

    def sited(e: dict[str, Any], field: str) -> str:
        # a rule keyed by a site-local field is keyed per site as well (the engine's key)
        return f"{e['site_id']}|{e[field]}" if field in SITE_LOCAL else str(e[field])

    def group(items: list[dict[str, Any]], field: str) -> dict[str, list[dict[str, Any]]]:
        g: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for e in items:
            g[sited(e, field)].append(e)
        return g

    swipes = of("access_swipe")
    # perimeter_breach_entry
    alarms = group(
        of(
            "perimeter_alarm",
            alarm_type=lambda v: v in ("INTRUSION", "LINE_CROSSING", "FENCE_CUT", "CLIMB"),
        ),
        "site_id",
    )
    bad = group(
        [e for e in swipes if e["result"] in ("DENIED", "FORCED_OPEN", "TAILGATE")], "site_id"
    )
    for site, al in alarms.items():
        for a in al:
            for b in bad.get(site, []):
                if a["event_time"] <= b["event_time"] <= a["event_time"] + 5 * M:
                    matches.append(
                        (
                            "perimeter_breach_entry",
                            site,
                            b["event_time"],
                            [a["event_id"], b["event_id"]],
                            "HIGH",
                        )
                    )
    # forced_door
    granted_by_door = group([e for e in swipes if e["result"] == "GRANTED"], "door_id")
    for f in (e for e in swipes if e["result"] == "FORCED_OPEN"):
        if not any(
            f["event_time"] - 30 * S <= g["event_time"] <= f["event_time"]
            for g in granted_by_door.get(sited(f, "door_id"), [])
        ):
            matches.append(
                ("forced_door", sited(f, "door_id"), f["event_time"], [f["event_id"]], "HIGH"))
    # thresholds and distinct counts over any span of the window

    def spans(
        rule: str,
        items: dict[str, list[dict[str, Any]]],
        window: int,
        distinct: str | None,
        tiers: list[tuple[int, str]],
    ) -> None:
        for key, es in items.items():
            for end in es:
                inside = [
                    e
                    for e in es
                    if end["event_time"] - window <= e["event_time"] <= end["event_time"]
                ]
                n = len({e[distinct] for e in inside}) if distinct else len(inside)
                risk = None
                for count, level in tiers:
                    if n >= count:
                        risk = level
                if risk:
                    matches.append(
                        (rule, key, end["event_time"], [e["event_id"] for e in inside], risk)
                    )

    spans(
        "credential_brute_force",
        group([e for e in swipes if e["result"] == "DENIED"], "door_id"),
        2 * M,
        None,
        [(5, "MEDIUM")],
    )
    spans(
        "cloned_credential",
        group([e for e in swipes if e["result"] == "GRANTED"], "credential_hash"),
        3 * M,
        "site_id",
        [(2, "HIGH")],
    )
    spans(
        "dispute_hotspot",
        group(of("grid_report", category="DISPUTE"), "building_id"),
        7 * D,
        "report_id",
        [(3, "MEDIUM"), (5, "HIGH")],
    )
    spans(
        "lookup_spike",
        group(of("building_lookup", requester_role="VISITOR"), "building_id"),
        30 * M,
        "requester_hash",
        [(5, "LOW")],
    )
    # watchlist_entry: both in either order
    entries = group([e for e in swipes if e["result"] in ("GRANTED", "TAILGATE")], "site_id")
    for f in of("face_match", similarity=lambda v: v >= 0.90):
        for s in entries.get(f["site_id"], []):
            if abs(s["event_time"] - f["event_time"]) <= 10 * M:
                matches.append(
                    (
                        "watchlist_entry",
                        f["site_id"],
                        max(s["event_time"], f["event_time"]),
                        [f["event_id"], s["event_id"]],
                        "HIGH",
                    )
                )
    for e in swipes:
        if e["result"] == "HELD_OPEN":
            matches.append(
                ("door_held_open", sited(e, "door_id"), e["event_time"], [e["event_id"]], "LOW")
            )
    for e in of("perimeter_alarm", alarm_type="TAMPER"):
        matches.append(
            ("device_tamper", sited(e, "device_id"), e["event_time"], [e["event_id"]], "MEDIUM")
        )

    incidents: list[dict[str, Any]] = []
    open_: dict[tuple[str, str], dict[str, Any]] = {}
    for rule, key, t, ids, risk in sorted(matches, key=lambda m: (m[2], m[0], m[1])):
        inc = open_.get((rule, key))
        if inc is None or t > inc["last"] + WINDOW[rule]:
            inc = {"rule_id": rule, "key": key, "ids": set(), "risk": risk, "last": t}
            open_[(rule, key)] = inc
            incidents.append(inc)
        inc["ids"].update(ids)
        inc["last"] = max(inc["last"], t)
        if RANK[risk] > RANK[inc["risk"]]:
            inc["risk"] = risk
    return incidents
