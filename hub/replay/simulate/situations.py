"""The injected situations: one planted event pattern per default rule, with its label.

Each situation gets a site and time no other situation uses (:func:`_slot`) and exclusion zones
that keep the background from joining or spoiling it, so `hub evaluate` can expect exactly one
incident per label.
"""

from __future__ import annotations

from typing import Any

from hub.core.lanes import key_for
from hub.replay.simulate.city import Building, Site
from hub.replay.simulate.config import (
    DAY_MS,
    HOUR_MS,
    INTRUSION_TYPES,
    MINUTE_MS,
    RULE_IDS,
    SECOND_MS,
)
from hub.replay.simulate.constraints import Z_BAD, Z_ENTRY, Z_INTRUSION
from hub.replay.simulate.draws import pseudonym
from hub.replay.simulate.labels import Label
from hub.replay.simulate.world import World

_RESERVE_MARGIN_MS = 45 * MINUTE_MS
_DISPUTE_MARGIN_MS = 8 * DAY_MS



def plan_situations(world: World) -> None:
    """``per_rule`` rounds of one situation per rule, in RULE_IDS order; each fills the labels."""
    planners = {
        "perimeter_breach_entry": _inject_breach,
        "forced_door": _inject_forced,
        "credential_brute_force": _inject_brute,
        "cloned_credential": _inject_cloned,
        "watchlist_entry": _inject_watchlist,
        "dispute_hotspot": _inject_dispute,
        "lookup_spike": _inject_lookups,
        "door_held_open": _inject_held,
        "device_tamper": _inject_tamper,
    }
    for i in range(world.cfg.per_rule):
        for rule_id in RULE_IDS:
            planners[rule_id](world, i)


def _slot(world: World, span_ms: int, n_sites: int = 1,
          night: bool = False) -> tuple[list[Site], int]:
    """Sites and an anchor time no other situation uses within 45 min (deterministic)."""
    rng = world.rng
    sites = world.city.sites
    lo = world.start + HOUR_MS
    hi = world.end - HOUR_MS - span_ms
    for _ in range(10_000):
        chosen = (
            rng.sample(sites, n_sites) if n_sites > 1 else [sites[rng.randrange(len(sites))]]
        )
        if night:
            day = rng.randrange(world.cfg.days)
            t = world.start + day * DAY_MS + int((22.0 + rng.random() * 7.0) * HOUR_MS)
        else:
            t = lo + int(rng.random() * max(1, hi - lo))
        t = min(max(t, lo), hi)
        a, z = t - _RESERVE_MARGIN_MS, t + span_ms + _RESERVE_MARGIN_MS
        if any(world.reserved.overlaps(s.site_id, a, z) for s in chosen):
            continue
        for s in chosen:
            world.reserved.add(s.site_id, t, t + span_ms)
        return chosen, t
    raise ValueError(
        "the city is too small for this many situations; use more buildings or days"
    )


def _add(world: World, rule_id: str, key: str, events: list[dict[str, Any]], risk: str) -> None:
    for e in events:
        day = (e["event_time"] - world.start) // DAY_MS
        world.injected.setdefault(day, []).append(e)
    world.labels.append(
        Label(
            rule_id,
            key,
            tuple(e["event_id"] for e in events),
            risk,
            min(e["event_time"] for e in events),
        )
    )


def _sited(event: dict[str, Any], field: str) -> str:
    """The incident key of a rule keyed by a site-local field: the engine keys such a rule by
    site as well (hub.core.rule_loading), so a label names the key its incident carries."""
    key = key_for(("site_id", field), event, None)
    if key is None:
        raise ValueError(f"a planted {event['kind']} event lacks site_id or {field}")
    return key


def _pick_door(world: World, site: Site) -> tuple[Building, tuple[str, str]]:
    b = site.buildings[world.rng.randrange(len(site.buildings))]
    return b, b.doors[world.rng.randrange(len(b.doors))]


