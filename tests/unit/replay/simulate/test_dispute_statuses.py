"""hub/replay/simulate/dispute_statuses.py: a dispute's status history follows the lifecycle."""

from __future__ import annotations

from collections import Counter

import pytest

from hub.replay.simulate.config import DAY_MS, HOUR_MS, DisputeModel
from hub.replay.simulate.dispute_statuses import dispute_history as history_of
from tests.unit.replay.simulate.support import ORDER


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
