"""Exact-duplicate detection (same source kind and ``event_id``) within a retention in event time.

Retention is measured against the newest event time seen, not the wall clock, so offline runs
and replays drop exactly the same duplicates as the live worker.
"""

from __future__ import annotations

from collections import deque

DEFAULT_RETENTION_MS = 24 * 3_600_000


class DedupLogic:
    """Remembers (kind, event_id) for ``retention_ms`` of event time; memory is bounded by it."""

    def __init__(self, retention_ms: int = DEFAULT_RETENTION_MS) -> None:
        self.retention_ms = retention_ms
        # Keys are flat strings and the expiry order two deques of atoms: none of it is tracked by
        # the cycle collector, which would otherwise re-walk a day of ids again and again.
        self._seen: dict[str, int] = {}
        self._times: deque[int] = deque()
        self._keys: deque[str] = deque()
        self._newest = 0
        self.duplicates = 0

    def is_duplicate(self, kind: str, event_id: str, event_time: int) -> bool:
        """True for a repeat within retention of the event time it was first seen at;
        otherwise records the id and returns False.

        An id given again more than ``retention_ms`` later (a device whose counter started
        over) is a new event whether or not another id has expired the old one meanwhile: the
        answer depends on the two event times only, so arrival order cannot change it.
        """
        key = f"{kind}\x00{event_id}"
        seen = self._seen
        first = seen.get(key)
        if first is not None and abs(event_time - first) <= self.retention_ms:
            self.duplicates += 1
            return True
        seen[key] = event_time
        times = self._times
        times.append(event_time)
        self._keys.append(key)
        if event_time > self._newest:
            self._newest = event_time
        horizon = self._newest - self.retention_ms
        if times[0] < horizon:  # inline: with steady input, about one id expires per call
            keys = self._keys
            # Insertion order is close to event-time order; an id that arrived out of order is
            # kept a little longer, never dropped early.
            while times and times[0] < horizon:
                expired, key = times.popleft(), keys.popleft()
                if seen.get(key) == expired:  # not since given again, later
                    del seen[key]
        return False

    def __len__(self) -> int:
        return len(self._seen)
