"""Events handed from ingest to the correlator in memory, so that a frame this worker wrote is not
decoded again when it comes back from the correlation topic.

Ingest decodes every source event (Avro), then writes it into a frame as JSON; before the
handoff, the correlator read the frame back and built an ``Event`` per lane entry from that JSON:
a second decode, a second dict of fields and a second object for an event that two lanes read
(BENCHMARKS.md §3).

The frame stays the record of what the correlator applies (after a restart, a rebalance or an
aborted batch it is decoded as before); the handoff only lets the correlator take the object
ingest already made for the same source record, identified by its ``topic/partition/offset``:
the same bytes, so the same event.

Bounded by volume, not by batches: an event is kept until ingest has put ``KEEP_EVENTS`` newer
ones (whole batches are dropped, oldest first). Live, a frame comes back a batch or two later and
nothing is held for long; on a replayed backlog the consumer hands out tens of thousands of
prefetched source messages before the frames they caused, so a bound of four batches let 42 % of
the entries be decoded again (worker_bench, 200,000 events: 165,222 of 390,727; with room for
~64 batches, 0). An event whose frame goes to a partition another worker owns, or whose batch was
aborted, is never taken and simply ages out. At most ``KEEP_EVENTS`` events are held: on a
replayed backlog that cost the worker ~19 MB of peak RSS (BENCHMARKS.md §6, run 18).
"""

from __future__ import annotations

from collections import deque

from hub.model.events import Event

#: How many of the newest events ingest put are kept for the correlator.
KEEP_EVENTS = 40_000


class _Held:
    __slots__ = ("batch", "event", "uses")

    def __init__(self, event: Event, uses: int, batch: int) -> None:
        self.event, self.uses, self.batch = event, uses, batch


class EventHandoff:
    """Ingest ``put``s each forwarded event with how many lane entries carry it; the correlator
    ``take``s it once per entry, and the last take drops it."""

    def __init__(self, keep: int = KEEP_EVENTS) -> None:
        self._keep = keep
        #: src -> the event, the takes left and the batch that put it
        self._held: dict[str, _Held] = {}
        #: (batch number, the srcs it put), oldest first
        self._batches: deque[tuple[int, list[str]]] = deque([(0, [])])
        self._put = 0  # srcs put by the batches in _batches

    def new_batch(self) -> None:
        """Start a batch; drop the oldest ones (with whatever nobody took) while the others
        still hold ``keep`` events."""
        batches, held = self._batches, self._held
        while len(batches) > 1 and self._put - len(batches[0][1]) >= self._keep:
            number, srcs = batches.popleft()
            self._put -= len(srcs)
            for src in srcs:
                slot = held.get(src)
                if slot is not None and slot.batch == number:  # not put again by a newer batch
                    del held[src]
        batches.append((batches[-1][0] + 1, []))

    def put(self, src: str, event: Event, uses: int) -> None:
        """``event`` as decoded from the source record ``src`` (topic/partition/offset), for
        ``uses`` lane entries; it replaces a copy an earlier (aborted) batch put."""
        number, srcs = self._batches[-1]
        self._held[src] = _Held(event, uses, number)
        srcs.append(src)
        self._put += 1

    def take(self, src: str) -> Event | None:
        """The event ingest made from ``src``, or None (decode the frame's copy instead)."""
        slot = self._held.get(src)
        if slot is None:
            return None
        if slot.uses <= 1:
            del self._held[src]
        else:
            slot.uses -= 1
        return slot.event

    def __len__(self) -> int:
        """Events held and not yet taken (the tests read it)."""
        return len(self._held)
