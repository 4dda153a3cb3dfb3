from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.core.analytics import AnalyticsConfig, SafetyIndex, SafetyIndexEngine, index_of
from hub.model.events import Building, Event
from hub.model.incidents import PROVISIONAL, RISK_LEVELS, Incident

from .builders import CONFIG, DAY, MONDAY, H, building, directory, incident, report


def run(incidents: list[Incident], reports: Sequence[Event] = (), days: int = 3,
        config: AnalyticsConfig = CONFIG, buildings: tuple[Building, ...] = ()
        ) -> dict[tuple[str, str, str], SafetyIndex]:
    engine = SafetyIndexEngine(config, directory(*buildings))
    for inc in incidents:
        engine.add_incident(inc)
    for event in reports:
        engine.add_report(event)
    return {(r.area_level, r.area_code, r.day_label): r
            for r in engine.close_until(MONDAY + days * DAY)}


def test_the_index_from_its_components() -> None:
    out = run([incident("i1", MONDAY + H, risk="HIGH"), incident("i2", MONDAY + 2 * H, risk="LOW"),
               incident("i3", MONDAY + DAY + H, risk="CRITICAL")],
              [report("r1", MONDAY + 3 * H, "R1")])
    day = out[("GRID", "G1", "2026-01-05")]
    assert (day.incidents_high, day.incidents_low, day.incidents_critical, day.open_disputes) == (
        1, 1, 0, 1)
    assert day.households == day.households_used == 500
    assert day.penalty == pytest.approx((10 + 1 + 2) * 1000 / 500)
    assert day.index == pytest.approx(100 - 26)
    for record in out.values():  # a reader recomputes every record from its fields alone
        assert index_of(record.to_record()) == record.index
    assert out[("CITY", "C1", "2026-01-06")].incidents_critical == 1
    quiet = out[("CITY", "C1", "2026-01-07")]  # no incident; R1 is still open
    assert (quiet.incidents_critical, quiet.incidents_high, quiet.open_disputes) == (0, 0, 1)
    assert quiet.index == 100 - 2 * 1000 / 500


def test_open_disputes_by_the_end_of_each_day() -> None:
    reports = [report("a", MONDAY + H, "R"), report("b", MONDAY + DAY + H, "R", "ACCEPTED"),
               report("c", MONDAY + 2 * DAY + H, "R", "RESOLVED"),
               report("d", MONDAY + DAY + 2 * H, "U", "UNRESOLVED"),
               report("e", MONDAY + 2 * DAY + 5 * H, "U", "MEDIATING")]  # U reopened on day 3
    out = run([], reports, days=4)
    opened = [out[("GRID", "G1", f"2026-01-0{d}")].open_disputes for d in (5, 6, 7, 8)]
    assert opened == [1, 1, 1, 1]  # day 1: R; day 2: R (U closed); day 3: U; day 4: U
    out = run([], reports[:3], days=4)
    assert [out[("GRID", "G1", f"2026-01-0{d}")].open_disputes for d in (5, 6, 7, 8)] == [
        1, 1, 0, 0]


def test_a_city_whose_reports_are_all_hazards_has_its_quiet_days() -> None:
    """Every closed day from the earliest input accepted scores 100 less its open disputes: a
    hazard report is an input too (an outside probe: 18 non-dispute reports, no index at all)."""
    out = run([], [report("h1", MONDAY + H, "H1", category="SAFETY_HAZARD", grid_id="G7",
                          building_id=None)], days=2)
    grid = out[("GRID", "G7", "2026-01-05")]
    assert (grid.index, grid.open_disputes) == (100, 0)
    assert ("GRID", "G7", "2026-01-06") in out


def test_an_area_without_households_uses_the_floor() -> None:
    out = run([incident("i1", MONDAY + H, risk="LOW", b=building("B2", grid="G9",
                                                                   households=0))])
    grid = out[("GRID", "G9", "2026-01-05")]
    assert (grid.households, grid.households_used) == (0, 100)
    assert grid.penalty == pytest.approx(1 * 1000 / 100)


def test_the_index_stops_at_zero() -> None:
    many = [incident(f"i{i}", MONDAY + H + i, risk="CRITICAL") for i in range(30)]
    grid = run(many)[("GRID", "G1", "2026-01-05")]
    assert grid.penalty == pytest.approx(30 * 20 * 1000 / 500) and grid.index == 0.0
    assert index_of(grid.to_record()) == 0.0


