"""Event-time progress per source, tracked per origin (the source partition an event came from).

A source's watermark is the newest event time seen minus its allowed lateness. Online, one
internal partition may merge events from several partitions of a source topic, and a consumer may
drain one of them far ahead of another (a replay at full speed does): so each origin keeps its own
clock, and the source only advances as far as its slowest origin that is not idle. An origin not
seen yet holds the source back until it has been quiet for the idle time. An idle origin holds
nothing back while another origin of the source is live; when all are idle, the source moves on
with the quiet wall time from its newest watermark. Offline there is one origin, "".
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

NEG_INF = -(2**62)

#: A gap between two ticks counts for at most this much quiet time: a paused consumer (rebalance,
#: restart, broker outage) must not look like an idle source and push watermarks past a backlog.
MAX_TICK_GAP_MS = 5_000


@dataclass(slots=True)
class SourceClock:
    """One origin's progress: the newest event time seen, and live quiet time since."""

    lateness: int
    idle: int
    max_seen: int | None = None
    quiet_ms: int = 0  # wall time spent ticking with no event from this origin
    last_tick: int | None = None  # wall time of the last tick that vouched for this origin

    def tick(self, wall_ms: int) -> None:
        """A tick vouched that everything from this origin up to ``wall_ms`` has been seen."""
        if self.last_tick is not None and wall_ms > self.last_tick:
            self.quiet_ms += min(wall_ms - self.last_tick, MAX_TICK_GAP_MS)
        if self.last_tick is None or wall_ms > self.last_tick:
            self.last_tick = wall_ms

    def advance(self, newest: int) -> bool:
        """The origin's upstream reports it has seen events up to ``newest`` (event time).

        Online, most lanes get only some of an origin's events (the rest went to other lanes or
        partitions); without this its clock would stand still while it is busy, and hold every
        rule reading the source back until a quiet spell. True when the clock moved.
        """
        if self.max_seen is not None and newest <= self.max_seen:
            return False
        self.max_seen = newest
        self.quiet_ms = 0
        return True

    def watermark(self) -> int:
        """Event time (ms) below which this origin sends nothing more: newest seen minus lateness;
        NEG_INF before its first event."""
        return NEG_INF if self.max_seen is None else self.max_seen - self.lateness


@dataclass(slots=True)
class SourceClocks:
    """All origins of one source kind."""

    lateness: int
    idle: int
    origins: dict[str, SourceClock] = field(default_factory=dict)

    @classmethod
    def create(cls, lateness: int, idle: int, origins: Iterable[str] = ("",)) -> SourceClocks:
        """Clocks for the given origins, known from the start so an origin that never sends still
        holds the watermark back (until idle)."""
        clocks = cls(lateness, idle)
        for origin in origins:
            clocks.origin(origin)
        return clocks

    def origin(self, name: str) -> SourceClock:
        """The clock of origin ``name``, created on first use."""
        clock = self.origins.get(name)
        if clock is None:
            clock = self.origins[name] = SourceClock(self.lateness, self.idle)
        return clock

    def release_bound(self) -> int | None:
        """How far rules may advance for this source; None when nothing constrains it.

        The slowest origin that is not idle decides (one never seen holds it at NEG_INF until
        idle). An idle origin is left out while any is live: it had its idle time to send, and
        its next event is measured against the source's lateness like any other. Counted as
        ``its watermark + quiet time``, an origin whose last event predates the quiet time this
        engine has counted (a restart, a new app id, last year's events on the topic) held live
        traffic back by all that gap: alerts came PROVISIONAL and never CONFIRMED. When every
        origin is idle, the source moves on with the quiet wall time from the newest of them.
        """
        live: int | None = None
        idle: int | None = None
        for clock in self.origins.values():
            if clock.quiet_ms < clock.idle:
                w = clock.watermark()
                if live is None or w < live:
                    live = w
            elif clock.max_seen is not None:
                b = clock.max_seen - clock.lateness + clock.quiet_ms
                if idle is None or b > idle:
                    idle = b
        return live if live is not None else idle

    def tick(self, wall_ms: int, origins: Collection[str] | None = None) -> None:
        """Count quiet time for ``origins`` (all when None): only those a tick vouches for."""
        for name, clock in self.origins.items():
            if origins is None or name in origins:
                clock.tick(wall_ms)

    @property
    def max_seen(self) -> int | None:
        """The newest event time any origin has seen; None before the first event."""
        seen = [c.max_seen for c in self.origins.values() if c.max_seen is not None]
        return max(seen) if seen else None
