from __future__ import annotations

import math
import random
from decimal import Decimal, localcontext

import pytest

from hub.core.analytics import RiskWarning, RiskWarningEngine, poisson_tail
from hub.model.events import Event
from hub.model.incidents import PROVISIONAL, Incident

from .builders import CONFIG, DAY, MONDAY, WEEK, H, building, directory, incident, report

# -- the Poisson tail --------------------------------------------------------------------------


def exact_tail(k: int, mean: float) -> float:
    """P(X >= k) with 60 significant digits: 1 - e^-mean * sum(mean^i / i!, i < k)."""
    with localcontext() as ctx:
        ctx.prec = 60
        m = Decimal(mean)
        head = sum((m**i / math.factorial(i) for i in range(k)), Decimal(0))
        return float(1 - (-m).exp() * head)


def test_p_value_of_five_under_half() -> None:
    assert poisson_tail(5, 0.5) == pytest.approx(1.7211562995584e-4, rel=1e-12)


@pytest.mark.parametrize(("k", "mean"), [
    (0, 3.0), (1, 0.5), (2, 0.5), (5, 0.5), (6, 0.5), (5, 2.0), (3, 10.0), (10, 10.0),
    (12, 1.2), (40, 1.0), (80, 30.0), (150, 100.0), (1, 1e-9),
])  # fmt: skip
def test_p_value_matches_the_exact_series(k: int, mean: float) -> None:
    assert poisson_tail(k, mean) == pytest.approx(exact_tail(k, mean), rel=1e-9)


def test_tiny_p_values_do_not_cancel_to_zero() -> None:
    p = poisson_tail(40, 1.0)
    assert 0 < p < 1e-40
    assert p == pytest.approx(math.exp(-1) / math.factorial(40) * (1 + 1 / 41 + 1 / 41 / 42),
                              rel=1e-4)


# -- warnings ----------------------------------------------------------------------------------

GRID_REPORT_KEY = ("GRID", "G1", "grid_report", "FIRE_HAZARD")


def fire(n: int, week: int, prefix: str = "f") -> list[Event]:
    """``n`` FIRE_HAZARD reports in week ``week`` (0: the week starting MONDAY), an hour apart."""
    start = MONDAY + week * WEEK + DAY
    return [report(f"{prefix}{week}-{i}", start + i * H, f"{prefix}{week}-{i}",
                   category="FIRE_HAZARD") for i in range(n)]


def grid(warnings: list[RiskWarning]) -> list[RiskWarning]:
    return [w for w in warnings if (w.area_level, w.area_code) == ("GRID", "G1")]


def feed(engine: RiskWarningEngine, events: list[Event]) -> list[RiskWarning]:
    out: list[RiskWarning] = []
    for event in events:
        out += engine.add_report(event)
    return out


def history(first_week: int) -> list[Event]:
    """One report a week from ``first_week`` (negative: before MONDAY's week) to week -1."""
    return [e for w in range(first_week, 0) for e in fire(1, w, "h")]


@pytest.mark.parametrize(("first_week", "warns"), [(-3, False), (-4, True), (-15, True)])
def test_no_warning_before_four_weeks_of_history(first_week: int, warns: bool) -> None:
    engine = RiskWarningEngine(CONFIG, directory())
    feed(engine, history(first_week))
    out = grid(feed(engine, fire(8, 0)) + engine.close_until(MONDAY + WEEK))
    assert bool(out) == warns


def test_early_warning_once_then_final() -> None:
    engine = RiskWarningEngine(CONFIG, directory())
    feed(engine, history(-4))
    engine.close_until(MONDAY)
    events = fire(6, 0)
    early = [grid(engine.add_report(e)) for e in events]
    assert [len(w) for w in early] == [0, 0, 0, 0, 1, 0]  # crosses at the 5th, once
    first = early[4][0]
    assert not first.final and first.count == 5 and first.emitted_time == events[4].event_time
    assert first.baseline_counts == (0,) * 11 + (1, 1, 1, 1)
    assert first.baseline_mean == pytest.approx(4 / 15) and first.mean_used == 0.5
    assert first.p_value == pytest.approx(poisson_tail(5, 0.5)) and first.risk_level == "MEDIUM"
    assert (first.route.level, first.route.department_id) == ("GRID", "G1")
    assert grid(engine.close_until(MONDAY + WEEK - 1)) == []  # still running
    final = grid(engine.close_until(MONDAY + WEEK))
    assert len(final) == 1 and final[0].final
    assert final[0].warning_id == first.warning_id
    assert final[0].count == 6 and final[0].risk_level == "HIGH"  # p(6 | 0.5) < 0.0001
    assert final[0].emitted_time == MONDAY + WEEK and final[0].week_label == "2026-W02"


