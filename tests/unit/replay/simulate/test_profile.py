"""Preset cities (hub.replay.simulate.profile): the Tai'an year's exact figures, and the
``--profile`` command."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from hub.cli import main
from hub.replay.simulate.profile import taian_year
from hub.replay.simulate.simulator import simulate
from tests.unit.replay.simulate.support import (
    CONFIG,
    CST,
    disputes,
    events,
    oracle,
    run_analytics,
)


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
