"""The console's read model: jurisdiction, order, filters and the plots' numbers."""

from __future__ import annotations

import xml.dom.minidom
from pathlib import Path

import pytest

from hub.console import plots
from hub.console.board import Board, Filters
from hub.core.cases import ActionRejected, CaseBook, load_dispatch
from hub.model.cases import Department
from tests.case_builders import action, incident

NOW = 1_767_225_600_000
MIN = 60_000


def change(iid: str, version: int, *, state: str = "OPEN", level: str = "TOWNSHIP",
           code: str = "T-CW-1", risk: str = "HIGH", deadline: int | None = NOW + 5 * MIN,
           change: str = "OPENED", time: int = NOW, action: str | None = None
           ) -> dict[str, object]:
    return {"incident_id": iid, "version": version, "change": change, "state": state,
            "level": level, "department_code": code, "risk_level": risk,
            "rule_id": "perimeter_breach_entry", "deadline": deadline, "time": time,
            "actor": None, "action": action, "assignee": None, "note": None, "escalations": []}


def board_with(*items: tuple[str, str, str]) -> Board:
    """(incident id, township, risk) cases opened at their townships."""
    board = Board()
    for iid, township, risk in items:
        board.apply_incident(incident(iid, risk=risk, township=township, emitted=NOW).to_record())
        board.apply_case(change(iid, 1, code=township, risk=risk))
    return board


T1, T2 = Department("TOWNSHIP", "T-CW-1"), Department("TOWNSHIP", "T-CW-2")
D1 = Department("DISTRICT", "D-CW-1")


def test_a_department_sees_its_own_area_and_below_never_a_neighbours() -> None:
    board = board_with(("inc-a", "T-CW-1", "HIGH"), ("inc-b", "T-CW-2", "HIGH"))
    assert [r["incident_id"] for r in board.rows(T1)] == ["inc-a"]
    assert [r["incident_id"] for r in board.rows(T2)] == ["inc-b"]
    assert [r["incident_id"] for r in board.rows(D1)] == ["inc-a", "inc-b"]
    assert board.visible(T1, "inc-b") is None and board.visible(T1, "inc-a") is not None
    assert board.rows(Department("DISTRICT", "D-OTHER")) == []
    assert board.rows(Department("GRID", "G-CW-1")) == []  # the case sits above the grid


def test_an_escalated_case_leaves_the_township_board() -> None:
    board = board_with(("inc-a", "T-CW-1", "HIGH"))
    board.apply_case(change("inc-a", 2, level="DISTRICT", code="D-CW-1", change="ESCALATED"))
    assert board.rows(T1) == [] and board.visible(T1, "inc-a") is None
    [row] = board.rows(D1)
    assert (row["level"], row["version"]) == ("DISTRICT", 2)


def test_rows_are_ordered_by_risk_then_deadline_and_filtered() -> None:
    board = board_with(("inc-low", "T-CW-1", "LOW"), ("inc-crit", "T-CW-1", "CRITICAL"),
                       ("inc-high", "T-CW-1", "HIGH"))
    board.apply_case(change("inc-high2", 1, deadline=NOW + MIN))
    board.apply_incident(incident("inc-high2", emitted=NOW).to_record())
    assert [r["incident_id"] for r in board.rows(D1)] == ["inc-crit", "inc-high2", "inc-high",
                                                          "inc-low"]
    assert [r["incident_id"] for r in board.rows(D1, Filters(risk="LOW"))] == ["inc-low"]
    board.apply_case(change("inc-low", 2, state="RESOLVED", deadline=None, change="ACTION",
                            action="RESOLVE", time=NOW + 3 * MIN))
    assert "inc-low" not in [r["incident_id"] for r in board.rows(D1)]
    assert "inc-low" in [r["incident_id"] for r in board.rows(D1, Filters(active_only=False))]


def test_a_change_seen_twice_counts_once_and_order_of_topics_does_not_matter() -> None:
    board = Board()
    board.apply_case(change("inc-a", 1))  # the case before its incident
    board.apply_case(change("inc-a", 1))
    board.apply_incident(incident("inc-a", emitted=NOW).to_record())
    entry = board.visible(D1, "inc-a")
    assert entry is not None and len(entry.history) == 1 and entry.incident is not None


