"""The default rule pack (topology/rules): each rule positive and negative, at and past its edges.

Window edges are inclusive: two events exactly ``within`` apart share a window, one millisecond
more and they do not.
"""

from __future__ import annotations

import pytest

from hub.core.engine import CorrelationEngine
from hub.core.registry import MemoryBuildingRegistry
from hub.model.events import Event
from hub.model.incidents import Incident
from tests.unit.core.helpers import (
    alarm,
    building,
    default_pack,
    face,
    ids,
    lookup,
    of_rule,
    report,
    run,
    swipe,
)

PACK = default_pack()
SEC = 1_000
MIN = 60_000
DAY = 86_400_000


def fire(rule_id: str, events: list[Event]) -> list[Incident]:
    return of_rule(run(PACK, events, building()), rule_id)


# -- perimeter_breach_entry (sequence, site_id, 5 min) ---------------------------------------


@pytest.mark.parametrize("alarm_type", ["INTRUSION", "LINE_CROSSING", "FENCE_CUT", "CLIMB"])
@pytest.mark.parametrize("result", ["DENIED", "FORCED_OPEN", "TAILGATE"])
def test_breach_entry_each_alarm_type_and_door_result(alarm_type: str, result: str) -> None:
    (inc,) = fire(
        "perimeter_breach_entry", [alarm("a1", 0, alarm_type), swipe("s1", 2 * MIN, result)]
    )
    assert ids(inc) == ["a1", "s1"] and inc.risk_level == "HIGH" and inc.key == "S1"
    assert inc.rule_type == "sequence" and inc.version == 1


def test_breach_entry_window_edge() -> None:
    assert (
        len(fire("perimeter_breach_entry", [alarm("a1", 0), swipe("s1", 5 * MIN, "DENIED")])) == 1
    )
    assert (
        fire("perimeter_breach_entry", [alarm("a1", 0), swipe("s1", 5 * MIN + 1, "DENIED")]) == []
    )


@pytest.mark.parametrize(
    "events",
    [
        [alarm("a1", 0, "TAMPER"), swipe("s1", MIN, "DENIED")],  # not an intrusion type
        [alarm("a1", 0), swipe("s1", MIN, "GRANTED")],  # a normal entry
        [alarm("a1", 0), swipe("s1", MIN, "HELD_OPEN")],
        [swipe("s1", 0, "DENIED"), alarm("a1", MIN)],  # wrong order: door first, then fence
        [alarm("a1", 0, site="S2"), swipe("s1", MIN, "DENIED")],  # different 小区
        [alarm("a1", 0)],
        [swipe("s1", 0, "DENIED")],
    ],
)
def test_breach_entry_negative(events: list[Event]) -> None:
    assert fire("perimeter_breach_entry", events) == []


def test_breach_entry_order_is_event_time_not_arrival() -> None:
    # the swipe arrives first but happened after the alarm: still a sequence
    (inc,) = fire("perimeter_breach_entry", [swipe("s1", MIN, "DENIED"), alarm("a1", 0)])
    assert ids(inc) == ["a1", "s1"]


# -- forced_door (absence before, door_id, 30 s) -------------------------------------------


def test_forced_door_without_any_grant() -> None:
    (inc,) = fire("forced_door", [swipe("f1", 0, "FORCED_OPEN")])
    assert inc.risk_level == "HIGH" and ids(inc) == ["f1"] and inc.key == "S1|D1"


def test_forced_door_grant_exactly_30s_before_suppresses() -> None:
    assert (
        fire("forced_door", [swipe("g1", 0, "GRANTED"), swipe("f1", 30 * SEC, "FORCED_OPEN")]) == []
    )


def test_forced_door_grant_30s_plus_1ms_before_does_not_suppress() -> None:
    (inc,) = fire(
        "forced_door", [swipe("g1", 0, "GRANTED"), swipe("f1", 30 * SEC + 1, "FORCED_OPEN")]
    )
    assert ids(inc) == ["f1"]


