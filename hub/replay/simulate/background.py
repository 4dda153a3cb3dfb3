"""A day of ordinary life in the city, built never to satisfy a default rule.

Residents come and go, visitors scan QR codes, sensors raise false alarms, grid workers file
reports. Each draw that could complete a rule first asks the indices and exclusion zones
(hub.replay.simulate.constraints) whether it may; that is what makes every incident of a
simulated city an injected one.
"""

from __future__ import annotations

from hub.replay.simulate.city import Building, Site
from hub.replay.simulate.config import (
    DAY_MS,
    DEFAULT_START_MS,
    HOUR_MS,
    INTRUSION_TYPES,
    MINUTE_MS,
    SECOND_MS,
)
from hub.replay.simulate.constraints import Z_BAD, Z_ENTRY, Z_INTRUSION
from hub.replay.simulate.draws import poisson, pseudonym, weighted
from hub.replay.simulate.world import World

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



def background_day(world: World, day_start: int) -> None:
    """One day of every building, site and grid, in a fixed order (the rng decides the rest)."""
    weekend = ((day_start - DEFAULT_START_MS) // DAY_MS) % 7 >= 5
    for b in world.city.buildings:
        _resident_swipes(world, b, day_start, weekend)
        _visitors_and_noise(world, b, day_start)
        _lookups(world, b, day_start)
    for site in world.city.sites:
        _alarms(world, site, day_start)
        _faces(world, site, day_start)
    for grid_id, members in world.city.grids.items():
        _grid_reports(world, grid_id, members, day_start)


def _entry_ok(world: World, b: Building, t: int, cred: str | None) -> bool:
    if world.site_zones.blocks(b.site_id, t, Z_ENTRY):
        return False
    return cred is None or not world.cred_zones.blocks(cred, t)


def _bad_ok(world: World, b: Building, t: int) -> bool:
    """A DENIED/FORCED_OPEN/TAILGATE may go here: no intrusion alarm before it within 6 min."""
    if world.site_zones.blocks(b.site_id, t, Z_BAD):
        return False
    return world.intrusions.count(b.site_id, t - 6 * MINUTE_MS, t + SECOND_MS) == 0


def _resident_swipes(world: World, b: Building, day_start: int, weekend: bool) -> None:
    rng = world.rng
    rand = rng.random
    gauss = rng.gauss
    doors = b.doors
    n_doors = len(doors)
    emit = world.sink.emit
    swipe = world.swipe
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
                if not _entry_ok(world, b, t, cred):
                    continue
                door = doors[0] if n_doors == 1 or rand() < 0.6 else doors[1]
                result = "GRANTED" if rand() >= 0.003 else "ANTI_PASSBACK"
                emit(swipe(b, door, t, cred, method, result, direction))


def _visitors_and_noise(world: World, b: Building, day_start: int) -> None:
    rng = world.rng
    # visitors with one-off QR codes, now and then a tailgater behind them
    for _ in range(poisson(rng, 2.0 + b.households / 40)):
        t = day_start + int((9.0 + rng.random() * 12.0) * HOUR_MS)
        door = b.doors[rng.randrange(len(b.doors))]
        if not _entry_ok(world, b, t, None):
            continue
        cred = pseudonym(rng)
        world.sink.emit(world.swipe(b, door, t, cred, "QR", "GRANTED", "IN"))
        t2 = t + rng.randint(2, 6) * SECOND_MS
        if rng.random() < 0.08 and _entry_ok(world, b, t2, None) and _bad_ok(world, b, t2):
            world.bad.add(b.site_id, t2)
            world.sink.emit(world.swipe(b, door, t2, cred, "QR", "TAILGATE", "IN"))
    for door in b.doors:
        # a resident with an expired card: 1-3 DENIED within 30 s, bursts >= 3 min apart
        if rng.random() < 0.35:
            t = day_start + int((6.0 + rng.random() * 17.0) * HOUR_MS)
            n = rng.randint(1, 3)
            times = [t + i * rng.randint(3, 9) * SECOND_MS for i in range(n)]
            ok = world.denied.count(door[0], t - 3 * MINUTE_MS, times[-1] + 3 * MINUTE_MS) == 0
            if ok and all(_bad_ok(world, b, x) for x in times):
                cred = b.residents[rng.randrange(len(b.residents))]
                method = rng.choice(("CARD", "FACE", "PIN"))
                for x in times:
                    world.denied.add(door[0], x)
                    world.bad.add(b.site_id, x)
                    world.sink.emit(world.swipe(b, door, x, cred, method, "DENIED", "IN"))
        # a door sensor that reports FORCED_OPEN shortly after a legitimate GRANTED
        if rng.random() < 0.06:
            t = day_start + int((7.0 + rng.random() * 15.0) * HOUR_MS)
            t2 = t + rng.randint(5, 15) * SECOND_MS
            i = rng.randrange(len(b.residents))
            cred = b.residents[i]
            if (
                _entry_ok(world, b, t, cred)
                and _entry_ok(world, b, t2, None)
                and _bad_ok(world, b, t2)
            ):
                world.bad.add(b.site_id, t2)
                world.sink.emit(world.swipe(b, door, t, cred, b.methods[i], "GRANTED", "IN"))
                world.sink.emit(world.swipe(b, door, t2, None, "UNKNOWN", "FORCED_OPEN", "IN"))


def _lookups(world: World, b: Building, day_start: int) -> None:
    rng = world.rng
    for _ in range(poisson(rng, 3.0)):
        t = day_start + int((7.0 + rng.random() * 15.0) * HOUR_MS)
        r = rng.random()
        if r < 0.4:
            lo, hi = t - 31 * MINUTE_MS, t + 31 * MINUTE_MS
            if world.lookup_zones.blocks(b.building_id, t):
                continue
            if world.visitor_lookups.count(b.building_id, lo, hi) > 2:
                continue
            world.visitor_lookups.add(b.building_id, t)
            world.sink.emit(world.lookup(b, t, pseudonym(rng), "VISITOR", "QR_SCAN"))
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
            requester = world.city.staff[rng.randrange(len(world.city.staff))]
        channel = "QR_SCAN" if role == "RESIDENT" else "API" if role == "SYSTEM" else "APP"
        world.sink.emit(world.lookup(b, t, requester, role, channel))


def _alarms(world: World, site: Site, day_start: int) -> None:
    rng = world.rng
    for _ in range(poisson(rng, 1.0 + 0.6 * len(site.zones))):
        # mostly at night: wind, animals, headlights
        hour = (20.0 + rng.random() * 10.0) % 24 if rng.random() < 0.6 else rng.random() * 24
        t = day_start + int(hour * HOUR_MS)
        zone = site.zones[rng.randrange(len(site.zones))]
        device = zone[2][rng.randrange(len(zone[2]))]
        alarm_type = weighted(rng, _FALSE_ALARM_TYPES)
        times = [t]
        if rng.random() < 0.15:  # a flapping sensor: repeats 2-9 s apart
            for _ in range(rng.randint(1, 4)):
                times.append(times[-1] + rng.randint(2, 9) * SECOND_MS)
        if alarm_type in INTRUSION_TYPES and not all(
            not world.site_zones.blocks(site.site_id, x, Z_INTRUSION)
            and world.bad.count(site.site_id, x - SECOND_MS, x + 6 * MINUTE_MS) == 0
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
                world.intrusions.add(site.site_id, x)
            world.sink.emit(world.alarm(site, zone, device, x, alarm_type, severity))


def _faces(world: World, site: Site, day_start: int) -> None:
    rng = world.rng
    for _ in range(poisson(rng, 1.5 + len(site.buildings) / 2)):
        t = day_start + int(rng.random() * DAY_MS)
        camera = site.cameras[rng.randrange(len(site.cameras))]
        similarity = round(0.55 + rng.random() * 0.339, 3)  # never >= 0.90
        world.sink.emit(world.face(site, camera, t, pseudonym(rng), similarity))


def _grid_reports(world: World, grid_id: str, members: list[Building], day_start: int) -> None:
    rng = world.rng
    for _ in range(poisson(rng, 1.5)):
        t = day_start + int((8.0 + rng.random() * 10.0) * HOUR_MS)
        category = weighted(rng, _CATEGORY_WEIGHTS)
        b: Building | None = members[rng.randrange(len(members))]
        if category != "DISPUTE" and rng.random() < 0.2:
            b = None
        site_id = b.site_id if b else members[0].site_id
        chain = world.report_chain(grid_id, b, site_id, t, category)
        if category == "DISPUTE" and b is not None:
            lo, hi = chain[0]["event_time"], chain[-1]["event_time"]
            if world.dispute_zones.overlaps(b.building_id, lo, hi):
                continue
            spans = world.disputes.setdefault(b.building_id, [])
            near = sum(
                1
                for s, e in spans
                if s <= hi + 7 * DAY_MS + HOUR_MS and lo <= e + 7 * DAY_MS + HOUR_MS
            )
            if near > 1:
                continue
            spans.append((lo, hi))
        for event in chain:
            world.sink.emit(event)


def closing_report(world: World, day_start: int) -> None:
    """Without background, one report on the last day: the analytics see time pass."""
    grid_id = sorted(world.city.grids)[0]
    b = world.city.grids[grid_id][0]
    t = day_start + 9 * HOUR_MS
    for event in world.report_chain(grid_id, b, b.site_id, t, "OTHER", updates=False):
        world.sink.emit(event)