def test_stats_count_opened_per_hour_open_per_level_and_time_to_acknowledge() -> None:
    board = board_with(("inc-a", "T-CW-1", "HIGH"), ("inc-b", "T-CW-1", "LOW"))
    board.apply_case(change("inc-a", 2, state="ACKNOWLEDGED", deadline=None, change="ACTION",
                            action="ACKNOWLEDGE", time=NOW + 4 * MIN))
    stats = board.stats(D1, NOW + 30 * MIN)
    assert stats["per_hour"]["HIGH"][23] == 1 and stats["per_hour"]["LOW"][23] == 1
    assert stats["open_per_level"] == {"GRID": 0, "TOWNSHIP": 2, "DISTRICT": 0, "CITY": 0}
    assert stats["to_ack_minutes"] == [4.0]
    for svg in (plots.hourly(stats["per_hour"], stats["start"]),
                plots.open_per_level(stats["open_per_level"]),
                plots.time_to_acknowledge(stats["to_ack_minutes"])):
        xml.dom.minidom.parseString(svg)  # well-formed, whatever the labels hold


def test_the_board_shows_a_case_to_the_units_the_casework_lets_act() -> None:
    """A later version of an incident may name another building (more evidence): the case keeps
    the units it opened with, in the casework and, through CaseChange.chain, on the board. The
    board once moved it to the new township, which the casework then refused to hear."""
    book = CaseBook(load_dispatch(Path(__file__).resolve().parents[3] / "topology"
                                  / "dispatch.yaml"))
    book.advance(NOW)
    board = Board()
    for version, township, risk in ((1, "T-CW-1", "MEDIUM"), (2, "T-CW-2", "MEDIUM")):
        inc = incident("inc-a", township=township, risk=risk, version=version, emitted=NOW)
        board.apply_incident(inc.to_record())
        for c in book.on_incident(inc, NOW):
            board.apply_case(c.to_record())
    assert board.visible(T1, "inc-a") is not None and board.visible(T2, "inc-a") is None
    with pytest.raises(ActionRejected):
        book.on_action(action("inc-a", "ACKNOWLEDGE", "TOWNSHIP", "T-CW-2", NOW + MIN))
    [acked] = book.on_action(action("inc-a", "ACKNOWLEDGE", "TOWNSHIP", "T-CW-1", NOW + MIN))
    assert acked.state == "ACKNOWLEDGED"


def test_an_unrouted_case_is_on_every_city_board() -> None:
    board = Board()
    record = incident("inc-u", emitted=NOW).to_record()
    record.update(route=None, unrouted=True, building=None, grid_id=None, building_id=None)
    board.apply_incident(record)
    board.apply_case({**change("inc-u", 1, level="DISTRICT", code=None),  # type: ignore[dict-item]
                      "chain": {"GRID": None, "TOWNSHIP": None, "DISTRICT": None,
                                "CITY": None}})
    assert [r["incident_id"] for r in board.rows(Department("CITY", "C-CW"))] == ["inc-u"]
    assert board.rows(D1) == [] and board.visible(D1, "inc-u") is None


def test_a_confirmed_version_supersedes_every_provisional_one_on_the_page() -> None:
    """Each status counts its own versions: CONFIRMED v1 after PROVISIONAL v2 is what stands
    (docs/contracts.md, "Incident status"), whichever order the records come in."""
    records = [incident("inc-p", emitted=NOW, version=v, status=s).to_record()
               for v, s in ((1, "PROVISIONAL"), (2, "PROVISIONAL"), (1, "CONFIRMED"))]
    for order in (records, records[::-1]):
        board = Board()
        board.apply_case(change("inc-p", 1))
        for r in order:
            board.apply_incident(r)
        entry = board.visible(D1, "inc-p")
        assert entry is not None and entry.incident is not None
        assert (entry.incident["status"], entry.incident["version"]) == ("CONFIRMED", 1)


def test_a_row_says_when_its_case_opened_and_whether_it_is_provisional() -> None:
    """An outside probe: the Opened column showed the latest change's time, and a PROVISIONAL
    alert's row looked like a confirmed one."""
    board = Board()
    board.apply_incident(incident("p", township="T-CW-1", emitted=NOW,
                                  status="PROVISIONAL").to_record())
    board.apply_case(change("p", 1))
    board.apply_case(change("p", 2, state="ASSIGNED", change="ACTION", action="ASSIGN",
                            time=NOW + 3 * MIN))
    [row] = board.rows(T1)
    assert (row["opened"], row["time"], row["status"]) == (NOW, NOW + 3 * MIN, "PROVISIONAL")


def test_a_rejected_acknowledgement_is_not_time_to_acknowledge() -> None:
    board = Board()
    board.apply_incident(incident("r", township="T-CW-1", emitted=NOW).to_record())
    board.apply_case(change("r", 1))
    board.apply_case(change("r", 2, change="REJECTED", action="ACKNOWLEDGE", time=NOW + MIN))
    assert board.stats(T1, NOW + 60 * MIN)["to_ack_minutes"] == []
    board.apply_case(change("r", 3, state="ACKNOWLEDGED", change="ACTION",
                            action="ACKNOWLEDGE", time=NOW + 2 * MIN))
    assert board.stats(T1, NOW + 60 * MIN)["to_ack_minutes"] == [2.0]