@pytest.mark.parametrize(
    "other",
    [
        swipe("g1", 10 * SEC, "GRANTED", door="D2"),  # granted at another door
        swipe("g1", 10 * SEC, "DENIED"),  # a denial is not an entry
        swipe("g1", 21 * SEC, "GRANTED"),  # granted just after: direction is 'before'
    ],
)
def test_forced_door_fires_when_the_grant_does_not_count(other: Event) -> None:
    assert len(fire("forced_door", [other, swipe("f1", 20 * SEC, "FORCED_OPEN")])) == 1


def test_forced_door_grant_arriving_after_still_suppresses() -> None:
    # arrival order is not event order: the grant happened before, it counts
    assert (
        fire("forced_door", [swipe("f1", 20 * SEC, "FORCED_OPEN"), swipe("g1", 0, "GRANTED")]) == []
    )


# -- credential_brute_force (threshold, door_id, 2 min, >= 5 DENIED) ------------------------


def denials(times: list[int], door: str = "D1") -> list[Event]:
    return [swipe(f"d{i}", t, "DENIED", door=door) for i, t in enumerate(times)]


def test_brute_force_five_within_exactly_two_minutes() -> None:
    (inc,) = fire("credential_brute_force", denials([0, 30 * SEC, 60 * SEC, 90 * SEC, 2 * MIN]))
    assert inc.risk_level == "MEDIUM" and ids(inc) == ["d0", "d1", "d2", "d3", "d4"]


def test_brute_force_five_spread_over_two_minutes_plus_1ms() -> None:
    assert (
        fire("credential_brute_force", denials([0, 30 * SEC, 60 * SEC, 90 * SEC, 2 * MIN + 1]))
        == []
    )


def test_brute_force_negative_four_or_other_doors_or_granted() -> None:
    assert fire("credential_brute_force", denials([0, 1, 2, 3])) == []
    mixed = [
        *denials([0, 1, 2], door="D1"),
        swipe("x", 3, "DENIED", door="D2"),
        swipe("y", 4, "GRANTED"),
    ]
    assert fire("credential_brute_force", mixed) == []


def test_brute_force_sixth_denial_updates_same_incident() -> None:
    incs = fire("credential_brute_force", denials([0, 1, 2, 3, 4, 5]))
    assert [i.version for i in incs] == [1, 2]
    assert incs[0].incident_id == incs[1].incident_id
    assert ids(incs[1]) == [f"d{i}" for i in range(6)]


# -- cloned_credential (distinct site_id, credential_hash, 3 min, GRANTED) -------------------


def test_cloned_credential_two_sites_within_exactly_3_min() -> None:
    (inc,) = fire(
        "cloned_credential",
        [swipe("g1", 0, site="S1", cred="c9"), swipe("g2", 3 * MIN, site="S2", cred="c9")],
    )
    assert inc.risk_level == "HIGH" and inc.key == "c9" and ids(inc) == ["g1", "g2"]


def test_cloned_credential_two_sites_3_min_plus_1ms_apart() -> None:
    assert (
        fire(
            "cloned_credential",
            [swipe("g1", 0, site="S1", cred="c9"), swipe("g2", 3 * MIN + 1, site="S2", cred="c9")],
        )
        == []
    )


@pytest.mark.parametrize(
    "second",
    [
        swipe("g2", MIN, site="S1", cred="c9", door="D2"),  # same site, other door
        swipe("g2", MIN, site="S2", cred="c8"),  # other credential
        swipe("g2", MIN, "DENIED", site="S2", cred="c9"),  # not granted
    ],
)
def test_cloned_credential_negative(second: Event) -> None:
    assert fire("cloned_credential", [swipe("g1", 0, site="S1", cred="c9"), second]) == []


# -- watchlist_entry (all, site_id, 10 min) --------------------------------------------------


