"""What the engine's calls return (hub.core.outcomes): one fresh StepResult per call, counters
that start at zero, LATE events that say which rules had moved on."""

from __future__ import annotations

import dataclasses

from hub.core.engine import CorrelationEngine
from hub.core.outcomes import EngineStats, LateEvent, StepResult
from tests.unit.core.helpers import T0, default_pack, engine_for, swipe


def test_each_step_result_starts_empty_and_owns_its_lists() -> None:
    a, b = StepResult(), StepResult()
    a.incidents.append(None)  # type: ignore[arg-type]
    assert b.incidents == [] and b.late == [] and b.duplicate is False
    assert a.late is not b.late


def test_engine_stats_start_at_zero() -> None:
    assert set(dataclasses.asdict(EngineStats()).values()) == {0}


def test_the_engine_re_exports_its_results_from_their_old_import_path() -> None:
    from hub.core import engine

    assert (engine.StepResult, engine.LateEvent, engine.EngineStats) == (
        StepResult, LateEvent, EngineStats)
    assert engine.__all__ == ["CorrelationEngine", "EngineStats", "LateEvent", "StepResult"]


def test_a_late_event_for_its_whole_source_names_no_rules_and_the_watermark() -> None:
    engine: CorrelationEngine = engine_for(default_pack())
    engine.process(swipe("s1", 60_000, "DENIED"))
    result = engine.process(swipe("s0", 29_999, "DENIED"))
    assert result.late == [LateEvent(result.late[0].event, (), T0 + 30_000)]
    assert engine.stats.late == 1 and engine.stats.events == 2
