"""Incident versions (hub.core.incident_versions): one incident per rule and key while matches
continue, deterministic ids, versions that count up, small updates coalesced per version_every."""

from __future__ import annotations

import dataclasses
from typing import Any

from hub.core.rules import Limits
from hub.model.incidents import incident_id
from tests.unit.core.helpers import (
    T0,
    alarm,
    building,
    default_pack,
    engine_for,
    face,
    feed,
    ids,
    of_rule,
    pack_of,
    report,
    run,
    swipe,
)

PACK = default_pack()
SEC = 1_000
MIN = 60_000
DAY = 86_400_000


def test_single_rule_repeat_within_window_updates_the_same_incident() -> None:
    incs = of_rule(
        run(PACK, [swipe("h1", 0, "HELD_OPEN"), swipe("h2", 10 * MIN, "HELD_OPEN")], building()),
        "door_held_open",
    )
    assert [(i.version, ids(i)) for i in incs] == [(1, ["h1"]), (2, ["h1", "h2"])]
    assert incs[0].incident_id == incs[1].incident_id
    assert incs[1].first_event_time == T0 and incs[1].last_event_time == T0 + 10 * MIN


def test_single_rule_repeat_after_the_gap_opens_a_new_incident() -> None:
    incs = of_rule(
        run(PACK, [swipe("h1", 0, "HELD_OPEN"), swipe("h2", 10 * MIN + 1, "HELD_OPEN")]),
        "door_held_open",
    )
    assert [(i.version, ids(i)) for i in incs] == [(1, ["h1"]), (1, ["h2"])]
    assert incs[0].incident_id != incs[1].incident_id


def test_window_is_measured_from_the_last_evidence_not_the_first() -> None:
    events = [swipe(f"h{i}", i * 9 * MIN, "HELD_OPEN") for i in range(4)]  # 27 min in all
    incs = of_rule(run(PACK, events), "door_held_open")
    assert [i.version for i in incs] == [1, 2, 3, 4]
    assert len({i.incident_id for i in incs}) == 1


def test_sequence_continues_and_appends_evidence_in_event_time_order() -> None:
    events = [
        alarm("a1", 0),
        swipe("s1", MIN, "DENIED"),
        swipe("s2", 3 * MIN, "TAILGATE"),
        alarm("a2", 4 * MIN),
        swipe("s3", 6 * MIN, "DENIED"),
    ]
    incs = of_rule(run(PACK, events, building()), "perimeter_breach_entry")
    assert [i.version for i in incs] == [1, 2, 3]
    assert len({i.incident_id for i in incs}) == 1
    assert ids(incs[-1]) == ["a1", "s1", "s2", "a2", "s3"]
    assert incs[-1].incident_id == incident_id("perimeter_breach_entry", "S1", "perimeter_alarm",
                                               "a1", T0)


def test_sequence_after_the_gap_is_a_new_incident() -> None:
    events = [
        alarm("a1", 0),
        swipe("s1", MIN, "DENIED"),
        alarm("a2", 6 * MIN + 1),
        swipe("s2", 6 * MIN + 2, "DENIED"),  # 5 min + 2 ms after s1: too far to continue
    ]
    incs = of_rule(run(PACK, events), "perimeter_breach_entry")
    assert [(i.version, ids(i)) for i in incs] == [(1, ["a1", "s1"]), (1, ["a2", "s2"])]
    assert incs[1].incident_id == incident_id("perimeter_breach_entry", "S1", "perimeter_alarm",
                                              "a2", T0 + 6 * MIN + 1)


def test_all_rule_continues_at_the_edge_and_restarts_after_the_gap() -> None:
    edge = [face("f1", 0), swipe("s1", MIN), face("f2", 11 * MIN)]  # f2 exactly 10 min after s1
    incs = of_rule(run(PACK, edge), "watchlist_entry")
    assert [(i.version, ids(i)) for i in incs] == [(1, ["f1", "s1"]), (2, ["f1", "s1", "f2"])]
    assert incs[0].incident_id == incs[1].incident_id
    gap = [face("f1", 0), swipe("s1", MIN), face("f2", 11 * MIN + 1), swipe("s2", 12 * MIN)]
    incs = of_rule(run(PACK, gap), "watchlist_entry")
    assert [(i.version, ids(i)) for i in incs] == [(1, ["f1", "s1"]), (1, ["f2", "s2"])]
    assert incs[0].incident_id != incs[1].incident_id