@pytest.mark.parametrize("result", ["GRANTED", "TAILGATE"])
def test_watchlist_face_then_entry(result: str) -> None:
    (inc,) = fire("watchlist_entry", [face("f1", 0), swipe("s1", 10 * MIN, result)])
    assert inc.risk_level == "HIGH" and ids(inc) == ["f1", "s1"]


def test_watchlist_entry_then_face() -> None:
    (inc,) = fire("watchlist_entry", [swipe("s1", 0), face("f1", 10 * MIN)])
    assert ids(inc) == ["s1", "f1"]


@pytest.mark.parametrize("face_first", [True, False])
def test_watchlist_10_min_plus_1ms_apart_is_nothing(face_first: bool) -> None:
    a, b = (
        (face("f1", 0), swipe("s1", 10 * MIN + 1))
        if face_first
        else (swipe("s1", 0), face("f1", 10 * MIN + 1))
    )
    assert fire("watchlist_entry", [a, b]) == []


def test_watchlist_similarity_threshold() -> None:
    assert fire("watchlist_entry", [face("f1", 0, similarity=0.89), swipe("s1", MIN)]) == []
    assert len(fire("watchlist_entry", [face("f1", 0, similarity=0.90), swipe("s1", MIN)])) == 1


@pytest.mark.parametrize(
    "events",
    [
        [face("f1", 0), swipe("s1", MIN, "DENIED")],
        [face("f1", 0), swipe("s1", MIN, site="S2")],
        [face("f1", 0), face("f2", MIN)],
        [swipe("s1", 0), swipe("s2", MIN)],
    ],
)
def test_watchlist_negative(events: list[Event]) -> None:
    assert fire("watchlist_entry", events) == []


# -- dispute_hotspot (distinct report_id, building_id, 7 d; 3 → MEDIUM, 5 → HIGH) ------------


def test_dispute_hotspot_three_then_five_escalates_same_incident() -> None:
    events = [report(f"e{i}", i * DAY, f"R{i}") for i in range(5)]
    incs = fire("dispute_hotspot", events)
    assert [(i.version, i.risk_level) for i in incs] == [(1, "MEDIUM"), (2, "MEDIUM"), (3, "HIGH")]
    assert len({i.incident_id for i in incs}) == 1
    assert ids(incs[0]) == ["e0", "e1", "e2"]
    assert ids(incs[-1]) == ["e0", "e1", "e2", "e3", "e4"]


def test_dispute_hotspot_status_updates_count_once() -> None:
    events = [
        report("e1", 0, "R1"),
        report("e2", DAY, "R1", status="ACCEPTED"),
        report("e3", 2 * DAY, "R1", status="MEDIATING"),
        report("e4", 3 * DAY, "R2"),
        report("e5", 3 * DAY + 1, "R2", status="ACCEPTED"),
    ]
    assert fire("dispute_hotspot", events) == []  # 5 lines, 2 reports


def test_dispute_hotspot_status_update_after_incident_adds_no_version() -> None:
    events = [report(f"e{i}", i * DAY, f"R{i}") for i in range(3)]
    events.append(report("u0", 4 * DAY, "R0", status="RESOLVED"))
    incs = fire("dispute_hotspot", events)
    assert [i.version for i in incs] == [1]


def test_dispute_hotspot_window_edge() -> None:
    edge = [report("e0", 0, "R0"), report("e1", DAY, "R1"), report("e2", 7 * DAY, "R2")]
    assert len(fire("dispute_hotspot", edge)) == 1
    past = [report("e0", 0, "R0"), report("e1", DAY, "R1"), report("e2", 7 * DAY + 1, "R2")]
    assert fire("dispute_hotspot", past) == []


def test_dispute_hotspot_other_categories_and_buildings_do_not_count() -> None:
    events = [
        report("e0", 0, "R0"),
        report("e1", 1, "R1"),
        report("e2", 2, "R2", category="HAZARD"),
        report("e3", 3, "R3", building_id="B2"),
    ]
    assert fire("dispute_hotspot", events) == []


