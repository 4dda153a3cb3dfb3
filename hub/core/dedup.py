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
        self._seen: dict[tuple[str, str], int] = {}
        self._order: deque[tuple[int, tuple[str, str]]] = deque()
        self._newest = 0
        self.duplicates = 0

    def is_duplicate(self, kind: str, event_id: str, event_time: int) -> bool:
        """True for a repeat within retention; otherwise records the id and returns False."""
        key = (kind, event_id)
        if key in self._seen:
            self.duplicates += 1
            return True
        self._seen[key] = event_time
        self._order.append((event_time, key))
        if event_time > self._newest:
            self._newest = event_time
        self._expire()
        return False

    def _expire(self) -> None:
        horizon = self._newest - self.retention_ms
        order, seen = self._order, self._seen
        # Insertion order is close to event-time order; an id that arrived out of order is kept a
        # little longer, never dropped early.
        while order and order[0][0] < horizon:
            _, key = order.popleft()
            seen.pop(key, None)

    def __len__(self) -> int:
        return len(self._seen)
