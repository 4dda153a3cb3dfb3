"""Dispute histories (hub.replay.simulate.disputes): lifecycle, delays, rates, the 7-day rule."""

from __future__ import annotations

from collections import Counter

from hub.replay.simulate.config import DAY_MS, DisputeModel, SimConfig
from hub.replay.simulate.simulator import simulate
from tests.unit.replay.simulate.support import (
    disputes,
    events,
    oracle,
)


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
