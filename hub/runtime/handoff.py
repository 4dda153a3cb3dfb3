"""Events handed from ingest to the correlator in memory, so that a frame this worker wrote is not
decoded again when it comes back from the correlation topic.

Ingest decodes every source event (Avro), then writes it into a frame as JSON; before the
handoff, the correlator read the frame back and built an ``Event`` per lane entry from that JSON:
a second decode, a second dict of fields and a second object for an event that two lanes read
(BENCHMARKS.md §3). Under live traffic the frame comes back a batch or two later and every entry
is taken; on a replayed backlog many frames come back later than ``KEEP_BATCHES`` and are decoded.

The frame stays the record of what the correlator applies (after a restart, a rebalance or an
aborted batch it is decoded as before); the handoff only lets the correlator take the object
ingest already made for the same source record, identified by its ``topic/partition/offset``:
the same bytes, so the same event.

Bounded: entries live for the last ``KEEP_BATCHES`` ingest batches. One whose frame goes to a
partition another worker owns, or whose batch was aborted, is never taken and simply ages out.
"""

from __future__ import annotations

from collections import deque

from hub.model.events import Event

#: How many ingest batches' events are kept for the correlator (at most 5,000 each).
KEEP_BATCHES = 4


class EventHandoff:
    """Ingest ``put``s each forwarded event with how many lane entries carry it; the correlator
    ``take``s it once per entry, and the last take drops it."""

    def __init__(self, batches: int = KEEP_BATCHES) -> None:
        self._generations: deque[dict[str, tuple[Event, int]]] = deque([{}], maxlen=batches)

    def new_batch(self) -> None:
        """Start a generation; the oldest one, with whatever nobody took, is dropped."""
        self._generations.append({})

    def put(self, src: str, event: Event, uses: int) -> None:
        """``event`` as decoded from the source record ``src`` (topic/partition/offset), for
        ``uses`` lane entries."""
        self._generations[-1][src] = (event, uses)

    def take(self, src: str) -> Event | None:
        """The event ingest made from ``src``, or None (decode the frame's copy instead)."""
        for generation in reversed(self._generations):
            slot = generation.get(src)
            if slot is not None:
                event, uses = slot
                if uses <= 1:
                    del generation[src]
                else:
                    generation[src] = (event, uses - 1)
                return event
        return None

    def __len__(self) -> int:
        """Events held and not yet taken (the tests read it)."""
        return sum(len(g) for g in self._generations)
