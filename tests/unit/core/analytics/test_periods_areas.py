from __future__ import annotations

from zoneinfo import ZoneInfo

from hub.core.analytics import Area, AreaDirectory, areas_of, period_of
from hub.core.analytics.periods import shift_weeks, weeks_between

from .builders import DAY, MONDAY, WEEK, H, building, incident, report

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_periods_start_at_local_midnight_and_monday() -> None:
    t = MONDAY + 3 * DAY + 23 * H  # Thursday 23:00 local = Thursday 15:00 UTC
    assert period_of(t, "DAY", SHANGHAI).start == MONDAY + 3 * DAY
    week = period_of(t, "WEEK", SHANGHAI)
    assert (week.start, week.end, week.label) == (MONDAY, MONDAY + WEEK, "2026-W02")
    month = period_of(t, "MONTH", SHANGHAI)
    assert month.label == "2026-01" and month.start == MONDAY - 4 * DAY
    assert period_of(t, "YEAR", SHANGHAI).label == "2026"
    # 2026-01-31T16:30Z is 1 February 00:30 in Shanghai
    assert period_of(1_769_877_000_000, "MONTH", SHANGHAI).label == "2026-02"


def test_a_daylight_saving_day_has_23_hours() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    day = period_of(1_774_746_000_000, "DAY", berlin)  # 2026-03-29, clocks go forward
    assert day.label == "2026-03-29" and day.end - day.start == 23 * H


def test_week_arithmetic() -> None:
    assert shift_weeks(MONDAY, -15, SHANGHAI) == MONDAY - 15 * WEEK
    assert weeks_between(MONDAY - 4 * WEEK, MONDAY, SHANGHAI) == 4


def test_areas_from_the_building_at_every_level() -> None:
    b = building(grid="G9", township="T9", district="D9", city="C9")
    assert areas_of(b, "G-other") == (Area("GRID", "G9"), Area("TOWNSHIP", "T9"),
                                       Area("DISTRICT", "D9"), Area("CITY", "C9"))
    assert areas_of(None, "G7") == (Area("GRID", "G7"),)
    assert areas_of(None, None) == ()


def test_reports_without_a_known_building_count_in_their_grid() -> None:
    d = AreaDirectory([building()])
    assert d.report_areas(report("e", MONDAY, "R", building_id=None, grid_id="G5")) == (
        Area("GRID", "G5"),)
    assert d.report_areas(report("e", MONDAY, "R", building_id="B-unknown", grid_id="G5")) == (
        Area("GRID", "G5"),)
    assert Area("CITY", "C1") in d.report_areas(report("e", MONDAY, "R"))


def test_incidents_use_their_snapshot_first() -> None:
    d = AreaDirectory([building("B1", grid="G-now")])
    inc = incident("i1", MONDAY, b=building("B1", grid="G-then"))
    assert d.incident_areas(inc)[0] == Area("GRID", "G-then")


def test_households_sum_over_the_area_and_newer_records_win() -> None:
    d = AreaDirectory([building("B1", households=100), building("B2", grid="G2", households=50)])
    assert d.households(Area("TOWNSHIP", "T1")) == 150
    assert d.households(Area("GRID", "G2")) == 50
    assert not d.put(building("B2", grid="G2", households=7, updated=-1))
    assert d.put(building("B2", grid="G2", households=70, updated=5))
    assert d.households(Area("CITY", "C1")) == 170
    assert d.households(Area("GRID", "nowhere")) == 0


def test_a_report_counts_where_its_building_was_at_its_time() -> None:
    """A building moved from G1 to G2 on Tuesday: Monday's report counts in G1 and Thursday's
    in G2, whichever order the cards were read in (the latest card placed both in G2, and a
    live run read before the move placed both in G1: docs/analytics.md's old limitation)."""
    for cards in ([building(grid="G1"), building(grid="G2", updated=MONDAY + DAY)],
                  [building(grid="G2", updated=MONDAY + DAY), building(grid="G1")]):
        d = AreaDirectory(cards)
        assert d.report_areas(report("m", MONDAY + H, "R1"))[0] == Area("GRID", "G1")
        assert d.report_areas(report("t", MONDAY + 3 * DAY, "R2"))[0] == Area("GRID", "G2")
        latest = d.get("B1")
        assert latest is not None and latest.grid_id == "G2"  # households and units: as now