def test_threshold_update_and_new_incident_after_the_gap() -> None:
    burst1 = [swipe(f"a{i}", i * SEC, "DENIED") for i in range(6)]
    burst2 = [swipe(f"b{i}", 10 * MIN + i * SEC, "DENIED") for i in range(5)]
    incs = of_rule(run(PACK, burst1 + burst2), "credential_brute_force")
    assert [(i.version, len(i.evidence)) for i in incs] == [(1, 5), (2, 6), (1, 5)]
    assert incs[0].incident_id == incs[1].incident_id != incs[2].incident_id
    assert incs[2].incident_id == incident_id("credential_brute_force", "S1|D1", "access_swipe",
                                              "b0", T0 + 10 * MIN)


def test_risk_is_raised_by_tiers_and_never_lowered() -> None:
    events = [report(f"e{i}", i * DAY, f"R{i}") for i in range(5)]  # 3 → MEDIUM, 5 → HIGH
    events.append(report("e5", 10 * DAY, "R5"))  # R3, R4, R5 in the window: a MEDIUM count
    incs = of_rule(run(PACK, events), "dispute_hotspot")
    assert [(i.version, i.risk_level) for i in incs] == [
        (1, "MEDIUM"),
        (2, "MEDIUM"),
        (3, "HIGH"),
        (4, "HIGH"),
    ]
    assert len({i.incident_id for i in incs}) == 1


def test_incident_ids_are_deterministic_across_runs() -> None:
    a1, s1 = alarm("a1", 0), swipe("s1", 20 * SEC, "DENIED")
    h1, f1 = swipe("h1", 2 * MIN, "HELD_OPEN", door="D7"), face("f1", 3 * MIN)
    g1, g2 = swipe("g1", 4 * MIN), swipe("g2", 4 * MIN + 10 * SEC, site="S2")
    first = run(PACK, [a1, s1, h1, f1, g1, g2], building())
    again = run(PACK, [a1, s1, h1, f1, g1, g2], building())
    shuffled = run(PACK, [s1, a1, h1, f1, g2, g1], building())  # within the 30 s lateness
    rules = {i.rule_id for i in first}
    assert rules >= {
        "perimeter_breach_entry",
        "door_held_open",
        "watchlist_entry",
        "cloned_credential",
    }
    assert [(i.incident_id, i.version) for i in first] == [
        (i.incident_id, i.version) for i in again
    ]
    assert sorted((i.incident_id, i.version) for i in first) == sorted(
        (i.incident_id, i.version) for i in shuffled
    )
    for inc in first:
        first_evidence = inc.evidence[0]
        assert inc.incident_id == incident_id(inc.rule_id, inc.key, first_evidence.kind,
                                              first_evidence.event_id, first_evidence.event_time)


def test_incident_id_depends_on_rule_key_and_first_evidence() -> None:
    base = incident_id("r", "k", "swipe", "e1", 1000)
    assert base.startswith("inc-") and len(base) == 36
    assert base == incident_id("r", "k", "swipe", "e1", 1000)
    others = {incident_id("r2", "k", "swipe", "e1", 1000),
              incident_id("r", "k2", "swipe", "e1", 1000),
              incident_id("r", "k", "alarm", "e1", 1000),
              incident_id("r", "k", "swipe", "e2", 1000),
              incident_id("r", "k", "swipe", "e1", 1001)}  # the id given again, later
    assert len(others | {base}) == 6
    # the separator keeps fields apart: no ambiguity from concatenation
    assert incident_id("ab", "c", "s", "e", 1) != incident_id("a", "bc", "s", "e", 1)


def test_two_keys_are_two_incidents() -> None:
    events = [swipe("h1", 0, "HELD_OPEN", door="D1"), swipe("h2", 1, "HELD_OPEN", door="D2")]
    incs = of_rule(run(PACK, events), "door_held_open")
    assert sorted(i.key for i in incs) == ["S1|D1", "S1|D2"]
    assert len({i.incident_id for i in incs}) == 2


def test_multi_field_key() -> None:
    rule: dict[str, Any] = {
        "id": "held_by_site_door",
        "type": "single",
        "title": "t",
        "by": ["site_id", "door_id"],
        "within": "1m",
        "risk_level": "LOW",
        "match": {"kind": "access_swipe", "where": {"result": "HELD_OPEN"}},
    }
    incs = run(pack_of(rule), [swipe("h1", 0, "HELD_OPEN"), swipe("h2", 1, "HELD_OPEN", site="S2")])
    assert sorted(i.key for i in incs) == ["S1|D1", "S2|D1"]


def test_event_without_the_key_field_is_unkeyed_and_counted() -> None:
    from tests.unit.core.helpers import engine_for, feed

    engine = engine_for(PACK)
    out = feed(engine, [swipe("g1", 0, cred=None)])  # no credential: cloned_credential can't key
    assert of_rule(out, "cloned_credential") == []
    assert engine.stats.unkeyed == 1


