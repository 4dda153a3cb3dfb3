"""Where generated events go: arrival order, delays, duplicates and counts.

Events are made in event time; devices deliver them late and sometimes twice. The sink draws
those delays and duplicates (within the engine's allowed lateness) and releases lines only when
nothing earlier can still arrive, so a big city streams without being held in memory.

A device's own events (alarm panels, access controllers, cameras: ``DEVICE_ORDERED``) arrive in
the order it made them, each no earlier than its own delay says: a device sends over one
connection, MQTT keeps a client's order on a topic and Kafka a key's. Events of different
devices overtake each other freely, and grid reports and lookups (a grid worker's pad that was
offline, a visitor's phone, a status update the centre made) are each delayed on their own.
``reorder_devices`` delays every event on its own, as before 2026-12-06: a device's GRANTED swipe
could then arrive after its own FORCED_OPEN five seconds later, which no transport does, and
the hub's provisional alerts were retracted for it (BENCHMARKS.md §5).
"""

from __future__ import annotations

import bisect
import json
import random
from typing import Any

from hub.replay.simulate.config import DEVICE_MAX_DELAY_MS, GRID_MAX_DELAY_MS

#: Kinds whose events one device sends in order (see the module's docstring).
DEVICE_ORDERED = frozenset({"perimeter_alarm", "access_swipe", "face_match"})


def dumps(obj: dict[str, Any]) -> str:
    """One compact interchange JSON line (the byte form every output line has)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class Sink:
    """Collects events as (arrival, seq, line) and keeps ids, event times and counts."""

    def __init__(self, rng: random.Random, duplicate_rate: float, end_ms: int, *,
                 reorder_devices: bool = False) -> None:
        self.rng = rng
        self.duplicate_rate = duplicate_rate
        self.end_ms = end_ms
        self.reorder_devices = reorder_devices
        self.pending: list[tuple[int, int, str]] = []
        #: seq of a pending line of a ``DEVICE_ORDERED`` kind -> (its device, its event time)
        self._device_of: dict[int, tuple[str, int]] = {}
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
        device = event.get("device_id") if kind in DEVICE_ORDERED else None
        self._push(t + self._delay(grid), line, device, t)
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if rng.random() < self.duplicate_rate:
            self._push(t + self._delay(grid), line, device, t)
            self.counts["duplicates"] = self.counts.get("duplicates", 0) + 1
        return True

    def _delay(self, grid: bool) -> int:
        r = self.rng.random()
        if grid:
            return int(r * r * r * GRID_MAX_DELAY_MS)
        return int(r**4 * DEVICE_MAX_DELAY_MS)

    def _push(self, arrival: int, line: str, device: str | None = None, t: int = 0) -> None:
        if device is not None and not self.reorder_devices:
            self._device_of[self.seq] = (device, t)
        self.pending.append((arrival, self.seq, line))
        self.seq += 1

    def _in_device_order(self) -> None:
        """Hold each pending line of a device back until its earlier events have arrived.

        An arrival only moves later, to the latest arrival among the device's events made before
        it, all within the delay bound of their own times, which are no later than its own: a
        line still arrives within ``DEVICE_MAX_DELAY_MS`` of its event time. A device's lines
        released by an earlier drain arrived before every line still pending."""
        device_of = self._device_of
        if not device_of:
            return
        pending = self.pending
        by_device: dict[str, list[tuple[int, int, int]]] = {}
        for i, (_, seq, _) in enumerate(pending):
            found = device_of.get(seq)
            if found is not None:
                by_device.setdefault(found[0], []).append((found[1], seq, i))
        for lines in by_device.values():
            lines.sort()
            latest = (-1, -1)  # (arrival, seq) of the device's line before, in event time
            for _, seq, i in lines:
                arrival, _, line = pending[i]
                if (arrival, seq) < latest:  # a new seq puts it after that line at equal times
                    moved = self.seq
                    self.seq += 1
                    device_of[moved] = device_of.pop(seq)
                    pending[i] = (latest[0], moved, line)
                    latest = (latest[0], moved)
                else:
                    latest = (arrival, seq)

    def drain_before(self, limit: int | None) -> list[str]:
        """Lines that arrive before ``limit`` (all when None), in arrival order."""
        self._in_device_order()
        self.pending.sort()
        cut = (
            len(self.pending)
            if limit is None
            else bisect.bisect_left(self.pending, (limit, -1, ""))
        )
        out = [line for _, _, line in self.pending[:cut]]
        if self._device_of:
            for _, seq, _ in self.pending[:cut]:
                self._device_of.pop(seq, None)
        del self.pending[:cut]
        return out
