"""hub.reports.tables: parsing, selection, the exact tables, and the charts' numbers."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from hub.reports.tables import (
    REPORTS,
    BadLine,
    display_width,
    format_table,
    funnel_by_period,
    levels_of,
    parse_records,
    risk_series,
    risk_table,
    safety_series,
    safety_table,
    select,
    week_shift,
)
from hub.reports.tables import disputes_table as dt
from tests.unit.reports.records import BASE, DISPUTES, MON, SAFETY, WARNINGS, warning

HUB = Path(__file__).resolve().parents[3] / "hub"


def test_disputes_table_exact_lines() -> None:
    assert dt(select("disputes", DISPUTES, level="DISTRICT")) == [
        "period   area    reported  accepted(受理)  resolved(调处成功)  unresolved  in_progress"
        "  success_%  median_h",
        "2026-01  330102       120              98                  90           3            5"
        "       91.8      30.0",
        "2026-01  330106         3               0                   0           0            0"
        "          -         -",
        "2026-02  330102        40              30                  25           2            3"
        "       83.3      12.4",
    ]


def test_risk_table_exact_lines_with_early_before_final() -> None:
    assert risk_table(select("risk", WARNINGS, level="GRID", early=True)) == [
        "week      area               source       case_type  count  baseline_mean   p_value"
        "  level   warning",
        "2026-W02  GRID-330102001-01  grid_report  DISPUTE        6           0.27  8.28e-04"
        "  MEDIUM  early",
        "2026-W02  GRID-330102001-01  grid_report  DISPUTE        9           0.27  3.10e-06"
        "  HIGH    final",
    ]


def test_safety_table_exact_lines_in_day_then_area_order() -> None:
    assert safety_table(select("safety", SAFETY, level="TOWNSHIP")) == [
        "day         area       index  critical  high  medium  low  open_disputes  households"
        "  used",
        "2026-01-05  330102001  100.0         0     0       0    0              0        1200"
        "  1200",
        "2026-01-05  330102002    0.0         2     3       1    0              5          80"
        "   100",
        "2026-01-06  330102001   88.3         0     1       0    2              0        1200"
        "  1200",
    ]


def test_format_table_aligns_wide_characters_by_display_width() -> None:
    lines = format_table(("名称", "n"), [("ab", "1"), ("平安", "10")], right=(1,))
    assert lines == ["名称   n", "ab     1", "平安  10"]
    assert {display_width(x) for x in lines} == {8}


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"level": "DISTRICT"}, [("330102", "2026-02"), ("330102", "2026-01"),
                             ("330106", "2026-01")]),
    ({"level": "DISTRICT", "area": "330106"}, [("330106", "2026-01")]),
    ({"level": "DISTRICT", "period": "DAY"}, [("330102", "2026-01-05")]),
    ({"level": "DISTRICT", "period": "YEAR"}, []),
    ({"level": "GRID"}, [("GRID-330102001-01", "2026-01")]),
    ({"level": "CITY"}, []),
    ({"level": "GRID", "area": "330102"}, []),
])
def test_select_disputes_by_level_area_and_period(kwargs: dict[str, str],
                                                  expected: list[tuple[str, str]]) -> None:
    got = select("disputes", DISPUTES, **kwargs)  # type: ignore[arg-type]
    assert [(r["area_code"], r["period_label"]) for r in got] == expected


def test_select_risk_final_only_unless_early() -> None:
    finals = select("risk", WARNINGS, level="DISTRICT")
    assert [(r["case_type"], r["final"]) for r in finals] == [("door_held_open", True)]
    both = select("risk", WARNINGS, level="DISTRICT", early=True)
    assert sorted(r["week_label"] for r in both) == ["2026-W01", "2026-W02"]


def test_select_safety_ignores_period_and_keeps_every_day() -> None:
    got = select("safety", SAFETY, level="TOWNSHIP", area="330102001", period="MONTH")
    assert sorted(r["day_label"] for r in got) == ["2026-01-05", "2026-01-06"]


def test_levels_of_names_where_a_code_is() -> None:
    assert levels_of(DISPUTES, "330102") == ["DISTRICT"]
    assert levels_of(DISPUTES, "nowhere") == []


def test_parse_records_reads_lines_and_skips_blank_ones() -> None:
    lines = [json.dumps(r) + "\n" for r in DISPUTES[:2]] + ["\n"]
    assert parse_records(lines, REPORTS["disputes"]) == DISPUTES[:2]


@pytest.mark.parametrize(("line", "detail"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    (json.dumps(SAFETY[0]), "kind 'safety_index', expected 'dispute_funnel'"),
    (json.dumps({k: v for k, v in DISPUTES[0].items() if k != "accepted"}),
     "dispute_funnel without accepted"),
    (json.dumps({**DISPUTES[0], "accepted": "NaN"}), "accepted: expected an integer"),
])
def test_parse_records_names_the_bad_line(line: str, detail: str) -> None:
    good = json.dumps(DISPUTES[0])
    with pytest.raises(BadLine) as info:
        parse_records([good, "", line], REPORTS["disputes"])
    assert info.value.lineno == 3
    assert info.value.detail.startswith(detail)


@pytest.mark.parametrize(("label", "weeks", "expected"), [
    ("2026-W02", -1, "2026-W01"),
    ("2026-W01", -1, "2025-W52"),
    ("2021-W01", -1, "2020-W53"),
    ("2020-W53", 1, "2021-W01"),
    ("2026-W02", -15, "2025-W39"),
])
def test_week_shift_follows_iso_weeks(label: str, weeks: int, expected: str) -> None:
    assert week_shift(label, weeks) == expected


def test_funnel_by_period_sums_areas_per_period_in_time_order() -> None:
    got = funnel_by_period(select("disputes", DISPUTES, level="DISTRICT"))
    assert got == [
        ("2026-01", {"reported": 123, "accepted": 98, "resolved": 90, "unresolved": 3}),
        ("2026-02", {"reported": 40, "accepted": 30, "resolved": 25, "unresolved": 2}),
    ]


def test_risk_series_rebuilds_counts_and_prefers_the_final_warning() -> None:
    [s] = risk_series(select("risk", WARNINGS, level="GRID", early=True))
    assert s.title == "GRID GRID-330102001-01 grid_report:DISPUTE"
    assert s.weeks[0] == "2025-W39" and s.weeks[-1] == "2026-W02" and len(s.weeks) == 16
    assert s.counts == [*BASE, 9]          # the final count (9), not the early one (6)
    assert s.baseline_mean[-1] == pytest.approx(4 / 15)
    assert s.baseline_mean[:-1] == [None] * 15  # their own baselines are not known
    assert s.warned == [(15, "HIGH", True), (15, "MEDIUM", False)]
    low, high = s.band()
    assert low[-1] == 0.0 and high[-1] == pytest.approx(4 / 15 + 2 * (4 / 15) ** 0.5)


def test_risk_series_rolling_mean_where_the_baseline_weeks_are_known() -> None:
    week = 7 * 86_400_000
    first = warning("GRID", "G1", "FIRE", "2026-W02", MON, 9, BASE, 1e-4, "HIGH", True)
    # 2026-W04's baseline: 2025-W41 .. 2026-W03, so 2026-W03 (count 3, not warned) is known
    later = warning("GRID", "G1", "FIRE", "2026-W04", MON + 2 * week, 8,
                    [*BASE[2:], 9, 3], 1e-3, "MEDIUM", True)
    [s] = risk_series([later, first])
    assert s.weeks[-3:] == ["2026-W02", "2026-W03", "2026-W04"]
    assert s.counts[-3:] == [9, 3, 8]
    assert s.baseline_mean[-3] == pytest.approx(4 / 15)    # its record's
    assert s.baseline_mean[-2] == pytest.approx(13 / 15)   # rolled: 2025-W40 .. 2026-W02
    assert s.baseline_mean[-1] == pytest.approx(16 / 15)   # its record's
    assert s.warned == [(15, "HIGH", True), (17, "MEDIUM", True)]


def test_risk_series_leaves_gaps_between_far_apart_warnings() -> None:
    a = warning("CITY", "C", "X", "2026-W02", MON, 9, BASE, 1e-4, "HIGH", True)
    b = warning("CITY", "C", "X", "2026-W30", MON + 28 * 7 * 86_400_000, 9, BASE, 1e-4, "HIGH",
                True)
    [s] = risk_series([a, b])
    assert len(s.weeks) == 44 and s.counts.count(None) == 12


def test_safety_series_per_area_in_day_order() -> None:
    got = safety_series(select("safety", SAFETY, level="TOWNSHIP"))
    assert got == {"330102001": [("2026-01-05", 100.0), ("2026-01-06", 88.3)],
                   "330102002": [("2026-01-05", 0.0)]}


def test_tables_module_is_pure_no_matplotlib_no_file_io() -> None:
    tree = ast.parse((HUB / "reports" / "tables.py").read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module}
    assert "matplotlib" not in imported
    calls = {n.func.id for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert "open" not in calls
