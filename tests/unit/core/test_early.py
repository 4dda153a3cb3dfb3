"""Provisional incidents at arrival, confirmed at the watermark, retracted when disproved.

Every rule type of the default pack fires PROVISIONAL in the step of the event that completes
it; the CONFIRMED versions are exactly the plain engine's, whatever the arrival order within
lateness; late data that changes the first evidence, fills an absence or adds an earlier first
step retracts the provisional version with a reason.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

import pytest

from hub.codec import incident_to_json, load_codec, parse_line
from hub.core.dedup import DedupLogic
from hub.core.early import early_engines
from hub.core.registry import MemoryBuildingRegistry
from hub.model.events import Event
from hub.model.incidents import CONFIRMED, PROVISIONAL, RETRACTED, Incident
from tests.unit.core.helpers import alarm, building, default_pack, ev, face, pack_of, run, swipe
from tests.unit.core.test_event_time import NO_GRANT_AFTER

PACK = default_pack()
SEC = 1_000
MIN = 60_000


def early_run(events: Iterable[Event]) -> list[tuple[int, Incident]]:
    """(index of the event whose step emitted it, or -1 for the flush; incident version)."""
    registry = MemoryBuildingRegistry()
    registry.put(building())
    engine = early_engines(PACK, registry, dedup=DedupLogic())
    out: list[tuple[int, Incident]] = []
    for i, e in enumerate(events):
        out.extend((i, inc) for inc in engine.process(e).incidents)
    out.extend((-1, inc) for inc in engine.flush().incidents)
    return out


def of(out: list[tuple[int, Incident]], rule: str, status: str) -> list[tuple[int, Incident]]:
    return [(i, inc) for i, inc in out if inc.rule_id == rule and inc.status == status]


#: One situation per rule type: events in order, the index of the completing one.
SITUATIONS: dict[str, tuple[str, list[Event], int]] = {
    "single": ("door_held_open", [swipe("h1", 0, "HELD_OPEN")], 0),
    "sequence": ("perimeter_breach_entry",
                 [alarm("a1", 0), swipe("d1", 30 * SEC, "DENIED")], 1),
    "all": ("watchlist_entry", [swipe("g1", 0, "GRANTED"), face("f1", 20 * SEC)], 1),
    "threshold": ("credential_brute_force",
                  [swipe(f"x{i}", i * SEC, "DENIED", site="S2", door="D9") for i in range(5)], 4),
    "distinct": ("cloned_credential",
                 [swipe("c1", 0, "GRANTED", site="S3", cred="K"),
                  swipe("c2", 20 * SEC, "GRANTED", site="S4", cred="K")], 1),
    "absence": ("forced_door", [swipe("fo", 0, "FORCED_OPEN", door="D7")], 0),
}


@pytest.mark.parametrize("rule_type", sorted(SITUATIONS))
def test_every_rule_type_fires_provisional_at_the_completing_event(rule_type: str) -> None:
    rule, events, completing = SITUATIONS[rule_type]
    out = early_run(events)
    provisional = of(out, rule, PROVISIONAL)
    confirmed = of(out, rule, CONFIRMED)
    assert [i for i, _ in provisional][:1] == [completing], out
    assert confirmed and all(i != completing for i, _ in confirmed)  # later: at the watermark
    assert {inc.incident_id for _, inc in provisional} == {inc.incident_id for _, inc in confirmed}
    assert not of(out, rule, RETRACTED)
    # before its completing event, the rule said nothing
    assert not [i for i, inc in out if inc.rule_id == rule and 0 <= i < completing]


def test_an_absence_after_fires_at_the_first_event_past_its_deadline() -> None:
    """The eager engine fires a timer when an event newer than its deadline arrives, not on a
    later sweep: a forced door alerts at the first event (of any key) more than 30 s after it,
    never at one within the 30 s; one that arrives when newer events have passed its 30 s
    already alerts in its own step."""
    registry = MemoryBuildingRegistry()
    registry.put(building())
    # a lateness longer than the absence's 30 s: f1 is past its deadline yet not LATE
    engine = early_engines(pack_of(NO_GRANT_AFTER, lateness=60 * SEC), registry,
                           dedup=DedupLogic())
    events = [swipe("f0", 0, "FORCED_OPEN", door="D0"),
              swipe("y0", 30 * SEC, "DENIED", door="DX"),
              swipe("z0", 30 * SEC + 1, "DENIED", door="DX"),  # 2: past f0's deadline
              swipe("y1", 95 * SEC, "DENIED", door="DX"),
              swipe("y2", 100 * SEC, "DENIED", door="DX"),
              swipe("f1", 50 * SEC, "FORCED_OPEN", door="D1"),  # 5: its 30 s are over
              swipe("y3", 101 * SEC, "DENIED", door="DX")]
    fired = [(i, inc.evidence[0].event_id) for i, e in enumerate(events)
             for inc in engine.process(e).incidents if inc.status == PROVISIONAL]
    assert fired == [(2, "f0"), (5, "f1")]


def test_confirmed_versions_are_the_plain_engines_whatever_the_arrival_order() -> None:
    base = [alarm("a1", 0), swipe("d1", 30 * SEC, "DENIED"), swipe("g1", 40 * SEC),
            face("f1", 70 * SEC), swipe("h1", 90 * SEC, "HELD_OPEN"),
            swipe("fo", 100 * SEC, "FORCED_OPEN", door="D7"),
            swipe("g2", 95 * SEC, door="D7"), alarm("t1", 120 * SEC, "TAMPER"),
            alarm("t2", 150 * SEC, "TAMPER"),
            *[swipe(f"x{i}", 200 * SEC + i * SEC, "DENIED", site="S2", door="D9")
              for i in range(6)],
            swipe("c1", 300 * SEC, site="S3", cred="K"),
            swipe("c2", 310 * SEC, site="S4", cred="K"),
            swipe("tail", 400 * SEC, site="S9")]
    plain = run(PACK, sorted(base, key=lambda e: e.event_time), building())
    assert {i.rule_id for i in plain} >= {"perimeter_breach_entry", "watchlist_entry",
                                          "door_held_open", "device_tamper",
                                          "credential_brute_force", "cloned_credential"}
    rng = random.Random(5)
    retracted = 0
    for _ in range(30):
        # arrival = event time + a delay of up to 25 s (the sources allow 30 s of lateness)
        arrival = sorted(base, key=lambda e: e.event_time + rng.randrange(25 * SEC))
        out = [inc for _, inc in early_run(arrival)]
        assert [i for i in out if i.status == CONFIRMED] == [
            i.__class__(**{**_fields(i), "status": CONFIRMED}) for i in plain]
        provisional = {i.incident_id for i in out if i.status == PROVISIONAL}
        confirmed = {i.incident_id for i in out if i.status == CONFIRMED}
        withdrawn = {i.incident_id for i in out if i.status == RETRACTED}
        assert provisional - confirmed == withdrawn  # every unconfirmed provisional retracted
        assert not withdrawn & confirmed
        retracted += len(withdrawn)
    assert retracted > 0  # the shuffles did disprove some provisional versions


def _fields(inc: Incident) -> dict[str, object]:
    return {f: getattr(inc, f) for f in inc.__dataclass_fields__}


@pytest.mark.parametrize("rule_type", sorted(set(SITUATIONS) - {"all"}))
def test_an_earlier_first_event_arriving_late_retracts_and_names_the_confirmed_id(
        rule_type: str) -> None:
    """Late data changed the first evidence: the provisional id is not the confirmed one. (An
    'all' rule matches with the newest candidate of each step, so an earlier one arriving late
    does not change its id: test_confirmed_versions_... covers it among the shuffles.)"""
    rule, events, completing = SITUATIONS[rule_type]
    first = events[0]
    earlier = Event.from_record(first.kind, {**first.fields, "event_id": first.event_id + "-e",
                                             "event_time": first.event_time - 5 * SEC})
    out = early_run([*events, earlier])
    provisional = of(out, rule, PROVISIONAL)
    confirmed = of(out, rule, CONFIRMED)
    retracted = of(out, rule, RETRACTED)
    assert provisional and provisional[0][0] == completing
    plain = [i for i in run(PACK, sorted([*events, earlier], key=lambda e: e.event_time),
                            building()) if i.rule_id == rule]
    assert {inc.incident_id for _, inc in confirmed} == {i.incident_id for i in plain}
    assert [inc.incident_id for _, inc in retracted] == [provisional[0][1].incident_id]
    gone = retracted[0][1]
    assert gone.version == provisional[-1][1].version + 1
    assert gone.status_reason is not None
    assert plain[0].incident_id in gone.status_reason and "first evidence" in gone.status_reason


def test_a_late_granted_swipe_that_fills_the_absence_retracts_forced_door() -> None:
    out = early_run([swipe("fo", 10 * SEC, "FORCED_OPEN", door="D7", site="S5"),
                     swipe("g", 4 * SEC, "GRANTED", door="D7", site="S5")])
    assert [i for i, _ in of(out, "forced_door", PROVISIONAL)] == [0]
    assert not of(out, "forced_door", CONFIRMED)
    [(_, gone)] = of(out, "forced_door", RETRACTED)
    assert gone.status_reason is not None and "did not match" in gone.status_reason


def test_a_sequence_whose_steps_arrive_in_the_wrong_order_is_never_provisional() -> None:
    """The door anomaly happened before the alarm: arriving after it does not make a sequence."""
    out = early_run([alarm("a1", 60 * SEC), swipe("d1", 30 * SEC, "DENIED")])
    assert not [inc for _, inc in out if inc.rule_id == "perimeter_breach_entry"]


@pytest.mark.parametrize("same_time", [False, True])
def test_a_sequence_whose_first_step_arrives_after_its_last_alerts_at_that_line(
        same_time: bool) -> None:
    """The alarm (first step) happened before the denied swipe but reached the hub after it:
    the alarm's line completes the match, so the provisional alert comes there, with the
    confirmed incident's id (stop 39's probe: there was none until the watermark)."""
    t_alarm = 60 * SEC if same_time else 30 * SEC
    out = early_run([swipe("d1", 60 * SEC, "DENIED"), alarm("a1", t_alarm)])
    [(at, provisional)] = of(out, "perimeter_breach_entry", PROVISIONAL)
    [(_, confirmed)] = of(out, "perimeter_breach_entry", CONFIRMED)
    assert at == 1 and [e.event_id for e in provisional.evidence] == ["a1", "d1"]
    assert provisional.incident_id == confirmed.incident_id
    assert not of(out, "perimeter_breach_entry", RETRACTED)


def test_last_steps_waiting_for_a_first_are_bounded_and_each_matches_once() -> None:
    """A flood of denied swipes with no alarm keeps only the newest waiting (a scan over all of
    them at every swipe would be quadratic); a late alarm completes each of those once."""
    from hub.core.logic import MAX_WAITING, on_sequence_as_arrived
    from hub.core.state import KeyState

    rule = next(r for r in PACK.rules if r.id == "perimeter_breach_entry")
    state = KeyState()
    for i in range(200):
        d = swipe(f"d{i}", 40 * SEC + i * 100, "DENIED", door=f"D{i % 3}")
        assert on_sequence_as_arrived(rule, state, d, 2) == []
    assert state.waiting is not None and len(state.waiting) == MAX_WAITING
    first = on_sequence_as_arrived(rule, state, alarm("a1", 30 * SEC), 1)
    assert [[e.event_id for e in chain] for chain, _ in first] == [
        ["a1", f"d{i}"] for i in range(200 - MAX_WAITING, 200)]
    assert on_sequence_as_arrived(rule, state, alarm("a2", 31 * SEC), 1) == []


def test_the_retraction_comes_once_the_confirmed_engine_has_passed_the_provisional() -> None:
    """Not at the end of input: as soon as the watermark shows the match is not there."""
    events = [swipe("fo", 10 * SEC, "FORCED_OPEN", door="D7"),
              swipe("g", 4 * SEC, "GRANTED", door="D7"),
              *[swipe(f"n{i}", 20 * SEC + i * 10 * SEC, site="S8") for i in range(6)]]
    out = early_run(events)
    [(index, _)] = of(out, "forced_door", RETRACTED)
    assert index != -1 and index >= 5  # 30 s of lateness after 10 s: the swipe at 50 s


def test_driven_as_the_worker_does_the_retraction_comes_with_its_batch() -> None:
    """The worker hands each event to the confirmed engine alone (``eager=False``) and the
    batch to the eager one after: the retraction comes with the batch whose release disproved
    the provisional version, as with one event at a time, not at a tick or the flush."""
    events = [swipe("fo", 10 * SEC, "FORCED_OPEN", door="D7"),
              swipe("g", 4 * SEC, "GRANTED", door="D7"),
              *[swipe(f"n{i}", 20 * SEC + i * 10 * SEC, site="S8") for i in range(6)]]
    registry = MemoryBuildingRegistry()
    registry.put(building())
    both = early_engines(PACK, registry, dedup=DedupLogic())
    out: list[tuple[int, Incident]] = []
    # the GRANTED swipe in a later batch than the alarm (within one, the eager engine takes
    # them in event-time order and nothing is provisional)
    for b, end in ((0, 1), (1, 3), (3, 5), (5, 7), (7, 8)):
        batch = events[b:end]
        for event in batch:
            step = both.process(event, eager=False)
            out.extend((b, inc) for inc in step.incidents)
        out.extend((b, inc) for inc in both.process_eager(batch).incidents)
    [(batch_at, gone)] = of(out, "forced_door", RETRACTED)
    assert batch_at == 5  # the batch of the swipe at 50 s, as test_the_retraction_comes_...
    assert [i for i, _ in of(out, "forced_door", PROVISIONAL)] == [0]
    assert gone.status_reason is not None and "did not match" in gone.status_reason
    assert not both.pending


def test_statuses_travel_in_avro_and_interchange_and_confirmed_lines_do_not_change() -> None:
    out = [inc for _, inc in early_run([swipe("fo", 10 * SEC, "FORCED_OPEN", door="D7"),
                                        swipe("g", 4 * SEC, "GRANTED", door="D7")])]
    codec = load_codec()
    gone = next(i for i in out if i.status == RETRACTED)
    _, record = codec.decode(codec.encode("incident", gone.to_record()))
    assert Incident.from_record(record) == gone
    line = incident_to_json(gone, codec=codec)
    assert '"status":"RETRACTED"' in line
    assert Incident.from_record(parse_line(line, pseudonym_key="k")[1]) == gone
    confirmed = run(PACK, [swipe("h1", 0, "HELD_OPEN")], building())[0]
    plain_line = incident_to_json(confirmed, codec=codec)
    assert "status" not in plain_line  # the same bytes as before the field existed
    assert Incident.from_record(parse_line(plain_line, pseudonym_key="k")[1]).status == CONFIRMED


def test_a_record_written_before_status_existed_reads_as_confirmed() -> None:
    import io
    import json
    from pathlib import Path

    import fastavro

    codec = load_codec()
    v1 = json.loads((Path(__file__).resolve().parents[3] / "schemas" / "avro" / "history"
                     / "Incident" / "v1.avsc").read_text(encoding="utf-8"))
    confirmed = run(PACK, [swipe("h1", 0, "HELD_OPEN")], building())[0]
    record = {k: v for k, v in confirmed.to_record().items()
              if k not in ("status", "status_reason")}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(v1, named_schemas={}), record)
    from hub.codec.schemas import fingerprint  # the wire fingerprint of a schema
    data = b"\xc3\x01" + fingerprint(v1) + body.getvalue()
    _, decoded = codec.decode(data)
    assert decoded["status"] == CONFIRMED and decoded["status_reason"] is None


def test_events_the_rules_do_not_read_and_duplicates_make_nothing() -> None:
    out = early_run([ev("grid_report", "r1", 0, report_id="R1", reporter_hash="r",
                        category="NOISE", status="REPORTED", severity=1, description="",
                        building_id="B1", grid_id="G1"),
                     swipe("h1", 0, "HELD_OPEN"), swipe("h1", 0, "HELD_OPEN")])
    assert len(of(out, "door_held_open", PROVISIONAL)) == 1


def test_an_event_beyond_the_lateness_raises_no_alert() -> None:
    """A face match 45 s behind its source would complete the 'all' rule in the eager engine,
    which has no watermark; but the confirmed engine refuses it as LATE (30 s allowed) in the
    same step, so an alert could only be retracted: none is raised (it once was, and then
    withdrawn; live, an hour-old TAMPER alarm did the same)."""
    events = [swipe("g1", 60 * SEC), face("f0", 100 * SEC, similarity=0.5, site="S8"),
              face("f1", 55 * SEC),
              *[swipe(f"n{i}", 100 * SEC + i * 10 * SEC, site="S8") for i in range(2, 8)]]
    out = early_run(events)
    assert of(out, "watchlist_entry", PROVISIONAL) == []
    assert of(out, "watchlist_entry", RETRACTED) == []
    assert of(out, "watchlist_entry", CONFIRMED) == []



def test_a_credential_seen_once_waits_without_a_state_and_still_pairs_out_of_order() -> None:
    """Most credentials swipe once in a window: the eager engine keeps that swipe as a dormant
    lone event of cloned_credential, not a state of its own, and forgets it once it expired. A
    second swipe of the card, even one that arrived after newer events and is older than the
    first, pairs with it exactly as if both had been handed to the rule at arrival."""
    registry = MemoryBuildingRegistry()
    registry.put(building())
    both = early_engines(PACK, registry, dedup=DedupLogic())
    rr = next(r for r in both.eager.rules if r.rule.id == "cloned_credential")
    for i in range(50):
        both.process(swipe(f"one{i}", i * SEC, site=f"S{i}", cred=f"card{i}"))
    assert (len(rr.lone), len(rr.states)) == (50, 0)
    later = both.process(swipe("k2", 90 * SEC, site="S4", cred="K"))
    first = both.process(swipe("k1", 80 * SEC, site="S3", cred="K"))  # arrives second, earlier
    assert later.incidents == []
    assert [(i.rule_id, i.status) for i in first.incidents] == [("cloned_credential",
                                                                  PROVISIONAL)]
    assert "K" in rr.states and "K" not in rr.lone
    both.process(swipe("far", 3 * 3_600 * SEC, site="S9", cred="far"))  # hours on: swept
    assert set(rr.lone) == {"far"}


def report(eid: str, t: int, report_id: str, status: str = "REPORTED") -> Event:
    return ev("grid_report", eid, t, report_id=report_id, reporter_hash="r", category="DISPUTE",
              status=status, severity=2, description="", building_id="B1", grid_id="G1")


def test_an_update_that_arrives_before_its_report_does_not_stand_for_it() -> None:
    """A dispute's ACCEPTED update (45 min after the report) arrives hours before the report
    itself (grid reports may be 24 h late). The eager engine keeps its window in event-time
    order, so when a third dispute completes the rule, the first evidence is the report, as
    the confirmed engine will have it: one incident id, confirmed, never retracted. (Appended
    in arrival order, the update stood for its report and the provisional was retracted.)"""
    day = 24 * 60 * MIN
    events = [report("r1-acc", 45 * MIN, "R1", "ACCEPTED"), report("r1", 0, "R1"),
              report("r2", day, "R2"), report("r3", 2 * day, "R3")]
    out = early_run(events)
    provisional = of(out, "dispute_hotspot", PROVISIONAL)
    confirmed = of(out, "dispute_hotspot", CONFIRMED)
    assert [i for i, _ in provisional] == [3]
    assert provisional[0][1].evidence[0].event_id == "r1"
    assert {inc.incident_id for _, inc in confirmed} == {provisional[0][1].incident_id}
    assert of(out, "dispute_hotspot", RETRACTED) == []
