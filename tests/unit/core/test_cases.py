"""Casework (hub/core/cases.py): cases open, move with actions, and escalate up the levels."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hub.core.cases import ActionRejected, CaseBook, escalated, load_dispatch
from hub.model.cases import Department, IncidentAction
from hub.model.errors import ConfigError
from hub.model.incidents import RETRACTED, Evidence, Incident, Route
from tests.unit.core.helpers import building

REPO = Path(__file__).resolve().parents[3]
MIN = 60_000
NOW = 1_767_225_600_000
B = building("B1", grid="G1", township="T1", district="D1", city="C1")


def incident(iid: str = "inc-1", risk: str = "HIGH",
             route: tuple[str, str] | None = ("DISTRICT", "D1"), **over: object) -> Incident:
    base = Incident(iid, 1, "perimeter_breach_entry", "sequence", "t", risk, "S1", "S1", "B1",
                    "G1", NOW, NOW, (Evidence("perimeter_alarm", "a1", NOW),),
                    Route(*route) if route else None, route is None, B, NOW)
    return dataclasses.replace(base, **over)  # type: ignore[arg-type]


def act(action: str, level: str, code: str, t: int = NOW + MIN, iid: str = "inc-1",
        aid: str | None = None, **kw: str) -> IncidentAction:
    return IncidentAction(aid or f"{action}-{level}-{t}", iid, action, "op1",
                          Department(level, code), t, **kw)


def live_book() -> CaseBook:
    """A book whose clock ticks, as the service's does every second: the last tick at NOW."""
    b = CaseBook(load_dispatch(REPO / "topology" / "dispatch.yaml"))
    assert b.advance(NOW) == []
    return b


@pytest.fixture
def book() -> CaseBook:
    return live_book()


def test_an_incident_opens_a_case_at_its_route_with_a_deadline(book: CaseBook) -> None:
    [c] = book.on_incident(incident(), NOW)
    assert (c.change, c.state, c.level, c.department_code, c.deadline) == (
        "OPENED", "OPEN", "DISTRICT", "D1", NOW + 5 * MIN)
    assert book.on_incident(incident(version=2), NOW + 1) == []  # more evidence: no change


def test_acknowledged_in_time_it_never_escalates(book: CaseBook) -> None:
    book.on_incident(incident(), NOW)
    [c] = book.on_action(act("ACKNOWLEDGE", "DISTRICT", "D1"))
    assert (c.state, c.deadline, c.actor, c.action, c.version) == (
        "ACKNOWLEDGED", None, "op1", "ACKNOWLEDGE", 2)
    assert book.advance(NOW + 60 * MIN) == []


def test_unacknowledged_it_moves_up_a_level_and_the_clock_starts_again(book: CaseBook) -> None:
    book.on_incident(incident(risk="LOW", route=("GRID", "G1")), NOW)
    assert book.advance(NOW + 24 * 60 * MIN - 1) == []
    [up] = book.advance(NOW + 24 * 60 * MIN)
    assert (up.change, up.level, up.department_code, up.time, up.deadline) == (
        "ESCALATED", "TOWNSHIP", "T1", NOW + 24 * 60 * MIN, NOW + 48 * 60 * MIN)
    # A tick long after (the casework was down): one level, which then has its whole day.
    [district] = book.advance(NOW + 10 * 24 * 60 * MIN)
    assert (district.level, district.department_code, district.deadline) == (
        "DISTRICT", "D1", NOW + 11 * 24 * 60 * MIN)
    assert book.advance(NOW + 11 * 24 * 60 * MIN - 1) == []
    [city] = book.advance(NOW + 11 * 24 * 60 * MIN)
    assert (city.level, city.department_code) == ("CITY", "C1")
    assert city.escalations == ("TOWNSHIP", "DISTRICT", "CITY")
    assert book.advance(NOW + 100 * 24 * 60 * MIN) == []  # nowhere above the city


