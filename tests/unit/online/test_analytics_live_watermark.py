"""The live analytics' watermark: a slow partition holds it back until that partition is at
its end, so a backlog read at different speeds per partition loses nothing."""

from __future__ import annotations

from pathlib import Path

from hub.core.analytics import load_analytics
from hub.core.analytics.keys import record_key
from hub.online.analytics import Barrier, LiveAnalytics, LiveFeed

REPO = Path(__file__).resolve().parents[3]
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


# -- the live driver's message order (LiveFeed): registry first, barriers for "at its end" -------

REPORTS = ("hub.src.grid_report", 0)
REPORTS_1 = ("hub.src.grid_report", 1)
REGISTRY = ("hub.registry.building", 0)


def _report(report_id: str, time: int) -> dict[str, object]:
    return {"event_id": f"e-{report_id}-{time}", "vendor": "grid", "device_id": "app-1",
            "site_id": "S1", "event_time": time, "report_id": report_id, "grid_id": "G1",
            "building_id": None, "reporter_hash": "h", "category": "ENVIRONMENT",
            "status": "REPORTED", "severity": None, "description": None}


def _feed() -> LiveFeed:
    return LiveFeed(load_analytics(REPO / "topology" / "analytics.yaml"))


def test_reports_wait_until_the_registry_is_read_to_its_end() -> None:
    feed = _feed()
    assert feed.message(REPORTS, 0, "grid_report", _report("r1", T0)) == []
    assert feed.held and feed.live.newest == {}
    # the registry partition has not been read to its end: still held
    feed.barrier(Barrier({REGISTRY: 0, REPORTS: 1}, {REGISTRY: 3, REPORTS: 1}))
    assert feed.held and not feed.registry_read
    feed.barrier(Barrier({REGISTRY: 3, REPORTS: 1}, {REGISTRY: 3, REPORTS: 1}))
    assert feed.registry_read and not feed.held
    assert feed.live.newest == {REPORTS: T0}


def test_a_partition_is_at_its_end_only_if_nothing_newer_was_taken() -> None:
    feed = _feed()
    # an empty registry: read; two report partitions with backlogs
    feed.barrier(Barrier({REGISTRY: 0, REPORTS: 0, REPORTS_1: 0},
                         {REGISTRY: 0, REPORTS: 5, REPORTS_1: 5}))
    feed.message(REPORTS, 0, "grid_report", _report("r1", T0 + 100 * HOUR))
    feed.message(REPORTS_1, 0, "grid_report", _report("r2", T0 + 10 * HOUR))
    # partition 1's position reached its end at the barrier, but offset 1 was taken after it
    # (the barrier was taken before offset 1 arrived): not at its end
    feed.message(REPORTS_1, 1, "grid_report", _report("r3", T0 + 11 * HOUR))
    feed.barrier(Barrier({REPORTS: 1, REPORTS_1: 1}, {REPORTS: 5, REPORTS_1: 1}))
    assert REPORTS_1 not in feed.live.at_end
    lateness = feed.live.config.lateness_ms
    assert feed.live.watermark == T0 + 11 * HOUR - lateness
    # a commit marker after offset 1: position 3 = high-water mark 3, the last offset never
    # delivered; the barrier still sees the end
    feed.barrier(Barrier({REPORTS: 1, REPORTS_1: 3}, {REPORTS: 5, REPORTS_1: 3}))
    assert REPORTS_1 in feed.live.at_end
    assert feed.live.watermark == T0 + 100 * HOUR - lateness


def test_a_partition_not_heard_from_holds_the_watermark_back() -> None:
    feed = _feed()
    feed.barrier(Barrier({REGISTRY: 0, REPORTS: 0, REPORTS_1: 0}, {REGISTRY: 0, REPORTS: 4,
                                                                     REPORTS_1: 9}))
    feed.message(REPORTS, 0, "grid_report", _report("r1", T0 + 100 * HOUR))
    assert feed.live.watermark is None  # partition 1 has a backlog not read yet
    feed.message(REPORTS_1, 0, "grid_report", _report("r2", T0 + 10 * HOUR))
    assert feed.live.watermark == T0 + 10 * HOUR - feed.live.config.lateness_ms


def test_an_input_behind_the_watermark_is_handed_over_for_a_dead_letter() -> None:
    """Its period was published already: the app dead-letters it (reason LATE, with its topic,
    partition and offset). It was only logged at INFO, where an outside probe found it."""
    feed = _feed()
    feed.barrier(Barrier({REGISTRY: 0, REPORTS: 0}, {REGISTRY: 0, REPORTS: 0}))
    dispute = {**_report("r-new", T0 + 60 * 24 * HOUR), "category": "DISPUTE"}
    feed.message(REPORTS, 0, "grid_report", dispute)
    assert feed.take_late() == []
    old = {**_report("r-old", T0), "category": "DISPUTE"}
    feed.message(REPORTS, 1, "grid_report", old)
    [(where, offset, kind, record, exc)] = feed.take_late()
    assert (where, offset, kind, record["report_id"]) == (REPORTS, 1, "grid_report", "r-old")
    assert exc.reason == "LATE" and exc.detail
    assert feed.take_late() == []  # handed over once
