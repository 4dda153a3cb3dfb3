"""`hub simulate`'s dispute histories, exact dispute plans (the Tai'an profile) and planted
rising trends, and `hub evaluate --warnings` scoring risk warnings against them."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from hub.cli import main
from hub.codec import load_codec
from hub.core.analytics import load_analytics
from hub.model.events import REGISTRY_KIND
from hub.offline.analytics import AnalyticsResult, analyse
from hub.offline.inputs import read_input
from hub.replay.evaluate import (
    evaluate_trends,
    read_labels,
    read_trend_labels,
    read_warnings,
)
from hub.replay.simulate import (
    DAY_MS,
    HOUR_MS,
    DisputeModel,
    SimConfig,
    Simulation,
    simulate,
    taian_year,
)
from hub.replay.simulate import dispute_history as history_of
from tests.unit.test_simulate import oracle

REPO = Path(__file__).resolve().parents[2]
CONFIG = load_analytics(REPO / "topology" / "analytics.yaml")
CST = timezone(timedelta(hours=8))
ORDER = ("REPORTED", "ACCEPTED", "MEDIATING")


def events(s: Simulation) -> list[dict[str, Any]]:
    return [json.loads(line) for line in s.event_lines]


def disputes(evs: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """report_id -> its DISPUTE events by event time (duplicate lines once)."""
    out: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for e in evs:
        if e["kind"] == "grid_report" and e["category"] == "DISPUTE":
            out[e["report_id"]][e["event_id"]] = e
    return {r: sorted(h.values(), key=lambda e: e["event_time"]) for r, h in out.items()}


def run_analytics(s: Simulation, tmp_path: Path, config: Any = CONFIG) -> AnalyticsResult:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(s.lines()) + "\n", encoding="utf-8")
    return analyse(read_input(path, pseudonym_key="k", codec=load_codec(),
                              only=("grid_report", REGISTRY_KIND)), [], config)


# -- defaults are untouched ---------------------------------------------------------------------


def test_the_default_output_is_the_bundled_sample_byte_for_byte() -> None:
    s = simulate(SimConfig(seed=2, buildings=3, days=1, situations_per_rule=1))
    sample = (REPO / "samples" / "scenario.jsonl").read_text(encoding="utf-8")
    assert "\n".join(s.lines()) + "\n" == sample
    labels = (REPO / "samples" / "scenario.labels.jsonl").read_text(encoding="utf-8")
    assert "\n".join(s.label_lines()) + "\n" == labels
    assert s.trends == () and "trends" not in s.counts


# -- dispute histories --------------------------------------------------------------------------


def test_a_history_follows_the_lifecycle_with_increasing_times() -> None:
    import random

    model = DisputeModel()
    rng = random.Random(5)
    ends: Counter[str] = Counter()
    for _ in range(20_000):
        h = history_of(rng, model, 0)
        statuses = [s for s, _ in h]
        times = [t for _, t in h]
        assert times == sorted(set(times))  # strictly increasing
        ends[statuses[-1]] += 1
        assert statuses[:-1] == list(ORDER[: len(statuses) - 1])
        if statuses[-1] == "UNRESOLVED":
            assert "MEDIATING" in statuses
        if len(h) > 1:  # hours to weeks: within the documented clips
            assert 10 * 60_000 <= times[1] <= 72 * HOUR_MS
            assert times[-1] <= (3 + 7 + 45) * DAY_MS
    accepted = ends["RESOLVED"] + ends["UNRESOLVED"]
    assert abs(accepted / 20_000 - 0.97) < 0.01
    assert abs(ends["RESOLVED"] / accepted - 0.9) < 0.01
    for outcome in ("RESOLVED", "UNRESOLVED", "REPORTED"):
        assert history_of(rng, model, 7, outcome)[-1][0] == outcome
    with pytest.raises(ValueError, match="accept rate"):
        DisputeModel(accept_rate=1.5)


def test_background_disputes_get_histories_and_still_trigger_no_rule() -> None:
    s = simulate(SimConfig(seed=3, buildings=20, days=21, inject=False,
                           disputes=DisputeModel(resolve_rate=0.5)))
    evs = events(s)
    hist = disputes(evs)
    assert len(hist) > 20
    finals = Counter(h[-1]["status"] for h in hist.values())
    assert finals["RESOLVED"] and finals["UNRESOLVED"] and finals["MEDIATING"]
    durations = [h[-1]["event_time"] - h[0]["event_time"] for h in hist.values()
                 if h[-1]["status"] == "RESOLVED"]
    assert max(durations) > 2 * DAY_MS  # days, not the old background's hours
    for h in hist.values():
        assert len({e["building_id"] for e in h}) == 1 and h[0]["status"] == "REPORTED"
    assert oracle(evs) == []  # still never three disputes in a building within 7 days


# -- the Tai'an profile -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_taian_year_plans_the_figures_exactly(seed: int) -> None:
    cfg = taian_year(seed)
    s = simulate(cfg)
    start = int(datetime(2025, 1, 1, tzinfo=CST).timestamp() * 1000)
    end = int(datetime(2026, 1, 1, tzinfo=CST).timestamp() * 1000)
    hist = disputes(events(s))
    assert len(hist) == 5_872
    assert all(start <= h[0]["event_time"] and h[-1]["event_time"] < end for h in hist.values())
    finals = Counter(h[-1]["status"] for h in hist.values())
    assert finals == {"RESOLVED": 5_797, "UNRESOLVED": 75}
    others = [e for e in events(s) if e["category"] != "DISPUTE"]
    assert len({e["event_id"] for e in others}) == 1 and others[0]["event_time"] >= end
    assert oracle(events(s)) == []  # no dispute_hotspot incident either


@pytest.mark.slow
def test_taian_year_funnel_is_5872_accepted_5797_resolved(tmp_path: Path) -> None:
    # Only the YEAR period is computed: each period's record is computed on its own (the same
    # YEAR records with all four), and DAY/WEEK/MONTH would take the engine ~50 s instead of 20.
    config = dataclasses.replace(CONFIG, periods=("YEAR",))
    result = run_analytics(simulate(taian_year(1)), tmp_path, config)
    (city,) = [d for d in result.disputes if d.area_level == "CITY" and d.period == "YEAR"]
    assert (city.period_label, city.accepted, city.resolved) == ("2025", 5_872, 5_797)
    assert (city.reported, city.unresolved, city.in_progress) == (5_872, 75, 0)
    assert city.success_rate is not None and round(city.success_rate * 100, 1) == 98.7


def test_the_profile_command_and_its_usage_errors(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t.jsonl"
    assert main(["simulate", "--profile", "taian-year", "--seed", "1", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == "\n".join(simulate(taian_year(1)).lines()) + "\n"
    capsys.readouterr()
    assert main(["simulate", "--profile", "taian-year", "--days", "3", "--out", str(out)]) == 2
    assert "sets --days itself" in capsys.readouterr().err
    assert main(["simulate", "--profile", "taian-year", "--start", "2025-03-03",
                 "--out", str(out)]) == 2
    assert "1 January" in capsys.readouterr().err
    assert main(["simulate", "--buildings", "3", "--out", str(out)]) == 2
    assert "--buildings and --days are required" in capsys.readouterr().err


# -- planted trends and their scoring -----------------------------------------------------------


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
