from __future__ import annotations

import itertools
import random

import pytest

from hub.core.analytics import DisputeFunnel, DisputeFunnelEngine, LateInput
from hub.model.events import Event

from .builders import CONFIG, DAY, MONDAY, WEEK, H, directory, report


def run(events: list[Event], watermark: int = MONDAY + 400 * DAY) -> list[DisputeFunnel]:
    engine = DisputeFunnelEngine(CONFIG, directory())
    for event in events:
        engine.add_report(event)
    return engine.close_until(watermark)


def pick(records: list[DisputeFunnel], period: str, level: str = "GRID",
         label: str | None = None) -> DisputeFunnel:
    found = [r for r in records if r.period == period and r.area_level == level
             and (label is None or r.period_label == label)]
    assert len(found) == 1, found
    return found[0]


T = MONDAY + 2 * DAY + 9 * H  # Wednesday 09:00 local

HISTORY = [
    # R1: reported, accepted, resolved after 30 h
    report("a1", T, "R1"), report("a2", T + 2 * H, "R1", "ACCEPTED"),
    report("a3", T + 30 * H, "R1", "RESOLVED"),
    # R2: reported only
    report("b1", T + H, "R2"),
    # R3: accepted, mediated, unresolved
    report("c1", T + H, "R3", "ACCEPTED"), report("c2", T + 3 * H, "R3", "MEDIATING"),
    report("c3", T + 4 * H, "R3", "UNRESOLVED"),
    # R4: mediating (accepted, still in progress)
    report("d1", T + 2 * H, "R4"), report("d2", T + 5 * H, "R4", "MEDIATING"),
    # R5: resolved after 10 h (no ACCEPTED: RESOLVED alone makes it accepted)
    report("e1", T + 3 * H, "R5"), report("e2", T + 13 * H, "R5", "RESOLVED"),
    # not a dispute
    report("f1", T, "R6", category="FIRE_HAZARD"),
]


def test_the_funnel_definitions_on_a_hand_made_history() -> None:
    week = pick(run(HISTORY), "WEEK")
    assert (week.reported, week.accepted, week.resolved, week.unresolved, week.in_progress) == (
        5, 4, 2, 1, 1)
    assert week.success_rate == pytest.approx(2 / 4)
    assert week.median_hours_to_resolve == pytest.approx((30 + 10) / 2)
    assert (week.period_start, week.period_end, week.as_of) == (MONDAY, MONDAY + WEEK,
                                                                  MONDAY + WEEK)
    # every level of the building counts the same disputes
    for level in ("TOWNSHIP", "DISTRICT", "CITY"):
        assert pick(run(HISTORY), "WEEK", level).reported == 5


def test_a_day_counts_statuses_as_of_its_end() -> None:
    day = pick(run(HISTORY), "DAY", label="2026-01-07")
    # R1's RESOLVED comes the next day: in progress on its day; R5 resolved 22:00 the same day
    assert (day.reported, day.accepted, day.resolved, day.unresolved, day.in_progress) == (
        5, 4, 1, 1, 2)
    assert day.median_hours_to_resolve == pytest.approx(10)


def test_latest_status_is_by_event_time_not_arrival() -> None:
    resolved_last = [report("x1", T, "R"), report("x3", T + 5 * H, "R", "RESOLVED"),
                     report("x2", T + 3 * H, "R", "MEDIATING")]  # MEDIATING arrives last
    week = pick(run(resolved_last), "WEEK")
    assert (week.resolved, week.in_progress) == (1, 0)
    reopened = [report("y1", T, "R"), report("y3", T + 5 * H, "R", "MEDIATING"),
                report("y2", T + 3 * H, "R", "RESOLVED")]  # RESOLVED arrives last, is older
    week = pick(run(reopened), "WEEK")
    assert (week.resolved, week.in_progress, week.median_hours_to_resolve) == (0, 1, None)


def test_arrival_order_never_changes_the_records() -> None:
    expected = run(HISTORY)
    rng = random.Random(12)
    for _ in range(30):
        shuffled = HISTORY[:]
        rng.shuffle(shuffled)
        assert run(shuffled) == expected


def test_a_report_belongs_to_the_period_of_its_first_event() -> None:
    jan31 = MONDAY + 26 * DAY + 23 * H  # Saturday 31 January 23:00 local
    events = [report("m2", jan31 + 2 * H, "R", "RESOLVED"),  # 1 February 01:00
              report("m1", jan31, "R"), report("m0", jan31 + 30 * 60_000, "R", "ACCEPTED")]
    records = run(events)
    january = pick(records, "MONTH", label="2026-01")
    assert (january.reported, january.accepted, january.resolved, january.in_progress) == (
        1, 1, 0, 1)
    assert not [r for r in records if r.period == "MONTH" and r.period_label == "2026-02"]
    # 2026-01-31T16:01Z is 1 February 00:01 in Shanghai: February's
    february = run([report("n1", 1_769_875_260_000, "R")])
    assert pick(february, "MONTH").period_label == "2026-02"


def test_success_rate_is_null_without_accepted_disputes() -> None:
    week = pick(run([report("r1", T, "R1"), report("r2", T, "R2")]), "WEEK")
    assert (week.reported, week.accepted, week.success_rate) == (2, 0, None)


def test_periods_are_published_when_the_watermark_passes_their_end() -> None:
    engine = DisputeFunnelEngine(CONFIG, directory())
    engine.add_report(report("a", T, "R"))
    assert engine.close_until(T + 10 * H) == []
    out = engine.close_until(MONDAY + 3 * DAY)
    assert {r.period for r in out} == {"DAY"}
    out = engine.close_until(MONDAY + WEEK)
    assert {r.period for r in out} == {"WEEK"}
    assert engine.close_until(MONDAY + WEEK + DAY) == []  # nothing twice


def test_inputs_behind_the_watermark_are_late_and_later_updates_do_not_recount() -> None:
    engine = DisputeFunnelEngine(CONFIG, directory())
    engine.add_report(report("a", T, "R"))
    engine.close_until(MONDAY + 400 * DAY)
    with pytest.raises(LateInput) as info:
        engine.add_report(report("b", T + H, "R2"))
    assert info.value.reason == "LATE"
    engine.add_report(report("c", MONDAY + 401 * DAY, "R", "RESOLVED"))  # R: counted already
    assert engine.close_until(MONDAY + 800 * DAY) == []


def test_a_duplicate_event_counts_once() -> None:
    twice = [report("a", T, "R"), report("a", T, "R")]
    assert pick(run(twice), "WEEK").reported == 1


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_median_of_an_even_count_is_the_mean_of_the_middle(order: tuple[int, ...]) -> None:
    events = [report("a1", T, "A"), report("a2", T + 2 * H, "A", "RESOLVED"),
              report("b1", T, "B"), report("b2", T + 6 * H, "B", "RESOLVED")]
    events += [report("c1", T, "C", "ACCEPTED")]
    chosen = [events[i] for i in order] + events[3:]
    week = pick(run(chosen), "WEEK")
    assert week.median_hours_to_resolve == pytest.approx(4.0)
    assert week.success_rate == pytest.approx(2 / 3)