def _inject_breach(world: World, i: int) -> None:
    rng = world.rng
    (site,), t = _slot(world, 5 * MINUTE_MS, night=True)
    zone = site.zones[rng.randrange(len(site.zones))]
    alarm = world.alarm(site, zone, zone[2][0], t, INTRUSION_TYPES[i % 4], rng.randint(3, 5))
    b, door = _pick_door(world, site)
    t2 = t + rng.randint(30, 240) * SECOND_MS
    result = "DENIED" if i % 2 == 0 else "TAILGATE"
    cred = pseudonym(rng) if result == "DENIED" else b.residents[0]
    events = [alarm, world.swipe(b, door, t2, cred, "CARD", result, "IN")]
    if rng.random() < 0.3:  # a second attempt joins the same incident
        events.append(world.swipe(b, door, t2 + 20 * SECOND_MS, cred, "CARD", result, "IN"))
    world.site_zones.add(
        site.site_id, t - 20 * MINUTE_MS, t + 25 * MINUTE_MS, Z_INTRUSION | Z_BAD | Z_ENTRY
    )
    _add(world, "perimeter_breach_entry", site.site_id, events, "HIGH")


def _inject_forced(world: World, i: int) -> None:
    (site,), t = _slot(world, MINUTE_MS)
    b, door = _pick_door(world, site)
    event = world.swipe(b, door, t, None, "UNKNOWN", "FORCED_OPEN", "IN")
    world.site_zones.add(site.site_id, t - 3 * MINUTE_MS, t + MINUTE_MS, Z_ENTRY)
    world.site_zones.add(site.site_id, t - 20 * MINUTE_MS, t + 20 * MINUTE_MS, Z_INTRUSION)
    _add(world, "forced_door", _sited(event, "door_id"), [event], "HIGH")


def _inject_brute(world: World, i: int) -> None:
    rng = world.rng
    (site,), t = _slot(world, 2 * MINUTE_MS)
    b, door = _pick_door(world, site)
    cred = pseudonym(rng)
    method = rng.choice(("CARD", "PIN"))
    events = [
        world.swipe(
            b, door, t + k * rng.randint(8, 15) * SECOND_MS, cred, method, "DENIED", "IN"
        )
        for k in range(5 + i % 3)
    ]
    world.site_zones.add(site.site_id, t - 10 * MINUTE_MS, t + 15 * MINUTE_MS, Z_BAD)
    world.site_zones.add(site.site_id, t - 20 * MINUTE_MS, t + 20 * MINUTE_MS, Z_INTRUSION)
    _add(world, "credential_brute_force", _sited(events[0], "door_id"), events, "MEDIUM")


def _inject_cloned(world: World, i: int) -> None:
    rng = world.rng
    (home, away), t = _slot(world, 3 * MINUTE_MS, n_sites=2)
    hb, hdoor = _pick_door(world, home)
    k = rng.randrange(len(hb.residents))
    cred = hb.residents[k]
    ab, adoor = _pick_door(world, away)
    t2 = t + rng.randint(40, 150) * SECOND_MS
    events = [
        world.swipe(hb, hdoor, t, cred, hb.methods[k], "GRANTED", "OUT"),
        world.swipe(ab, adoor, t2, cred, "CARD", "GRANTED", "IN"),
    ]
    world.cred_zones.add(cred, t - 30 * MINUTE_MS, t2 + 30 * MINUTE_MS)
    _add(world, "cloned_credential", cred, events, "HIGH")