# -- lookup_spike (distinct requester_hash, building_id, 30 min, VISITOR, >= 5 → LOW) --------


def test_lookup_spike_five_distinct_visitors() -> None:
    events = [lookup(f"l{i}", i * MIN, f"v{i}") for i in range(5)]
    (inc,) = fire("lookup_spike", events)
    assert inc.risk_level == "LOW" and inc.key == "S1|B1"


def test_lookup_spike_five_lookups_by_four_visitors() -> None:
    events = [lookup(f"l{i}", i * MIN, f"v{min(i, 3)}") for i in range(5)]
    assert fire("lookup_spike", events) == []


def test_lookup_spike_resident_does_not_count() -> None:
    events = [lookup(f"l{i}", i * MIN, f"v{i}") for i in range(4)]
    events.append(lookup("l4", 5 * MIN, "v4", role="RESIDENT"))
    assert fire("lookup_spike", events) == []


def test_lookup_spike_window_edge() -> None:
    times = [0, MIN, 2 * MIN, 3 * MIN, 30 * MIN]
    assert (
        len(fire("lookup_spike", [lookup(f"l{i}", t, f"v{i}") for i, t in enumerate(times)])) == 1
    )
    times[-1] += 1
    assert fire("lookup_spike", [lookup(f"l{i}", t, f"v{i}") for i, t in enumerate(times)]) == []


def test_lookup_spike_sixth_visitor_updates_repeat_visitor_does_not() -> None:
    events = [lookup(f"l{i}", i * MIN, f"v{i}") for i in range(6)]
    events.append(lookup("l6", 7 * MIN, "v0"))
    incs = fire("lookup_spike", events)
    assert [i.version for i in incs] == [1, 2]
    assert ids(incs[-1]) == [f"l{i}" for i in range(6)]


# -- single rules -------------------------------------------------------------------------------


def test_door_held_open() -> None:
    (inc,) = fire("door_held_open", [swipe("h1", 0, "HELD_OPEN")])
    assert inc.risk_level == "LOW" and inc.rule_type == "single" and ids(inc) == ["h1"]
    for result in ("GRANTED", "DENIED", "FORCED_OPEN", "TAILGATE"):
        assert fire("door_held_open", [swipe("h1", 0, result)]) == []


def test_device_tamper() -> None:
    (inc,) = fire("device_tamper", [alarm("t1", 0, "TAMPER", device_id="pa-9")])
    assert inc.risk_level == "MEDIUM" and inc.key == "S1|pa-9"
    assert fire("device_tamper", [alarm("t1", 0, "INTRUSION")]) == []


def test_same_millisecond_ties_go_by_kind_order() -> None:
    # documented in docs/rules.md: event time, then kind (alarm before swipe), then event_id
    (inc,) = fire("perimeter_breach_entry", [swipe("s1", MIN, "DENIED"), alarm("a1", MIN)])
    assert ids(inc) == ["a1", "s1"]



def test_credential_brute_force_counts_an_event_given_twice_once() -> None:
    # A kill that cut a batch's writes short can leave a key's new state (the four denials
    # released into its window) beside the lane's old clocks: the restored worker hands the key
    # the batch's events again. Four denials, one of them twice, are still four.
    four = denials([0, 30 * SEC, 60 * SEC, 90 * SEC])
    batch = [*four, swipe("later", 130 * SEC, "GRANTED", door="D9")]  # releases the four
    before = CorrelationEngine(default_pack(), MemoryBuildingRegistry(), track_changes=True)
    for e in batch:
        before.process(e)
    ref = ("R", "credential_brute_force", "S1|D1")
    written = before.export_state(ref)
    assert written is not None and len(written["w"]) == 4  # the window: the four, released
    after = CorrelationEngine(default_pack(), MemoryBuildingRegistry(), track_changes=True)
    assert after.load_state(ref, written)
    got = [i for e in batch for i in after.process(e).incidents] + after.flush().incidents
    assert [i.rule_id for i in got if i.rule_id == "credential_brute_force"] == []
