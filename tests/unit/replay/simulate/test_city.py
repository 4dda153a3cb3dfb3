"""The simulated city (hub.replay.simulate.city): grids, townships, households."""

from __future__ import annotations

import json
from collections import Counter

from tests.unit.replay.simulate.support import (
    sim,
)


def test_grids_hold_about_300_households() -> None:
    reg = [json.loads(line) for line in sim(2, 120, 1).registry_lines]
    per_grid = Counter()
    for r in reg:
        per_grid[r["grid_id"]] += r["households"]
    full = sorted(per_grid.values())[1:]  # the last grid may be a remainder
    assert all(250 <= n <= 560 for n in full), full
    assert 260 <= sum(full) / len(full) <= 420
