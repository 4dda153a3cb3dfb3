"""The live analytics' watermark: a slow partition holds it back until that partition is at
its end, so a backlog read at different speeds per partition loses nothing."""

from __future__ import annotations

from pathlib import Path

from hub.core.analytics import load_analytics
from hub.core.analytics.keys import record_key
from hub.online.analytics import LiveAnalytics

REPO = Path(__file__).resolve().parents[2]
HOUR = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01 08:00 Asia/Shanghai


def test_the_slowest_running_partition_sets_the_watermark() -> None:
    live = LiveAnalytics(load_analytics(REPO / "topology" / "analytics.yaml"))
    lateness = live.config.lateness_ms
    live._saw(("hub.src.grid_report", 0), T0 + 100 * HOUR)
    live._saw(("hub.src.grid_report", 1), T0 + 10 * HOUR)
    live.advance()
    assert live.watermark == T0 + 10 * HOUR - lateness
    live.at_end.add(("hub.src.grid_report", 1))  # caught up: it no longer holds anyone back
    live.advance()
    assert live.watermark == T0 + 100 * HOUR - lateness


def test_a_record_published_again_has_the_same_key() -> None:
    funnel = {"area_level": "GRID", "area_code": "G1", "period": "WEEK", "period_start": 5}
    assert record_key("dispute_funnel", funnel) == "GRID|G1|WEEK|5"
    assert record_key("safety_index", {"area_level": "CITY", "area_code": "C",
                                       "day_start": 9}) == "CITY|C|DAY|9"
    assert record_key("risk_warning", {"warning_id": "risk-1", "final": True}) == "risk-1|final"
