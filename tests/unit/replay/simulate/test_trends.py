"""Planted rising trends (hub.replay.simulate.trends): labels, and the engines recall them."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from hub.replay.evaluate import read_labels
from hub.replay.evaluate_trends import evaluate_trends, read_trend_labels, read_warnings
from hub.replay.simulate.config import DAY_MS, SimConfig
from hub.replay.simulate.simulator import simulate
from tests.unit.replay.simulate.support import (
    CST,
    events,
    run_analytics,
)


def test_trends_need_enough_weeks() -> None:
    with pytest.raises(ValueError, match="--days 120"):
        simulate(SimConfig(seed=1, buildings=4, days=60, trends=1))


def test_planted_trends_are_labelled_and_old_label_readers_skip_them() -> None:
    s = simulate(SimConfig(seed=4, buildings=6, days=130, inject=False, background=False,
                           trends=2))
    lines = list(s.label_lines())
    assert [json.loads(x)["kind"] for x in lines] == ["risk_trend"] * 2
    assert read_labels(lines) == []
    trends = read_trend_labels(lines)
    for t, label in zip(trends, s.trends, strict=True):
        assert (t.area_code, t.case_type, t.week_start) == (
            label.area_code, label.case_type, label.week_start)
        assert datetime.fromtimestamp(t.week_start / 1000, tz=CST).strftime("%a %H:%M") == (
            "Mon 00:00")
        assert label.count >= 14 and max(label.baseline_counts) <= 4
        assert len(label.baseline_counts) >= 16
    evs = events(s)
    for label in s.trends:  # the rising week holds exactly the planted reports (no background)
        week = {e["report_id"] for e in evs if e["status"] == "REPORTED"
                and e["grid_id"] == label.area_code
                and e["category"] == label.case_type
                and label.week_start <= e["event_time"] < label.week_start + 7 * DAY_MS}
        assert len(week) == label.count


def test_the_engines_recall_planted_trends_on_a_simulated_city(tmp_path: Path) -> None:
    s = simulate(SimConfig(seed=3, buildings=6, days=126, trends=3))
    result = run_analytics(s, tmp_path)
    warnings = read_warnings(json.dumps(w.to_record()) for w in result.warnings)
    ev = evaluate_trends(read_trend_labels(s.label_lines()), warnings)
    assert ev.overall.expected == 3 and ev.recall == 1.0
    assert all(r.recalled for r in ev.results)
    assert ev.explained >= 3 and ev.precision <= 1.0


def test_without_background_the_trends_are_the_only_warnings(tmp_path: Path) -> None:
    s = simulate(SimConfig(seed=8, buildings=12, days=140, inject=False, background=False,
                           trends=4))
    result = run_analytics(s, tmp_path)
    warnings = read_warnings(json.dumps(w.to_record()) for w in result.warnings)
    ev = evaluate_trends(read_trend_labels(s.label_lines()), warnings)
    assert (ev.recall, ev.precision) == (1.0, 1.0)
    assert ev.unexplained == []
