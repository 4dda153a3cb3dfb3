"""hub simulate: determinism, realism, labels, and an independent rule checker.

The checker below (``oracle``) re-implements the default rules naively and on its own, from the
rule text in issue 3, without the engine or the simulator's code: the background must never satisfy
a rule, and the injected situations must produce exactly one incident each.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from functools import cache
from itertools import pairwise
from typing import Any

import pytest

from hub.codec.interchange import parse_line
from hub.replay.simulate import RULE_IDS, SimConfig, Simulation, simulate

S, M, H, D = 1_000, 60_000, 3_600_000, 86_400_000
PSEUDONYM = re.compile(r"^p1:[0-9a-f]{32}$")


@cache
def sim(seed: int, buildings: int, days: int, inject: bool = True) -> Simulation:
    return simulate(SimConfig(seed=seed, buildings=buildings, days=days, inject=inject))


def events_of(s: Simulation) -> list[dict[str, Any]]:
    return [json.loads(line) for line in s.event_lines]


# -- the independent checker ---------------------------------------------------------------------

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

    def group(items: list[dict[str, Any]], field: str) -> dict[str, list[dict[str, Any]]]:
        g: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for e in items:
            g[e[field]].append(e)
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
            for g in granted_by_door.get(f["door_id"], [])
        ):
            matches.append(("forced_door", f["door_id"], f["event_time"], [f["event_id"]], "HIGH"))
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
                ("door_held_open", e["door_id"], e["event_time"], [e["event_id"]], "LOW")
            )
    for e in of("perimeter_alarm", alarm_type="TAMPER"):
        matches.append(
            ("device_tamper", e["device_id"], e["event_time"], [e["event_id"]], "MEDIUM")
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


def test_oracle_sees_rules_at_their_edges() -> None:
    def swipe(
        eid: str, t: int, result: str, door: str = "d1", site: str = "s1", cred: str = "c"
    ) -> dict[str, Any]:
        return {
            "kind": "access_swipe",
            "event_id": eid,
            "event_time": t,
            "site_id": site,
            "door_id": door,
            "result": result,
            "credential_hash": cred,
        }

    assert oracle([swipe("g", 0, "GRANTED"), swipe("f", 10 * S, "FORCED_OPEN")]) == []
    assert len(oracle([swipe("g", 0, "GRANTED"), swipe("f", 31 * S, "FORCED_OPEN")])) == 1
    four = [swipe(f"x{i}", i * S, "DENIED") for i in range(4)]
    assert oracle(four) == []
    assert oracle([*four, swipe("x5", 2 * M, "DENIED")])[0]["risk"] == "MEDIUM"
    assert oracle([*four, swipe("x5", 2 * M + 4 * S, "DENIED")]) == []
    assert (
        len(oracle([swipe("a", 0, "GRANTED", site="s1"), swipe("b", 3 * M, "GRANTED", site="s2")]))
        == 1
    )


# -- determinism ---------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_output() -> None:
    a = simulate(SimConfig(seed=11, buildings=8, days=2))
    b = simulate(SimConfig(seed=11, buildings=8, days=2))
    assert "\n".join(a.lines()) == "\n".join(b.lines())
    assert a.labels == b.labels
    c = simulate(SimConfig(seed=12, buildings=8, days=2))
    assert c.event_lines != a.event_lines


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="buildings"):
        SimConfig(seed=1, buildings=1, days=1)
    with pytest.raises(ValueError, match="days"):
        SimConfig(seed=1, buildings=5, days=0)


# -- realism -------------------------------------------------------------------------------------


def test_registry_comes_first_and_every_line_meets_the_contract() -> None:
    s = sim(5, 10, 2)
    lines = list(s.lines())
    kinds = [json.loads(line)["kind"] for line in lines]
    n_reg = len(s.registry_lines)
    assert n_reg == 10 and set(kinds[:n_reg]) == {"building_identity"}
    assert "building_identity" not in kinds[n_reg:]
    for n, line in enumerate(lines, start=1):
        _kind, record = parse_line(line, n, pseudonym_key="k")
        original = json.loads(line)
        for name in ("credential_hash", "person_hash", "requester_hash", "reporter_hash"):
            if original.get(name) is not None:  # already pseudonyms: kept as they are
                assert PSEUDONYM.match(original[name]) and record[name] == original[name]
    reg = [json.loads(line) for line in s.registry_lines]
    for field in (
        "building_id",
        "name",
        "address",
        "site_id",
        "grid_id",
        "township_code",
        "district_code",
        "city_code",
        "police_station_id",
        "grid_worker_id",
        "households",
        "rental_units",
        "risk_tags",
        "updated_time",
    ):
        assert all(field in r for r in reg)


def test_grids_hold_about_300_households() -> None:
    reg = [json.loads(line) for line in sim(2, 120, 1).registry_lines]
    per_grid = Counter()
    for r in reg:
        per_grid[r["grid_id"]] += r["households"]
    full = sorted(per_grid.values())[1:]  # the last grid may be a remainder
    assert all(250 <= n <= 560 for n in full), full
    assert 260 <= sum(full) / len(full) <= 420


def test_swipes_follow_a_daily_rhythm_and_noise_is_present() -> None:
    s = sim(3, 30, 7)
    evs = events_of(s)
    start = SimConfig(seed=0, buildings=2, days=1).start_ms
    hours = Counter(
        ((e["event_time"] - start) % D) // H
        for e in evs
        if e["kind"] == "access_swipe" and e["result"] == "GRANTED"
    )
    night = hours[2] + hours[3] + hours[4]
    assert hours[7] > 10 * max(night, 1) and hours[18] > 10 * max(night, 1)
    assert hours[7] > 2 * hours[14] and hours[18] > 2 * hours[14]

    lines = Counter(s.event_lines)
    assert any(n > 1 for n in lines.values()), "exact duplicate retransmissions"
    assert any(e["similarity"] >= 0.90 for e in evs if e["kind"] == "face_match"), "injected"
    background_faces = [e for e in evs if e["kind"] == "face_match" and e["similarity"] < 0.9]
    assert len(background_faces) > 20

    alarms = [e for e in evs if e["kind"] == "perimeter_alarm"]
    by_dev: dict[tuple[str, str], list[int]] = defaultdict(list)
    for a in alarms:
        by_dev[(a["device_id"], a["alarm_type"])].append(a["event_time"])
    flaps = 0
    for times in by_dev.values():
        ts = sorted(times)
        flaps += sum(1 for x, y in pairwise(ts) if y - x <= 10 * S)
    assert flaps > 0, "flapping sensors"
    assert any(a["alarm_type"] == "INTRUSION" for a in alarms), "false intrusion alarms"
    results = Counter(e["result"] for e in evs if e["kind"] == "access_swipe")
    assert results["DENIED"] > 0 and results["FORCED_OPEN"] > 0 and results["TAILGATE"] > 0
    assert results["ANTI_PASSBACK"] > 0
    statuses = {e["report_id"]: e for e in evs if e["kind"] == "grid_report"}
    assert len(statuses) < sum(1 for e in evs if e["kind"] == "grid_report"), "status updates"


def test_arrival_is_out_of_order_only_within_the_allowed_lateness() -> None:
    evs = events_of(sim(3, 30, 7))
    max_seen: dict[bool, int] = {}
    worst = {True: 0, False: 0}
    for e in evs:
        grid = e["kind"] == "grid_report"
        seen = max_seen.get(grid, e["event_time"])
        worst[grid] = max(worst[grid], seen - e["event_time"])
        max_seen[grid] = max(seen, e["event_time"])
    assert 0 < worst[False] < 30 * S
    assert 0 < worst[True] < 24 * H


# -- labels and the rules ------------------------------------------------------------------------


def test_labels_cover_every_rule_and_point_at_real_events() -> None:
    s = sim(4, 40, 9)
    by_id = {e["event_id"]: e for e in events_of(s)}
    assert {lab.rule_id for lab in s.labels} == set(RULE_IDS)
    key_field = {
        "perimeter_breach_entry": "site_id",
        "forced_door": "door_id",
        "credential_brute_force": "door_id",
        "cloned_credential": "credential_hash",
        "watchlist_entry": "site_id",
        "dispute_hotspot": "building_id",
        "lookup_spike": "building_id",
        "door_held_open": "door_id",
        "device_tamper": "device_id",
    }
    for lab in s.labels:
        evs = [by_id[i] for i in lab.event_ids]
        assert lab.first_event_time == min(e["event_time"] for e in evs)
        assert all(e[key_field[lab.rule_id]] == lab.key for e in evs)
        assert lab.risk_level in RANK
    assert [lab.first_event_time for lab in s.labels] == sorted(
        lab.first_event_time for lab in s.labels
    )


@pytest.mark.parametrize(("seed", "buildings", "days"), [(1, 30, 9), (2, 60, 3), (3, 6, 1)])
def test_injected_situations_are_exactly_the_incidents(
    seed: int, buildings: int, days: int
) -> None:
    s = sim(seed, buildings, days)
    found = oracle(events_of(s))
    assert len(found) == len(s.labels), sorted((i["rule_id"], i["key"]) for i in found)
    remaining = list(found)
    for lab in s.labels:
        hits = [
            i
            for i in remaining
            if i["rule_id"] == lab.rule_id and i["key"] == lab.key and i["ids"] & set(lab.event_ids)
        ]
        assert len(hits) == 1, lab
        assert hits[0]["ids"] <= set(lab.event_ids), "background joined a situation"
        assert hits[0]["risk"] == lab.risk_level
        remaining.remove(hits[0])


@pytest.mark.parametrize("seed", [1, 7])
def test_background_alone_never_triggers_a_rule(seed: int) -> None:
    s = sim(seed, 40, 9)
    injected = {i for lab in s.labels for i in lab.event_ids}
    background = [e for e in events_of(s) if e["event_id"] not in injected]
    assert oracle(background) == []
    quiet = sim(seed, 40, 9, inject=False)
    assert quiet.labels == () and oracle(events_of(quiet)) == []