def test_confirmed_only_once_at_the_highest_level() -> None:
    versions = [incident("i1", MONDAY + H, risk="LOW"),
                incident("i1", MONDAY + H, risk="HIGH", version=2),
                incident("i1", MONDAY + H, risk="MEDIUM", version=3),
                incident("p1", MONDAY + H, risk="CRITICAL", status=PROVISIONAL)]
    grid = run(versions)[("GRID", "G1", "2026-01-05")]
    assert (grid.incidents_low, grid.incidents_high, grid.incidents_medium,
            grid.incidents_critical) == (0, 1, 0, 0)


def test_weights_come_from_the_configuration() -> None:
    safety = replace(CONFIG.safety, incident_weights={**CONFIG.safety.incident_weights,
                                                      "HIGH": 50.0})
    grid = run([incident("i1", MONDAY + H)], config=replace(CONFIG, safety=safety))[
        ("GRID", "G1", "2026-01-05")]
    assert (grid.weight_high, grid.penalty) == (50.0, pytest.approx(100.0))


def test_every_registry_area_gets_a_record_every_day() -> None:
    out = run([incident("i1", MONDAY + H)], buildings=(building(), building("B2", grid="G2")),
              days=2)
    assert ("GRID", "G2", "2026-01-05") in out and ("GRID", "G2", "2026-01-06") in out
    assert out[("GRID", "G2", "2026-01-05")].index == 100.0


_incident = st.builds(
    lambda n, t, risk, grid: incident(f"i{n}", MONDAY + t, risk=risk,
                                      b=building("B" + grid, grid=grid, households=40)),
    st.integers(0, 10**6), st.integers(0, 3 * DAY - 1), st.sampled_from(RISK_LEVELS),
    st.sampled_from(["G1", "G2"]))


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(_incident, max_size=12), _incident,
       st.lists(st.integers(0, 3 * DAY - 1), max_size=4))
def test_adding_an_incident_never_raises_an_index(base: list[Incident], extra: Incident,
                                                  disputes: list[int]) -> None:
    extra = replace(extra, incident_id="extra")
    reports = [report(f"r{i}", MONDAY + t, f"R{i}") for i, t in enumerate(disputes)]
    before = run(base, reports)
    after = run([*base, extra], reports)
    assert set(before) <= set(after)
    for key, record in before.items():
        assert after[key].index <= record.index, key
    # and it does count: its own grid and day carry a larger penalty
    assert extra.building is not None
    day = f"2026-01-0{5 + (extra.first_event_time - MONDAY) // DAY}"
    key = ("GRID", extra.building.grid_id, day)
    assert after[key].penalty > (before[key].penalty if key in before else 0.0)


def test_versions_that_move_an_incident_count_where_the_highest_puts_it_in_any_order() -> None:
    """v1's snapshot in G1, v2's in G2: the first version taken placed it before, so the two
    orders of one set of versions gave different indexes (an outside probe)."""
    v1 = incident("i1", MONDAY + H, risk="MEDIUM", b=building(grid="G1"))
    v2 = incident("i1", MONDAY + H, risk="MEDIUM", version=2, b=building(grid="G2"),
                  grid_id="G2")
    both = (building(), building("B2", grid="G2"))
    forward, backward = run([v1, v2], buildings=both), run([v2, v1], buildings=both)
    assert forward == backward
    assert forward[("GRID", "G2", "2026-01-05")].incidents_medium == 1
    assert forward[("GRID", "G1", "2026-01-05")].incidents_medium == 0


def test_an_area_has_records_from_the_day_of_its_earliest_input_whenever_it_is_read() -> None:
    """Live, a report of Tuesday in grid G8 read before Monday closed gave G8 a Monday record;
    offline (in time order) it had none (an outside probe). The day of its earliest input
    decides, not when it was read."""
    monday = report("m1", MONDAY + H, "M1", category="SAFETY_HAZARD")
    tuesday = report("t1", MONDAY + DAY + H, "T1", category="SAFETY_HAZARD", grid_id="G8",
                     building_id=None)
    both_read = run([], [monday, tuesday], days=2)
    engine = SafetyIndexEngine(CONFIG, directory())
    engine.add_report(monday)
    in_order = engine.close_until(MONDAY + DAY)
    engine.add_report(tuesday)
    in_order += engine.close_until(MONDAY + 2 * DAY)
    assert {(r.area_code, r.day_label) for r in in_order} == set(
        (code, label) for _, code, label in both_read)
    assert ("GRID", "G8", "2026-01-05") not in both_read
    assert ("GRID", "G8", "2026-01-06") in both_read
