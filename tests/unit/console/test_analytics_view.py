"""The console's analytics: a department sees its own area and those below it, never another's."""

from __future__ import annotations

import xml.dom.minidom

from hub.console import pages, plots
from hub.console.accounts import Account
from hub.console.analytics import AnalyticsView
from hub.model.cases import Department
from tests.case_builders import building

D1 = Department("DISTRICT", "D-CW-1")
T1, T2 = Department("TOWNSHIP", "T-CW-1"), Department("TOWNSHIP", "T-CW-2")


def funnel(level: str, code: str, month: int, reported: int = 3) -> dict[str, object]:
    return {"area_level": level, "area_code": code, "period": "MONTH",
            "period_start": month, "period_end": month + 1, "period_label": f"2026-{month:02d}",
            "reported": reported, "accepted": 2, "resolved": 1, "unresolved": 0,
            "in_progress": 1, "success_rate": 0.5, "median_hours_to_resolve": 3.0, "as_of": 0}


def index(level: str, code: str, day: int, value: float) -> dict[str, object]:
    return {"area_level": level, "area_code": code, "day_start": day, "day_end": day + 1,
            "day_label": f"2026-01-{day:02d}", "open_disputes": 1, "index": value}


def view() -> AnalyticsView:
    v = AnalyticsView()
    v.put_building(building("B-1", "T-CW-1", "D-CW-1", grid="G-1"))
    v.put_building(building("B-2", "T-CW-2", "D-CW-1", grid="G-2"))
    v.put("dispute_funnel", funnel("DISTRICT", "D-CW-1", 1))
    v.put("dispute_funnel", funnel("TOWNSHIP", "T-CW-1", 1))
    v.put("dispute_funnel", funnel("TOWNSHIP", "T-CW-2", 1))
    v.put("safety_index", index("GRID", "G-1", 1, 90.0))
    v.put("safety_index", index("GRID", "G-2", 1, 40.0))
    v.put("safety_index", index("TOWNSHIP", "T-CW-1", 1, 88.0))
    v.put("safety_index", index("TOWNSHIP", "T-CW-1", 1, 87.0))  # the same key again: replaced
    return v


def test_a_township_sees_its_area_and_grids_never_its_neighbours() -> None:
    v = view()
    assert {r["area_code"] for r in v.records(T1, "dispute_funnel")} == {"T-CW-1"}
    assert {r["area_code"] for r in v.records(T1, "safety_index")} == {"G-1", "T-CW-1"}
    assert {r["area_code"] for r in v.records(T2, "safety_index")} == {"G-2"}
    assert {r["area_code"] for r in v.records(D1, "dispute_funnel")} == {
        "D-CW-1", "T-CW-1", "T-CW-2"}
    assert v.records(Department("DISTRICT", "D-OTHER"), "dispute_funnel") == []


def test_the_page_shows_the_own_area_and_the_weakest_areas_below() -> None:
    v = view()
    summary = v.summary(T1)
    assert [r["area_code"] for r in summary["funnels"]] == ["T-CW-1"]
    assert [r["index"] for r in summary["index"]] == [87.0]
    assert [r["area_code"] for r in summary["below"]] == ["G-1"]
    html = pages.analytics(Account("t1", "t1", T1, "x"), summary)
    assert "T-CW-2" not in html and "G-2" not in html and "50.0 %" in html
    for svg in (plots.funnel(summary["funnels"]), plots.index_line(summary["index"]),
                plots.funnel([]), plots.index_line([])):
        xml.dom.minidom.parseString(svg)


def test_a_summary_is_computed_once_per_change() -> None:
    """The page and its two plots ask for it on one load: one computation, until data changes."""
    v = view()
    first = v.summary(T1)
    assert v.summary(T1) is first
    v.put("safety_index", index("TOWNSHIP", "T-CW-1", 2, 70.0))
    second = v.summary(T1)
    assert second is not first
    assert [r["index"] for r in second["index"]] == [87.0, 70.0]
    assert v.summary(T2) is not second
