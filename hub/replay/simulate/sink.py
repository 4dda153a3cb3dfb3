"""Where generated events go: arrival order, delays, duplicates and counts.

Events are made in event time; devices deliver them late and sometimes twice. The sink draws
those delays and duplicates (within the engine's allowed lateness) and releases lines only when
nothing earlier can still arrive, so a big city streams without being held in memory.
"""

from __future__ import annotations

import bisect
import json
import random
from typing import Any

from hub.replay.simulate.config import DEVICE_MAX_DELAY_MS, GRID_MAX_DELAY_MS


def dumps(obj: dict[str, Any]) -> str:
    """One compact interchange JSON line (the byte form every output line has)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class Sink:
    """Collects events as (arrival, seq, line) and keeps ids, event times and counts."""

    def __init__(self, rng: random.Random, duplicate_rate: float, end_ms: int) -> None:
        self.rng = rng
        self.duplicate_rate = duplicate_rate
        self.end_ms = end_ms
        self.pending: list[tuple[int, int, str]] = []
        self.seq = 0
        self.counts: dict[str, int] = {}

    def new_id(self, prefix: str) -> str:
        """A fresh id ``prefix-<20 hex digits>`` from the seeded rng, so a seed reproduces every
        id."""
        return f"{prefix}-{self.rng.getrandbits(80):020x}"

    def emit(self, event: dict[str, Any]) -> bool:
        """Queue one event (and maybe its duplicate); False when past the simulated period."""
        t = event["event_time"]
        if t >= self.end_ms:
            return False
        line = dumps(event)
        kind = event["kind"]
        rng = self.rng
        grid = kind == "grid_report"
        self._push(t + self._delay(grid), line)
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if rng.random() < self.duplicate_rate:
            self._push(t + self._delay(grid), line)
            self.counts["duplicates"] = self.counts.get("duplicates", 0) + 1
        return True

    def _delay(self, grid: bool) -> int:
        r = self.rng.random()
        if grid:
            return int(r * r * r * GRID_MAX_DELAY_MS)
        return int(r**4 * DEVICE_MAX_DELAY_MS)

    def _push(self, arrival: int, line: str) -> None:
        self.pending.append((arrival, self.seq, line))
        self.seq += 1

    def drain_before(self, limit: int | None) -> list[str]:
        """Lines that arrive before ``limit`` (all when None), in arrival order."""
        self.pending.sort()
        cut = (
            len(self.pending)
            if limit is None
            else bisect.bisect_left(self.pending, (limit, -1, ""))
        )
        out = [line for _, _, line in self.pending[:cut]]
        del self.pending[:cut]
        return out