def test_a_replayed_incident_gets_its_whole_time_from_the_clock_not_from_its_event_time(
        book: CaseBook) -> None:
    """A recording from a year ago replayed today (or a backlog read by a new casework app):
    its deadline starts at the last tick, not a year ago, so the first tick does not send every
    case to the city."""
    old = NOW - 365 * 24 * 60 * MIN
    [c] = book.on_incident(incident(risk="HIGH", route=("TOWNSHIP", "T1"), emitted_time=old),
                           old)
    assert (c.level, c.deadline, c.time) == ("TOWNSHIP", NOW + 5 * MIN, old)
    assert book.advance(NOW + 1000) == []
    [up] = book.advance(NOW + 5 * MIN)
    assert (up.level, up.deadline) == ("DISTRICT", NOW + 10 * MIN)


def test_cases_opened_before_the_first_tick_start_at_that_tick() -> None:
    """A (re)started casework reads its backlog before its first tick: the tick starts their
    deadlines; a live case, due later anyway, keeps its own."""
    b = CaseBook(load_dispatch(REPO / "topology" / "dispatch.yaml"))
    old = NOW - 30 * 24 * 60 * MIN
    b.on_incident(incident("old", emitted_time=old), old)
    b.on_incident(incident("live", emitted_time=NOW + 2 * MIN), NOW + 2 * MIN)
    [moved] = b.advance(NOW)  # the first tick: old's deadline now NOW + 5 min, published
    assert (moved.incident_id, moved.change, moved.deadline, moved.time, moved.version) == (
        "old", "UPDATED", NOW + 5 * MIN, NOW, 2)
    assert moved.note is not None and "starts now" in moved.note
    assert sorted(b.take_clocked_in()) == ["live", "old"]  # both lost the flag: persist both
    assert "u" not in (b.export_case("live") or {})
    [up] = b.advance(NOW + 5 * MIN)
    assert (up.incident_id, up.level) == ("old", "CITY")
    [live] = b.advance(NOW + 7 * MIN)
    assert (live.incident_id, live.deadline) == ("live", NOW + 12 * MIN)


def test_jurisdiction_is_the_chain_at_or_above_the_cases_level(book: CaseBook) -> None:
    book.on_incident(incident(risk="MEDIUM", route=("TOWNSHIP", "T1")), NOW)
    with pytest.raises(ActionRejected, match="TOWNSHIP T2 has no jurisdiction") as err:
        book.on_action(act("ACKNOWLEDGE", "TOWNSHIP", "T2"))
    assert err.value.field == "department_code"
    with pytest.raises(ActionRejected, match="GRID G1 has no jurisdiction"):
        book.on_action(act("ACKNOWLEDGE", "GRID", "G1"))  # below the case's level
    with pytest.raises(ActionRejected, match="DISTRICT D9"):
        book.on_action(act("ACKNOWLEDGE", "DISTRICT", "D9"))
    [c] = book.on_action(act("ACKNOWLEDGE", "DISTRICT", "D1"))  # its own district may act
    assert c.state == "ACKNOWLEDGED"


@pytest.mark.parametrize("stamped", [1000, NOW + 10 * 365 * 24 * 60 * MIN])
def test_a_reopen_deadline_runs_from_the_casework_clock_not_a_forged_time(
        book: CaseBook, stamped: int) -> None:
    """An action's time is what its sender wrote: REOPEN stamped 1970 escalated at the next
    tick, one stamped ten years ahead never (an outside probe, writing to the actions topic)."""
    book.on_incident(incident(risk="HIGH", route=("DISTRICT", "D1")), NOW)
    book.on_action(act("RESOLVE", "DISTRICT", "D1", NOW + MIN))
    book.advance(NOW + 2 * MIN)
    [reopened] = book.on_action(act("REOPEN", "DISTRICT", "D1", stamped))
    assert reopened.deadline is not None
    assert NOW + 2 * MIN < reopened.deadline <= NOW + 2 * MIN + 60 * MIN + 5 * MIN
    assert book.advance(NOW + 3 * MIN) == []  # not escalated at the next tick


