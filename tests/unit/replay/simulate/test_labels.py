"""hub/replay/simulate/labels.py: what the simulator writes is what `hub evaluate` reads back."""

from __future__ import annotations

from hub.replay.evaluate import read_labels
from hub.replay.evaluate_trends import read_trend_labels
from hub.replay.simulate.labels import Label, TrendLabel


def test_a_label_line_reads_back_as_the_expected_incident_and_trends_as_trends() -> None:
    label = Label("forced_door", "SITE-0001|D-1", ("ev-1", "ev-2"), "HIGH", 1_733_300_000_000)
    trend = TrendLabel("TOWNSHIP", "330102001", "GRID_REPORT", "FIRE_HAZARD", 1_733_000_000_000,
                       "2024-W49", 16, (2, 1, 3), (("DISTRICT", "330102"),))
    lines = [label.to_json(), trend.to_json()]

    [expected] = read_labels(lines)
    assert (expected.rule_id, expected.key, tuple(expected.event_ids)) == (
        "forced_door", "SITE-0001|D-1", ("ev-1", "ev-2"))
    [planted] = read_trend_labels(lines)
    assert (planted.area_code, planted.case_type, planted.count) == ("330102001", "FIRE_HAZARD", 16)