def test_early_warnings_can_be_switched_off() -> None:
    from dataclasses import replace

    engine = RiskWarningEngine(replace(CONFIG, risk=replace(CONFIG.risk, early_warnings=False)),
                               directory())
    feed(engine, history(-4))
    assert feed(engine, fire(6, 0)) == []
    assert len(grid(engine.close_until(MONDAY + WEEK))) == 1


def test_fewer_than_five_never_warn_however_improbable() -> None:
    engine = RiskWarningEngine(CONFIG, directory())
    feed(engine, history(-15))
    assert poisson_tail(4, 0.5) < 0.01
    assert grid(feed(engine, fire(4, 0)) + engine.close_until(MONDAY + WEEK)) == []


def test_a_week_in_line_with_its_baseline_does_not_warn() -> None:
    engine = RiskWarningEngine(CONFIG, directory())
    for w in range(-15, 0):
        feed(engine, fire(6, w, "h"))
    engine.close_until(MONDAY)  # (the first weeks warn: their baselines are mostly empty)
    assert grid(feed(engine, fire(8, 0)) + engine.close_until(MONDAY + WEEK)) == []
    assert poisson_tail(8, 6.0) > 0.01


def test_every_level_of_the_area_warns_with_its_own_route() -> None:
    engine = RiskWarningEngine(CONFIG, directory())
    feed(engine, history(-4))
    out = engine.close_until(MONDAY) + feed(engine, fire(5, 0))
    assert {(w.area_level, w.route.level, w.route.department_id) for w in out} == {
        ("GRID", "GRID", "G1"), ("TOWNSHIP", "TOWNSHIP", "T1"), ("DISTRICT", "DISTRICT", "D1"),
        ("CITY", "CITY", "C1")}


def incidents_of_week(week: int, n: int, rule: str = "perimeter_breach_entry",
                      prefix: str = "i") -> list[Incident]:
    start = MONDAY + week * WEEK + DAY
    return [incident(f"{prefix}{week}-{i}", start + i * H, rule) for i in range(n)]


def test_incidents_count_once_and_only_confirmed() -> None:
    engine = RiskWarningEngine(CONFIG, directory())
    for inc in [i for w in range(-4, 0) for i in incidents_of_week(w, 1, prefix="h")]:
        engine.add_incident(inc)
    week = incidents_of_week(0, 4)
    for inc in week:
        engine.add_incident(inc)
        engine.add_incident(incident(inc.incident_id, inc.first_event_time, version=2))
    for i in range(3):
        engine.add_incident(incident(f"p{i}", MONDAY + DAY, status=PROVISIONAL))
    assert engine.close_until(MONDAY + WEEK) == []  # 4 distinct confirmed: below 5
    counts = dict(engine.series())
    assert sum(counts[k][MONDAY] for k in counts if k[0].level == "GRID") == 4


def test_a_report_counts_once_in_the_week_of_its_first_event() -> None:
    engine = RiskWarningEngine(CONFIG, directory())
    engine.add_report(report("b", MONDAY + WEEK + H, "R", "ACCEPTED", category="FIRE_HAZARD"))
    engine.add_report(report("a", MONDAY + H, "R", category="FIRE_HAZARD"))  # earlier, arrives late
    engine.add_report(report("c", MONDAY + WEEK + 2 * H, "R", "RESOLVED", category="FIRE_HAZARD"))
    grids = {k: v for k, v in engine.series() if k[0].level == "GRID"}
    assert list(grids.values()) == [{MONDAY: 1}]


def test_final_warnings_do_not_depend_on_arrival_order() -> None:
    events = history(-6) + fire(3, -1, "x") + fire(7, 0) + fire(5, 1) + fire(2, 2)
    events += [report("s", MONDAY + 2 * DAY, "S", category="DISPUTE")]

    def finals(order: list[Event]) -> list[RiskWarning]:
        engine = RiskWarningEngine(CONFIG, directory())
        feed(engine, order)
        return [w for w in engine.close_until(MONDAY + 3 * WEEK)]

    expected = finals(events)
    assert expected and all(w.final for w in expected)
    rng = random.Random(7)
    for _ in range(20):
        shuffled = events[:]
        rng.shuffle(shuffled)
        assert finals(shuffled) == expected


def test_versions_that_move_an_incident_count_where_the_highest_puts_it_in_any_order() -> None:
    def counts(order: list[int]) -> dict[str, int]:
        engine = RiskWarningEngine(CONFIG, directory(building(), building("B2", grid="G2")))
        versions = {1: incident("i1", MONDAY + DAY, b=building(grid="G1")),
                    2: incident("i1", MONDAY + DAY, version=2, b=building(grid="G2"),
                                grid_id="G2")}
        for v in order:
            engine.add_incident(versions[v])
        return {key[0].code: series.get(MONDAY, 0) for key, series in engine.series()
                if key[0].level == "GRID"}

    assert counts([1, 2]) == counts([2, 1]) == {"G2": 1}