def test_a_city_case_past_its_deadline_stays_overdue_as_published(book: CaseBook) -> None:
    """Nowhere higher to go: no change, and the state keeps the deadline its last change
    published (it cleared it unsaid, so the board's "overdue" and the state disagreed)."""
    book.on_incident(incident(route=("DISTRICT", "D1")), NOW)
    [up] = book.advance(NOW + 5 * MIN)
    assert up.level == "CITY" and up.deadline is not None
    assert book.advance(up.deadline + MIN) == []
    exported = book.export_case("inc-1")
    assert exported is not None and exported["deadline"] == up.deadline


def test_an_unrouted_incident_is_the_citys_to_see_and_act_on(book: CaseBook) -> None:
    """No building, no route, no grid: no unit is named at any level. Before, the case
    escalated to a city nobody could sign in as; every CITY account may act on it now."""
    [opened] = book.on_incident(incident(route=None, building=None, grid_id=None,
                                         building_id=None), NOW)
    assert dict(opened.chain) == {"GRID": None, "TOWNSHIP": None, "DISTRICT": None,
                                  "CITY": None}
    with pytest.raises(ActionRejected, match="DISTRICT D1 has no jurisdiction"):
        book.on_action(act("ACKNOWLEDGE", "DISTRICT", "D1"))
    [c] = book.on_action(act("ACKNOWLEDGE", "CITY", "C1"))
    assert c.state == "ACKNOWLEDGED"


def test_a_change_carries_the_chain_fixed_when_the_case_opened(book: CaseBook) -> None:
    book.on_incident(incident(risk="MEDIUM", route=("TOWNSHIP", "T1")), NOW)
    moved = building("B2", grid="G2", township="T2", district="D1", city="C1")
    [c] = book.on_incident(incident(risk="HIGH", version=2, building=moved,
                                    route=("TOWNSHIP", "T2")), NOW)
    assert c.to_record()["chain"] == {"GRID": "G1", "TOWNSHIP": "T1", "DISTRICT": "D1",
                                      "CITY": "C1"}


@pytest.mark.parametrize(("first", "then", "says"), [
    ("RESOLVE", "ACKNOWLEDGE", "ACKNOWLEDGE is not allowed on a RESOLVED case"),
    (None, "REOPEN", "REOPEN is not allowed on an OPEN case"),
    ("FALSE_ALARM", "ASSIGN", "ASSIGN is not allowed on a FALSE_ALARM case"),
])
def test_actions_not_allowed_in_the_state_are_rejected(book: CaseBook, first: str | None,
                                                       then: str, says: str) -> None:
    book.on_incident(incident(), NOW)
    if first:
        book.on_action(act(first, "DISTRICT", "D1"))
    with pytest.raises(ActionRejected, match=says):
        book.on_action(act(then, "DISTRICT", "D1", t=NOW + 2 * MIN, assignee="x"))


def test_bad_actions_name_the_field(book: CaseBook) -> None:
    book.on_incident(incident(), NOW)
    for action, fld in [(act("ASSIGN", "DISTRICT", "D1"), "assignee"),
                        (act("ACKNOWLEDGE", "DISTRICT", "D1", iid="inc-x"), "incident_id"),
                        (act("DELETE", "DISTRICT", "D1"), "action"),
                        (act("ACKNOWLEDGE", "COUNTY", "D1"), "department_level")]:
        with pytest.raises(ActionRejected) as err:
            book.on_action(action)
        assert err.value.field == fld and err.value.reason == "VALIDATION_ERROR"


def test_assign_resolve_reopen_and_a_repeat_applied_once(book: CaseBook) -> None:
    book.on_incident(incident(), NOW)
    [a] = book.on_action(act("ASSIGN", "DISTRICT", "D1", assignee="patrol-3", aid="x1"))
    assert (a.state, a.assignee) == ("ASSIGNED", "patrol-3")
    assert book.on_action(act("ASSIGN", "DISTRICT", "D1", assignee="patrol-3", aid="x1")) == []
    [r] = book.on_action(act("RESOLVE", "CITY", "C1", t=NOW + 3 * MIN, note="已处置"))
    assert (r.state, r.note, r.deadline) == ("RESOLVED", "已处置", None)
    [o] = book.on_action(act("REOPEN", "DISTRICT", "D1", t=NOW + 9 * MIN))
    assert (o.state, o.deadline) == ("OPEN", NOW + 14 * MIN)
    assert [c.level for c in book.advance(NOW + 14 * MIN)] == ["CITY"]


