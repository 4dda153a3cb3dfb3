"""Event time, honestly: watermarks, allowed lateness, LATE, absences, idle sources, and a
property test that arrival order within the allowed lateness never changes the incidents."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.core.engine import CorrelationEngine
from hub.core.rules import RulePack, SourcePolicy
from hub.core.watermark import MAX_TICK_GAP_MS
from hub.model.events import SOURCE_KINDS, Event
from hub.model.incidents import Incident
from tests.unit.core.helpers import (
    T0,
    alarm,
    building,
    default_pack,
    engine_for,
    face,
    feed,
    fingerprint,
    ids,
    lookup,
    of_rule,
    pack_of,
    report,
    swipe,
)

SEC = 1_000
MIN = 60_000
W = 1_800_000_000_000  # a wall clock reading, unrelated to event time on purpose

NO_GRANT_AFTER: dict[str, Any] = {
    "id": "forced_no_grant_after",
    "type": "absence",
    "title": "强行开门后无人刷卡 Forced open and nobody granted in the 30 s after",
    "by": ["door_id"],
    "within": "30s",
    "risk_level": "HIGH",
    "direction": "after",
    "event": {"kind": "access_swipe", "where": {"result": "FORCED_OPEN"}},
    "absent": {"kind": "access_swipe", "where": {"result": "GRANTED"}},
}
NO_GRANT_AROUND = {**NO_GRANT_AFTER, "id": "forced_no_grant_around", "direction": "both"}
#: more shapes for the property test: three steps, a registry-joined key with tiers, overlap
THREE_STEPS: dict[str, Any] = {
    "id": "alarm_denied_granted",
    "type": "sequence",
    "title": "t",
    "by": ["site_id"],
    "within": "2m",
    "risk_level": "CRITICAL",
    "steps": [
        {"kind": "perimeter_alarm", "where": {"alarm_type": {"ne": "TAMPER"}}},
        {"kind": "access_swipe", "where": {"result": "DENIED"}},
        {"kind": "access_swipe", "where": {"result": {"in": ["GRANTED", "TAILGATE"]}}},
    ],
}
GRID_TIERS: dict[str, Any] = {
    "id": "grid_activity",
    "type": "threshold",
    "title": "t",
    "by": ["grid_id"],
    "within": "90s",
    "match": {"kind": "access_swipe", "where": {"result": {"not_in": ["GRANTED"]}}},
    "tiers": [{"count": 2, "risk_level": "LOW"}, {"count": 4, "risk_level": "HIGH"}],
}
OVERLAP_ALL: dict[str, Any] = {
    "id": "two_tries",
    "type": "all",
    "title": "t",
    "by": ["door_id"],
    "within": "45s",
    "risk_level": "MEDIUM",
    "steps": [
        {"kind": "access_swipe", "where": {"result": {"in": ["DENIED", "GRANTED"]}}},
        {"kind": "access_swipe", "where": {"result": "DENIED"}},
    ],
}


# -- LATE ---------------------------------------------------------------------------------------


def test_event_later_than_lateness_is_late_counted_and_not_processed() -> None:
    engine = engine_for(default_pack(), building())
    assert engine.process(swipe("s1", 100 * SEC, "DENIED")).late == []
    ok = engine.process(swipe("h0", 70 * SEC, "HELD_OPEN"))  # exactly the lateness: accepted
    assert ok.late == []
    step = engine.process(swipe("h1", 70 * SEC - 1, "HELD_OPEN"))  # 1 ms more: LATE
    (late,) = step.late
    assert late.event.event_id == "h1" and late.rules == () and late.watermark == T0 + 70 * SEC
    assert step.incidents == [] and engine.stats.late == 1
    out = engine.flush().incidents
    assert [ids(i) for i in of_rule(out, "door_held_open")] == [["h0"]]  # h1 never counted


def test_lateness_is_per_source() -> None:
    engine = engine_for(default_pack(), building())
    engine.process(swipe("s1", 10 * MIN))
    # a grid report hours older than the newest swipe is fine: its own source decides
    assert engine.process(report("r1", -5 * 3_600_000, "R1")).late == []
    engine.process(report("r2", 0, "R2"))
    assert len(engine.process(report("r3", -24 * 3_600_000 - 1, "R3")).late) == 1
    assert engine.stats.late == 1


def test_configured_lateness_is_used() -> None:
    pack = pack_of(
        {
            "id": "held",
            "type": "single",
            "title": "t",
            "by": "door_id",
            "within": "1m",
            "risk_level": "LOW",
            "match": {"kind": "access_swipe", "where": {"result": "HELD_OPEN"}},
        },
        lateness=5_000,
    )
    engine = engine_for(pack)
    engine.process(swipe("a", 10 * SEC))
    assert engine.process(swipe("b", 5 * SEC, "HELD_OPEN")).late == []
    assert len(engine.process(swipe("c", 5 * SEC - 1, "HELD_OPEN")).late) == 1


# -- absence in the 'after' direction -------------------------------------------------------------


def after_engine(rule: dict[str, Any] = NO_GRANT_AFTER, lateness: int = 30_000) -> Any:
    return engine_for(pack_of(rule, lateness=lateness), building())


def test_absence_after_fires_only_once_the_watermark_proves_it() -> None:
    engine = after_engine()
    assert engine.process(swipe("f1", 0, "FORCED_OPEN")).incidents == []
    # watermark = 60 s - 30 s = 30 s: a GRANTED at exactly 30 s could still come, no proof yet
    assert engine.process(swipe("x1", 60 * SEC, "DENIED")).incidents == []
    # watermark 30 s + 1 ms: nothing at or before 30 s can arrive any more
    (inc,) = engine.process(swipe("x2", 60 * SEC + 1, "DENIED")).incidents
    assert ids(inc) == ["f1"] and inc.risk_level == "HIGH"
    assert inc.emitted_time == inc.first_event_time + 30 * SEC
    assert engine.flush().incidents == []


def test_absence_after_fires_at_flush_offline() -> None:
    engine = after_engine()
    assert engine.process(swipe("f1", 0, "FORCED_OPEN")).incidents == []
    (inc,) = engine.flush().incidents
    assert ids(inc) == ["f1"]


def test_absence_after_window_edge() -> None:
    at_edge = [swipe("f1", 0, "FORCED_OPEN"), swipe("g1", 30 * SEC, "GRANTED")]
    assert feed(after_engine(), at_edge) == []
    past = [swipe("f1", 0, "FORCED_OPEN"), swipe("g1", 30 * SEC + 1, "GRANTED")]
    assert [ids(i) for i in feed(after_engine(), past)] == [["f1"]]


def test_absence_after_grant_arriving_late_but_within_lateness_cancels() -> None:
    events = [
        swipe("f1", 0, "FORCED_OPEN"),
        swipe("x1", 59 * SEC, "DENIED"),  # watermark 29 s
        swipe("g1", 29 * SEC, "GRANTED"),  # arrives after, but within the lateness
        swipe("x2", 5 * MIN, "DENIED"),
    ]
    assert feed(after_engine(), events) == []


def test_absence_both_directions() -> None:
    rule = NO_GRANT_AROUND
    assert feed(after_engine(rule), [swipe("g0", 0), swipe("f1", 30 * SEC, "FORCED_OPEN")]) == []
    assert feed(after_engine(rule), [swipe("f1", 0, "FORCED_OPEN"), swipe("g0", 30 * SEC)]) == []
    lone = [swipe("g0", 0), swipe("f1", 30 * SEC + 1, "FORCED_OPEN"), swipe("g1", 61 * SEC + 1)]
    assert [ids(i) for i in feed(after_engine(rule), lone)] == [["f1"]]


def test_absence_after_incident_grouping_does_not_depend_on_watermark_progress() -> None:
    """Two unanswered forced doors 20 s apart are one incident (within 30 s of the last evidence),
    whether the watermark passes the first deadline before the second or not."""
    events = [
        swipe("f1", 0, "FORCED_OPEN"),
        swipe("f2", 20 * SEC, "FORCED_OPEN"),
        swipe("x1", 31 * SEC + 30 * SEC, "DENIED"),  # watermark 31 s: f1's absence is proven
        swipe("x2", 10 * MIN, "DENIED"),
    ]
    gradual = feed(after_engine(), events)
    at_once = feed(after_engine(lateness=3_600_000), events)  # everything released at flush
    assert fingerprint(gradual) == fingerprint(at_once)
    assert [(i.version, ids(i)) for i in at_once] == [(1, ["f1"]), (2, ["f1", "f2"])]


# -- idle sources: the one place wall time enters -------------------------------------------------


def quiet_for(engine: CorrelationEngine, ms: int, start: int = W) -> list[Incident]:
    """Tick the wall clock from ``start`` for ``ms`` (steps of 1 s, the last one exact)."""
    out = engine.tick(start).incidents
    t = start
    while t < start + ms:
        t = min(t + SEC, start + ms)
        out.extend(engine.tick(t).incidents)
    return out


def test_idle_source_advances_its_watermark_by_quiet_wall_time() -> None:
    # lateness 30 s, idle 10 s: a lone event at t is released once watermark + quiet > t
    for quiet, released in ((30 * SEC, False), (30 * SEC + 1, True)):
        engine = engine_for(default_pack(), building())
        assert engine.process(swipe("h1", 0, "HELD_OPEN")).incidents == []
        out = quiet_for(engine, quiet)
        assert [ids(i) for i in of_rule(out, "door_held_open")] == ([["h1"]] if released else [])
        assert len(engine.flush().incidents) == (0 if released else 1)


def test_idle_needs_the_idle_time_even_when_lateness_is_shorter() -> None:
    pack = pack_of(
        {
            "id": "held",
            "type": "single",
            "title": "t",
            "by": "door_id",
            "within": "1m",
            "risk_level": "LOW",
            "match": {"kind": "access_swipe", "where": {"result": "HELD_OPEN"}},
        },
        lateness=2_000,
        idle=10_000,
    )
    engine = engine_for(pack)
    engine.process(swipe("h1", 0, "HELD_OPEN"))
    assert quiet_for(engine, 9_999) == []  # watermark + quiet would pass, but not idle yet
    (inc,) = engine.tick(W + 10_000).incidents
    assert ids(inc) == ["h1"]


def test_without_ticks_nothing_is_released_before_flush() -> None:
    engine = engine_for(default_pack(), building())
    assert engine.process(swipe("h1", 0, "HELD_OPEN")).incidents == []
    assert engine.tick(W).incidents == []  # the first tick only starts the clock
    assert len(engine.flush().incidents) == 1


def test_a_paused_consumer_is_not_an_idle_source() -> None:
    engine = engine_for(default_pack(), building())
    engine.process(swipe("h1", 0, "HELD_OPEN"))
    engine.tick(W)
    # one hour between two ticks (rebalance, outage) counts as at most MAX_TICK_GAP_MS of quiet
    assert engine.tick(W + 3_600_000).incidents == []
    assert engine.clocks["access_swipe"].origins[""].quiet_ms == MAX_TICK_GAP_MS


def test_an_event_resets_quiet_time() -> None:
    engine = engine_for(default_pack(), building())
    engine.process(swipe("h1", 0, "HELD_OPEN"))
    assert quiet_for(engine, 25 * SEC) == []
    engine.process(swipe("x1", 0, "DENIED"))  # the source speaks again: not idle
    assert quiet_for(engine, 9 * SEC, start=W + 25 * SEC) == []
    assert len(quiet_for(engine, 31 * SEC, start=W + 34 * SEC)) == 1


def test_quiet_other_source_stops_holding_a_two_source_rule_back() -> None:
    def run_online(ticks: bool) -> tuple[list[Incident], CorrelationEngine]:
        engine = engine_for(default_pack(), building())
        out = engine.process(alarm("a1", 0)).incidents
        if ticks:
            out += engine.tick(W).incidents
        for s in range(1, 121):  # swipes keep coming every second; the fence stays quiet
            result = "DENIED" if s == 1 else "GRANTED"
            out += engine.process(swipe(f"x{s}", s * SEC, result)).incidents
            if ticks:
                out += engine.tick(W + s * SEC).incidents
        return of_rule(out, "perimeter_breach_entry"), engine

    online, _ = run_online(ticks=True)
    assert len(online) == 1 and ids(online[0]) == ["a1", "x1"]  # emitted without any flush
    held, engine = run_online(ticks=False)
    assert held == []  # the silent alarm source holds the rule back forever...
    assert len(of_rule(engine.flush().incidents, "perimeter_breach_entry")) == 1  # ...until flush


def test_never_seen_source_stops_holding_back_once_idle() -> None:
    rule = {
        "id": "entry_without_face",
        "type": "absence",
        "title": "t",
        "by": "door_id",
        "within": "30s",
        "risk_level": "LOW",
        "event": {"kind": "access_swipe", "where": {"result": "GRANTED"}},
        "absent": {"kind": "face_match"},
    }
    engine = engine_for(pack_of(rule, lateness=1_000))
    assert engine.process(swipe("g1", 0)).incidents == []
    assert quiet_for(engine, 9_999) == []
    assert len(engine.tick(W + 10_000).incidents) == 1


def test_event_behind_a_rule_moved_on_by_idleness_is_late_for_that_rule() -> None:
    engine = engine_for(default_pack(), building())
    engine.process(alarm("a1", 0))
    engine.process(swipe("s1", SEC, "DENIED"))
    assert quiet_for(engine, 31 * SEC) == []
    (inc,) = engine.tick(W + 31 * SEC + 1).incidents
    assert inc.rule_id == "perimeter_breach_entry"
    # within the swipe source's lateness, but the rule has already moved past it by wall time:
    # LATE for that rule, reported and counted, never silently dropped
    step = engine.process(swipe("s2", 500, "DENIED"))
    (late,) = step.late
    assert "perimeter_breach_entry" in late.rules and late.event.event_id == "s2"
    assert engine.stats.late == 1


# -- dormant lone events (rules that need two events of a key) -----------------------------------


def test_a_lone_event_released_long_ago_still_joins_a_late_partner_in_order() -> None:
    # cloned_credential needs two sites: c9's first swipe waits dormant, unreleased; the watermark
    # passes it; its partner arrives late (within lateness) with an earlier site of its own
    engine = engine_for(default_pack(), building())
    out = feed(engine, [
        swipe("g1", 10 * SEC, "GRANTED", cred="c9", site="S1", door="D1"),
        *(swipe(f"x{i}", (11 + i) * SEC, "GRANTED", cred=f"o{i}", site="S1") for i in range(40)),
        swipe("g2", 25 * SEC, "GRANTED", cred="c9", site="S2", door="D7"),
    ], flush=False)
    out += engine.process(swipe("x99", 120 * SEC, "GRANTED", cred="o99", site="S1")).incidents
    (inc,) = of_rule(out, "cloned_credential")
    assert ids(inc) == ["g1", "g2"] and inc.key == "c9" and inc.version == 1
    assert engine.stats.late == 0


def test_a_dormant_lone_event_is_forgotten_once_no_partner_can_join_it() -> None:
    engine = engine_for(default_pack(), building())
    engine.process(swipe("g1", 0, "GRANTED", cred="c9", site="S1"))
    cloned = next(rr for rr in engine.rules if rr.rule.id == "cloned_credential")
    assert "c9" in cloned.lone and "c9" not in cloned.states  # dormant: no state of its own
    assert engine.state_size() >= 1 and engine.pending_events() >= 1
    for i in range(1, 40):  # other credentials, one a minute: c9's window and hold pass
        engine.process(swipe(f"x{i}", i * 60 * SEC, "GRANTED", cred=f"o{i}", site="S1"))
    assert "c9" not in cloned.lone and "c9" not in cloned.states
    # and a partner after that is a new, lone event: no incident
    out = feed(engine, [swipe("g2", 40 * 60 * SEC, "GRANTED", cred="c9", site="S2")])
    assert of_rule(out, "cloned_credential") == []


def test_a_dormant_lone_event_wakes_once_with_its_partner_and_a_repeat_is_not_a_partner() -> None:
    engine = engine_for(default_pack(), building())
    cloned = next(rr for rr in engine.rules if rr.rule.id == "cloned_credential")
    first = swipe("g1", 10 * SEC, "GRANTED", cred="c9", site="S1", door="D1")
    engine.process(first)
    engine.dedup = None  # the same event again must be told apart by the dormant key itself
    engine.process(first)
    assert "c9" in cloned.lone and "c9" not in cloned.states
    engine.process(swipe("g2", 12 * SEC, "GRANTED", cred="c9", site="S2", door="D7"))
    assert "c9" not in cloned.lone
    assert sorted(e.event_id for _, e in cloned.states["c9"].pending.values()) == ["g1", "g2"]
    (inc,) = of_rule(engine.flush().incidents, "cloned_credential")
    assert ids(inc) == ["g1", "g2"] and inc.version == 1
    assert engine.state_size() == 0 and not cloned.lone


# -- property: arrival order within the lateness never changes the answer ----------------------

SITES = ("S1", "S2")


def _event(i: int, kind: str, t: int, a: int, b: int, c: int) -> Event:
    eid = f"e{i}"
    site = SITES[a % 2]
    if kind == "perimeter_alarm":
        return alarm(
            eid, t, ("INTRUSION", "TAMPER", "CLIMB")[b % 3], site=site, device_id=f"pa{c % 2}"
        )
    if kind == "access_swipe":
        result = ("GRANTED", "DENIED", "FORCED_OPEN", "TAILGATE", "HELD_OPEN", "DENIED")[b % 6]
        return swipe(
            eid,
            t,
            result,
            door=f"D{c % 2}",
            cred=f"c{(a // 2) % 2}",
            site=site,
            building_id=f"B{(a + c) % 3}",
        )  # B2 is not in the registry
    if kind == "face_match":
        return face(eid, t, similarity=(0.85, 0.9, 0.97)[b % 3], site=site)
    if kind == "building_lookup":
        return lookup(
            eid,
            t,
            f"v{b % 7}",
            role=("VISITOR", "VISITOR", "RESIDENT")[c % 3],
            building_id=f"B{a % 2}",
        )
    return report(
        eid,
        t * 600,
        f"R{b % 7}",
        category=("DISPUTE", "DISPUTE", "HAZARD")[c % 3],
        building_id=f"B{a % 2}",
    )


event_specs = st.lists(
    st.tuples(
        st.sampled_from(SOURCE_KINDS),
        st.integers(0, 12).map(lambda s: s * SEC),  # gap to the previous spec: bursts and ties
        st.integers(0, 5),
        st.integers(0, 5),
        st.integers(0, 5),
        st.booleans(),  # also deliver a duplicate copy
    ),
    min_size=15,
    max_size=80,
)


def _pack_with_lateness(lateness: dict[str, int] | None) -> RulePack:
    base = default_pack()
    extra = pack_of(NO_GRANT_AFTER, NO_GRANT_AROUND, THREE_STEPS, GRID_TIERS, OVERLAP_ALL)
    sources = dict(base.sources)
    if lateness is not None:
        sources = {k: SourcePolicy(lateness.get(k, 10**12), 10_000) for k in SOURCE_KINDS}
    return RulePack(base.rules + extra.rules, base.suppressions, sources)


PACK = _pack_with_lateness(None)
BATCH = _pack_with_lateness({})  # everything is held back to the end
REGISTRY = (building("B0", site="S1", grid="G1"), building("B1", site="S2", grid="G2"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=event_specs, data=st.data())
def test_arrival_order_within_lateness_never_changes_incidents(
    specs: list[tuple[str, int, int, int, int, bool]], data: st.DataObject
) -> None:
    events: list[Event] = []
    t = 0
    for i, (kind, gap, a, b, c, dup) in enumerate(specs):
        t += gap
        e = _event(i, kind, t, a, b, c)
        events.append(e)
        if dup:
            events.append(e)
    in_order = sorted(events, key=lambda e: e.order_key)

    # each copy arrives at (event time + jitter), jitter in [0, lateness of its source): an event
    # never arrives after an event of its source more than `lateness` newer; sources interleave
    jitters = data.draw(
        st.lists(st.floats(0, 1, exclude_max=True), min_size=len(events), max_size=len(events))
    )
    tie = data.draw(st.permutations(range(len(events))))
    shuffled = [
        e
        for _, _, e in sorted(
            (
                (e.event_time + int(j * PACK.policy(e.kind).lateness), tie[n], e)
                for n, (e, j) in enumerate(zip(events, jitters, strict=True))
            ),
            key=lambda x: (x[0], x[1]),
        )
    ]

    e_ordered = engine_for(PACK, *REGISTRY)
    e_shuffled = engine_for(PACK, *REGISTRY)
    e_batch = engine_for(BATCH, *REGISTRY)
    ordered = feed(e_ordered, in_order)
    arrived = feed(e_shuffled, shuffled)
    batch = feed(e_batch, shuffled)

    assert e_shuffled.stats.late == 0  # the shuffle respects the allowed lateness
    assert fingerprint(arrived) == fingerprint(ordered)
    assert fingerprint(batch) == fingerprint(ordered)  # nor does watermark progress matter
    assert e_shuffled.stats.duplicates == e_ordered.stats.duplicates == len(events) - len(specs)
    assert e_shuffled.stats.suppressed == e_ordered.stats.suppressed
