"""Risk warnings scored against planted trends (hub.replay.evaluate_trends, hub evaluate
--warnings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.cli import main
from hub.replay.evaluate_trends import evaluate_trends, read_trend_labels, read_warnings


def trend(area: str = "GRID-1", case: str = "FIRE_HAZARD", week: int = 1_000) -> str:
    return json.dumps({"kind": "risk_trend", "area_level": "GRID", "area_code": area,
                       "case_source": "grid_report", "case_type": case, "week_start": week,
                       "week_label": "2025-W20", "count": 15, "baseline_counts": [2] * 16,
                       "areas": {"TOWNSHIP": "T1", "DISTRICT": "D1", "CITY": "C1"}})


def warning(level: str, code: str, case: str = "FIRE_HAZARD", week: int = 1_000,
            final: bool = True) -> str:
    return json.dumps({"kind": "risk_warning", "warning_id": f"risk-{level}{code}{case}{week}",
                       "area_level": level, "area_code": code, "case_source": "grid_report",
                       "case_type": case, "week_start": week, "week_label": "2025-W20",
                       "count": 15, "p_value": 1e-6, "final": final})


def test_recall_and_precision_per_trend() -> None:
    trends = read_trend_labels([trend(), trend("GRID-2", "OTHER")])
    enclosing = [warning("GRID", "GRID-1"), warning("TOWNSHIP", "T1"), warning("CITY", "C1")]
    ev = evaluate_trends(trends, read_warnings(enclosing))
    assert (ev.recall, ev.precision) == (0.5, 1.0)  # GRID-2 missed; a township echo is explained
    assert [r.recalled for r in ev.results] == [True, False]
    assert [w.area_level for w in ev.results[0].warnings] == ["GRID", "TOWNSHIP", "CITY"]
    # a warning outside any trend (another week, type or area) lowers precision
    outside = [warning("GRID", "GRID-9"), warning("GRID", "GRID-1", week=2_000),
               warning("GRID", "GRID-1", case="DISPUTE")]
    ev = evaluate_trends(trends, read_warnings(enclosing + outside))
    assert ev.precision == 3 / 6 and len(ev.unexplained) == 3 and ev.recall == 0.5
    assert ev.per_type["DISPUTE"].precision == 0.0
    # early warnings are not results; the same warning_id counts once
    early = [warning("GRID", "GRID-7", final=False), warning("GRID", "GRID-1")]
    assert len(read_warnings(enclosing + early)) == 3
    # a recall needs the trend's own area: an enclosing warning alone explains but misses
    ev = evaluate_trends(trends[:1], read_warnings([warning("TOWNSHIP", "T1")]))
    assert (ev.recall, ev.precision) == (0.0, 1.0)


def test_evaluate_command_with_warnings(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    labels, warns = tmp_path / "l.jsonl", tmp_path / "w.jsonl"
    labels.write_text(trend() + "\n")
    warns.write_text(warning("GRID", "GRID-1") + "\n" + warning("GRID", "GRID-9") + "\n")
    assert main(["evaluate", "--expected", str(labels), "--warnings", str(warns)]) == 0
    out = capsys.readouterr().out
    assert "unexplained (1)" in out and "GRID:GRID-9" in out
    assert main(["evaluate", "--expected", str(labels), "--warnings", str(warns),
                 "--min-precision", "0.9"]) == 1
    assert "FAIL: warning precision 0.5000 < --min-precision 0.9" in capsys.readouterr().out
    assert main(["evaluate", "--expected", str(labels), "--warnings", str(warns),
                 "--min-recall", "1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["passed"] and record["trends"]["overall"]["recall"] == 1.0
    assert "overall" not in record  # no incidents were scored
    assert main(["evaluate", "--expected", str(labels)]) == 2
    assert "give --actual" in capsys.readouterr().err
    warns.write_text('{"kind": "incident"}\n')
    assert main(["evaluate", "--expected", str(labels), "--warnings", str(warns)]) == 2
    assert f"{warns}:1: kind" in capsys.readouterr().err