def test_the_action_that_lost_is_recorded_in_the_case(book: CaseBook) -> None:
    """Two operators acknowledging at once: one is applied, the other was only a dead letter,
    and its operator saw "sent" and nothing more (an outside probe). The case records it
    (REJECTED, the state kept) once, however often it is delivered; the same action sent again
    when the case can take it is applied."""
    book.on_incident(incident(), NOW)
    [won] = book.on_action(act("ACKNOWLEDGE", "DISTRICT", "D1", aid="a-1"))
    lost = act("ACKNOWLEDGE", "CITY", "C1", aid="a-2")
    with pytest.raises(ActionRejected) as err:
        book.on_action(lost)
    change = err.value.change
    assert change is not None
    assert (change.change, change.version, change.state, change.actor, change.action) == (
        "REJECTED", won.version + 1, "ACKNOWLEDGED", "op1", "ACKNOWLEDGE")
    assert change.note == "action: ACKNOWLEDGE is not allowed on an ACKNOWLEDGED case; " \
        "allowed: ASSIGN, COMMENT, RESOLVE, FALSE_ALARM"
    restored = live_book()
    restored.load_case(book.export_case("inc-1") or {})
    for again in (book, restored):  # delivered again, before or after a restart
        with pytest.raises(ActionRejected) as err:
            again.on_action(lost)
        assert err.value.change is None
    book.on_action(act("RESOLVE", "DISTRICT", "D1", aid="r-1"))
    book.on_action(act("REOPEN", "DISTRICT", "D1", aid="o-1"))
    [applied] = book.on_action(lost)  # now the case can take it
    assert (applied.change, applied.state) == ("ACTION", "ACKNOWLEDGED")


def test_a_retracted_incident_closes_its_case(book: CaseBook) -> None:
    book.on_incident(incident(status="PROVISIONAL"), NOW)
    [c] = book.on_incident(incident(status=RETRACTED, status_reason="late data"), NOW + 40_000)
    assert (c.change, c.state, c.deadline, c.note) == ("RETRACTED", "CLOSED", None, "late data")
    assert book.advance(NOW + 60 * MIN) == []
    with pytest.raises(ActionRejected, match="not allowed on a CLOSED case"):
        book.on_action(act("ACKNOWLEDGE", "DISTRICT", "D1"))


def test_a_raised_risk_moves_the_case_up_and_shortens_its_deadline(book: CaseBook) -> None:
    book.on_incident(incident(risk="MEDIUM", route=("TOWNSHIP", "T1")), NOW)
    [c] = book.on_incident(incident(version=2, risk="CRITICAL", route=("CITY", "C1")),
                           NOW + MIN)
    assert (c.change, c.level, c.risk_level, c.deadline) == (
        "UPDATED", "CITY", "CRITICAL", NOW + 3 * MIN)


def test_dispatch_file_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "dispatch.yaml"
    bad.write_text("acknowledge_within: {CRITICAL: 2m, HIGH: soon, MEDIUM: 30m, LOW: 24h}\n")
    with pytest.raises(ConfigError, match=r"acknowledge_within\.HIGH"):
        load_dispatch(bad)
    bad.write_text("acknowledge_within: {CRITICAL: 2m, HIGH: 5m, MEDIUM: 30m}\n")
    with pytest.raises(ConfigError, match=r"acknowledge_within\.LOW.*missing"):
        load_dispatch(bad)