def _inject_watchlist(world: World, i: int) -> None:
    rng = world.rng
    (site,), t = _slot(world, 10 * MINUTE_MS)
    camera = site.cameras[rng.randrange(len(site.cameras))]
    b, door = _pick_door(world, site)
    t_face, t_swipe = t, t + rng.randint(30, 300) * SECOND_MS
    if i % 2:
        t_face, t_swipe = t_swipe, t_face  # either order
    face = world.face(
        site, camera, t_face, pseudonym(rng), round(0.91 + rng.random() * 0.08, 3)
    )
    if i % 3 == 2:
        swipe = world.swipe(b, door, t_swipe, b.residents[-1], "FACE", "TAILGATE", "IN")
    else:
        k = rng.randrange(len(b.residents))
        swipe = world.swipe(b, door, t_swipe, b.residents[k], b.methods[k], "GRANTED", "IN")
    world.site_zones.add(
        site.site_id, t - 25 * MINUTE_MS, t + 30 * MINUTE_MS, Z_ENTRY | Z_INTRUSION | Z_BAD
    )
    _add(world, "watchlist_entry", site.site_id, [face, swipe], "HIGH")


def _inject_dispute(world: World, i: int) -> None:
    rng = world.rng
    n = 3 if i % 2 == 0 else 5
    span = min(3 * DAY_MS, (world.end - world.start) // 2)
    buildings = world.city.buildings
    for _ in range(10_000):
        b = buildings[rng.randrange(len(buildings))]
        t = (
            world.start
            + HOUR_MS
            + int(rng.random() * max(1, world.end - world.start - span - 3 * HOUR_MS))
        )
        if not world.reserved_buildings.overlaps(
            b.building_id, t - _DISPUTE_MARGIN_MS, t + span + _DISPUTE_MARGIN_MS
        ):
            break
    else:
        raise ValueError("no building is free for another dispute_hotspot situation")
    world.reserved_buildings.add(b.building_id, t, t + span)
    events: list[dict[str, Any]] = []
    for k in range(n):
        tk = t + k * (span // n)
        chain = world.report_chain(b.grid_id, b, b.site_id, tk, "DISPUTE", updates=False)
        if k % 2 == 0:  # a status update: the same report, counted once
            update = dict(
                chain[0],
                event_id=world.sink.new_id("gr"),
                status="ACCEPTED",
                event_time=tk + rng.randint(10, 50) * MINUTE_MS,
            )
            chain.append(update)
        events.extend(chain)
    last = max(e["event_time"] for e in events)
    world.dispute_zones.add(b.building_id, t - _DISPUTE_MARGIN_MS, last + _DISPUTE_MARGIN_MS)
    risk = "MEDIUM" if n < 5 else "HIGH"
    _add(world, "dispute_hotspot", _sited(events[0], "building_id"), events, risk)


def _inject_lookups(world: World, i: int) -> None:
    rng = world.rng
    (site,), t = _slot(world, 25 * MINUTE_MS)
    b = site.buildings[rng.randrange(len(site.buildings))]
    events = []
    tk = t
    for _ in range(5 + i % 3):
        events.append(world.lookup(b, tk, pseudonym(rng), "VISITOR", "QR_SCAN"))
        tk += rng.randint(60, 240) * SECOND_MS
    world.lookup_zones.add(b.building_id, t - 40 * MINUTE_MS, tk + 40 * MINUTE_MS)
    _add(world, "lookup_spike", _sited(events[0], "building_id"), events, "LOW")


def _inject_held(world: World, i: int) -> None:
    (site,), t = _slot(world, MINUTE_MS)
    b, door = _pick_door(world, site)
    event = world.swipe(b, door, t, None, "UNKNOWN", "HELD_OPEN", "UNKNOWN")
    _add(world, "door_held_open", _sited(event, "door_id"), [event], "LOW")


def _inject_tamper(world: World, i: int) -> None:
    rng = world.rng
    (site,), t = _slot(world, MINUTE_MS, night=i % 2 == 1)
    zone = site.zones[rng.randrange(len(site.zones))]
    device = zone[2][-1]
    events = [world.alarm(site, zone, device, t, "TAMPER", 3)]
    if i % 2 == 0:  # the sensor flaps: the repeat is suppressed, the incident stays one
        events.append(world.alarm(site, zone, device, t + 4 * SECOND_MS, "TAMPER", 3))
    _add(world, "device_tamper", _sited(events[0], "device_id"), events, "MEDIUM")