def test_stats_count_incidents_and_versions() -> None:
    from tests.unit.core.helpers import engine_for, feed

    engine = engine_for(PACK, building())
    out = feed(engine, [swipe(f"h{i}", i * MIN, "HELD_OPEN") for i in range(3)])
    assert engine.stats.incidents_opened == 1
    assert engine.stats.incident_versions == len(out) == 3
    assert engine.stats.events == 3


def test_all_rule_with_overlapping_steps_needs_distinct_events() -> None:
    """An event that matches several steps of an `all` rule fills only one of them."""
    rule: dict[str, Any] = {
        "id": "grant_and_another_try",
        "type": "all",
        "title": "t",
        "by": "door_id",
        "within": "1m",
        "risk_level": "LOW",
        "steps": [
            {"kind": "access_swipe", "where": {"result": "GRANTED"}},
            {"kind": "access_swipe", "where": {"result": {"in": ["GRANTED", "DENIED"]}}},
        ],
    }
    pack = pack_of(rule)
    assert run(pack, [swipe("g1", 0)]) == []  # one swipe is not "all of" two steps
    assert [ids(i) for i in run(pack, [swipe("d1", 0, "DENIED"), swipe("g1", 1)])] == [["d1", "g1"]]
    assert [ids(i) for i in run(pack, [swipe("g1", 0), swipe("d1", 1, "DENIED")])] == [["g1", "d1"]]
    assert [ids(i) for i in run(pack, [swipe("g1", 0), swipe("g2", 1)])] == [["g1", "g2"]]
    # the earlier GRANTED must move to the step only it can fill for the DENIED to count
    three = dict(
        rule,
        id="three",
        steps=[*rule["steps"], {"kind": "access_swipe", "where": {"result": "DENIED"}}],
    )
    incs = run(pack_of(three), [swipe("g1", 0), swipe("d1", 1, "DENIED"), swipe("d2", 2, "DENIED")])
    assert [ids(i) for i in incs] == [["g1", "d1", "d2"]]


HELD: dict[str, Any] = {
    "id": "held", "type": "single", "title": "t", "by": "door_id", "within": "1m",
    "risk_level": "LOW", "match": {"kind": "access_swipe", "where": {"result": "HELD_OPEN"}},
}


def test_small_updates_within_version_every_are_published_once_at_its_end() -> None:
    pack = dataclasses.replace(pack_of(HELD, lateness=5 * SEC),
                               limits=Limits(20, 20, 10 * SEC, 10_000))
    engine = engine_for(pack)
    held = [swipe(f"h{n}", n * 2 * SEC, "HELD_OPEN") for n in range(3)]  # 0, 2 s, 4 s
    assert feed(engine, held, flush=False) == []
    first, second = engine.process(swipe("x", 30 * SEC, "DENIED")).incidents
    assert (first.version, ids(first), first.emitted_time) == (1, ["h0"], T0)
    assert (second.version, ids(second), second.emitted_time) == (2, ["h0", "h1", "h2"],
                                                                   T0 + 10 * SEC)
    assert second.incident_id == first.incident_id
    assert engine.flush().incidents == []


def test_a_held_update_is_published_at_flush_as_it_stood() -> None:
    pack = dataclasses.replace(pack_of(HELD, lateness=5 * SEC),
                               limits=Limits(20, 20, 10 * SEC, 10_000))
    out = feed(engine_for(pack), [swipe("h0", 0, "HELD_OPEN"), swipe("h1", SEC, "HELD_OPEN")])
    assert [(i.version, ids(i), i.emitted_time) for i in out] == [
        (1, ["h0"], T0), (2, ["h0", "h1"], T0 + 10 * SEC)]


def test_an_event_id_given_again_a_day_later_is_a_new_incident_in_any_order() -> None:
    """A door whose controller's event counter started over: the second HELD_OPEN "h1", more
    than the dedup retention (24 h) after the first, is a new event and a new incident, with an
    id of its own, whether or not another event arrived between them (stop 39's probe: one
    order dropped it as a duplicate, the other gave both incidents one id)."""
    again = swipe("h1", DAY + SEC, "HELD_OPEN")
    between = swipe("d1", DAY + SEC // 2, "DENIED")
    results = []
    for events in ([swipe("h1", 0, "HELD_OPEN"), between, again],
                   [swipe("h1", 0, "HELD_OPEN"), again, between]):
        incs = of_rule(run(PACK, events), "door_held_open")
        results.append(sorted((i.incident_id, i.version, i.first_event_time) for i in incs))
    assert results[0] == results[1]
    assert sorted(t for _, _, t in results[0]) == [T0, T0 + DAY + SEC]
    assert len({iid for iid, _, _ in results[0]}) == 2