def test_a_restored_book_goes_on_exactly_as_the_original() -> None:
    """Export every case mid-way (as a changelog would keep them), load them into a new book:
    the same later inputs give the same changes, escalations and rejections included."""
    import json

    def later(b: CaseBook) -> list[object]:
        out: list[object] = list(b.advance(NOW + 6 * MIN))
        out += b.on_action(act("ACKNOWLEDGE", "CITY", "C1", t=NOW + 7 * MIN))
        out += b.on_action(act("ASSIGN", "TOWNSHIP", "T1", t=NOW + 8 * MIN, iid="inc-2",
                               assignee="grid-team", aid="a-2"))
        out += b.on_action(act("ASSIGN", "TOWNSHIP", "T1", iid="inc-2", assignee="x",
                               aid="a-2"))  # a repeat: nothing
        out += b.advance(NOW + 2 * 24 * 60 * MIN)
        return out

    original = live_book()
    original.on_incident(incident(), NOW)
    original.on_incident(incident("inc-2", risk="MEDIUM", route=("TOWNSHIP", "T1")), NOW)
    original.on_action(act("COMMENT", "TOWNSHIP", "T1", iid="inc-2", aid="c-1", note="到场"))
    saved = [json.loads(json.dumps(original.export_case(i))) for i in ("inc-1", "inc-2")]
    restored = CaseBook(original.policy)
    for data in saved:
        restored.load_case(data)
    went_on = later(restored)
    assert [c.change for c in went_on] == ["ESCALATED", "ACTION", "ACTION"]  # type: ignore[attr-defined]
    assert went_on == later(original)
    again = act("COMMENT", "TOWNSHIP", "T1", iid="inc-2", aid="c-1")
    assert restored.on_action(again) == []  # applied before the export: not twice
    assert original.export_case("nope") is None


def test_an_escalated_incident_carries_its_new_route_and_the_steps(book: CaseBook) -> None:
    book.on_incident(incident(risk="HIGH", route=("TOWNSHIP", "T1")), NOW)
    [up] = book.advance(NOW + 5 * MIN)
    record = incident(route=("TOWNSHIP", "T1"), tags=("perimeter",)).to_record()
    out = escalated(record, up)
    assert out["route"] == {"level": "DISTRICT", "department_id": "D1"}
    assert out["tags"] == ["perimeter", "escalated:TOWNSHIP>DISTRICT"]
    assert (out["incident_id"], out["version"]) == (record["incident_id"], record["version"])
    [up2] = book.advance(NOW + 10 * MIN)
    assert escalated(out, up2)["tags"] == ["perimeter", "escalated:TOWNSHIP>DISTRICT",
                                           "escalated:DISTRICT>CITY"]


def test_a_case_opened_before_any_tick_is_restored_as_such() -> None:
    """Exported before the first tick (a crash at start-up): the successor also starts its
    deadline at its first tick, as the original would have."""
    import json

    old = NOW - 30 * 24 * 60 * MIN
    original = CaseBook(load_dispatch(REPO / "topology" / "dispatch.yaml"))
    original.on_incident(incident(emitted_time=old), old)
    restored = CaseBook(original.policy)
    restored.load_case(json.loads(json.dumps(original.export_case("inc-1"))))
    for b in (original, restored):
        assert [c.change for c in b.advance(NOW)] == ["UPDATED"]
        assert [c.deadline for c in b.advance(NOW + 5 * MIN)] == [NOW + 10 * MIN]


def test_a_raised_risk_before_a_restored_books_first_tick_starts_at_that_tick() -> None:
    """After a restart the book has no clock until its first tick: a confirmed version that
    raises an old case's risk then must not make it overdue at that tick."""
    import json

    old = NOW - 24 * 60 * MIN
    original = live_book()
    original.on_incident(incident(risk="LOW", route=("GRID", "G1"), emitted_time=old), old)
    restored = CaseBook(original.policy)
    restored.load_case(json.loads(json.dumps(original.export_case("inc-1"))))
    [raised] = restored.on_incident(incident(risk="HIGH", version=2, emitted_time=old), old)
    assert (raised.change, raised.level) == ("UPDATED", "DISTRICT")
    [moved] = restored.advance(NOW + MIN)
    assert (moved.change, moved.deadline) == ("UPDATED", NOW + 6 * MIN)
    assert restored.advance(NOW + 5 * MIN) == []
