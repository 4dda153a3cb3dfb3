"""The bookkeeping that keeps the background from ever satisfying a rule by chance.

:class:`Index` remembers when the background did something risky (an intrusion alarm, a DENIED
swipe, a visitor lookup) so the next draw can check a rule's window; :class:`Zones` marks the
spans around injected situations that the background must keep out of.
"""

from __future__ import annotations

import bisect

#: Exclusion-zone flags (what the background may not generate at a site during a zone).
Z_INTRUSION = 1  # intrusion-type perimeter alarms
Z_BAD = 2  # DENIED / FORCED_OPEN / TAILGATE swipes
Z_ENTRY = 4  # GRANTED / TAILGATE swipes (watchlist partners, forced_door's GRANTED)


class Index:
    """Sorted times per key, for the background's "never triggers a rule" checks."""

    def __init__(self) -> None:
        self.times: dict[str, list[int]] = {}

    def count(self, key: str, lo: int, hi: int) -> int:
        """Number of times t with lo <= t <= hi."""
        ts = self.times.get(key)
        if not ts:
            return 0
        return bisect.bisect_right(ts, hi) - bisect.bisect_left(ts, lo)

    def add(self, key: str, t: int) -> None:
        """Record time ``t`` (ms) for ``key``, keeping the list sorted for count()."""
        bisect.insort(self.times.setdefault(key, []), t)


class Zones:
    """Exclusion zones around injected situations: (start, end, flags) per key."""

    def __init__(self) -> None:
        self.by_key: dict[str, list[tuple[int, int, int]]] = {}

    def add(self, key: str, start: int, end: int, flags: int = 0) -> None:
        """Forbid background events at ``key`` during [start, end]; ``flags`` (Z_*) narrow it to
        some kinds of events, 0 forbids every kind."""
        self.by_key.setdefault(key, []).append((start, end, flags))

    def blocks(self, key: str, t: int, flag: int = 0) -> bool:
        """Whether a background event at ``key`` and time ``t`` falls in a zone; with ``flag``, only
        zones carrying that flag count."""
        zones = self.by_key.get(key)
        if not zones:
            return False
        return any(s <= t <= e and (flag == 0 or f & flag) for s, e, f in zones)

    def overlaps(self, key: str, start: int, end: int) -> bool:
        """Whether [start, end] overlaps any zone of ``key``, so planted histories are kept
        apart."""
        zones = self.by_key.get(key)
        return bool(zones) and any(s <= end and start <= e for s, e, _ in zones or ())
