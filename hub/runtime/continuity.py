"""Offset continuity: an agent handles each partition's offsets in order, with no holes.

Faust 0.15's recovery ends by clearing the agents' queues (``flow_control.resume()``,
faust-streaming/faust#596), and a rebalance clears them too: messages it had already fetched
vanish un-acknowledged, and the agent next sees later offsets. Acting on those later offsets is
what lost events in the crash test: the correlator's repeat checks (the highest source offset
applied per lane, the highest correlate offset per partition) took the dropped events' eventual
redelivery for repeats, and the ticks vouched for a source whose events were still missing.

So before a batch is handled, :meth:`Continuity.admit` puts it in order per partition: a message
past the next expected offset means a hole, and the hole's records are read again at once (a
separate reader, :mod:`hub.adapters.range_reader`) and handled first, in offset order; a message
below it was handled already in this assignment and is left out. After the batch is delivered,
:meth:`settle` marks the re-read offsets acknowledged in Faust so its commit moves past the hole.
The next expected offset starts, for each partition and assignment, where Faust's fetch starts:
the group's committed offset as the broker has it (the log's first offset if the group never
committed). Not Faust's own copy: a revocation drops it before the agents' last batches are done.
Messages of partitions this worker no longer owns (a batch that straddled a rebalance)
are left out too: their new owner reads them from the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

log = logging.getLogger(__name__)

TP = tuple[str, int]


class Continuity:
    def __init__(
        self,
        *,
        agent: str,
        starts: Callable[[list[TP]], Awaitable[dict[TP, int]]],
        owned: Callable[[], Collection[TP]],
        read_range: Callable[[str, int, int, int], Awaitable[Sequence[Any]]],
        mark_acked: Callable[[TP, list[int]], None],
        on_refetched: Callable[[int], None] = lambda n: None,
        on_left_out: Callable[[str, int], None] = lambda why, n: None,
    ) -> None:
        self.agent = agent
        self._starts, self._owned = starts, owned
        self._read_range, self._mark_acked = read_range, mark_acked
        self._on_refetched, self._on_left_out = on_refetched, on_left_out
        self._next: dict[TP, int] = {}
        self._unsettled: dict[TP, list[int]] = {}

    def reset(self) -> None:
        """A rebalance: Faust fetches every partition from its commit again."""
        self._next.clear()
        self._unsettled.clear()

    def position(self, tp: TP) -> int | None:
        """The next offset the agent expects of ``tp`` in this assignment (None: none seen)."""
        return self._next.get(tp)

    async def admit(self, events: Sequence[Any]) -> list[Any]:
        """The batch in per-partition offset order, holes filled, repeats and strays left out."""
        out: list[Any] = []
        repeats = strays = 0
        owned = self._owned()  # once a batch: Faust builds a new set per call
        unknown = sorted({tp for e in events
                          if (tp := (e.message.topic, e.message.partition)) in owned
                          and tp not in self._next})
        starts = await self._starts(unknown) if unknown else {}
        for ev in events:
            msg = ev.message
            tp = (msg.topic, msg.partition)
            if tp not in owned:
                strays += 1
                continue
            expected = self._next.get(tp)
            if expected is None:
                expected = starts[tp]
            offset = msg.offset
            if offset < expected:
                repeats += 1
                continue
            if offset > expected:
                fetched = await self._read_range(tp[0], tp[1], expected, offset)
                log.warning("%s: %s/%d skipped offsets [%d, %d) (dropped by Faust); read "
                            "%d records of it again", self.agent, tp[0], tp[1], expected, offset,
                            len(fetched))
                out.extend(fetched)
                self._unsettled.setdefault(tp, []).extend(range(expected, offset))
                self._on_refetched(len(fetched))
            out.append(ev)
            self._next[tp] = offset + 1
        if repeats:
            self._on_left_out("repeat", repeats)
        if strays:
            self._on_left_out("not_owned", strays)
        return out

    def settle(self) -> None:
        """The admitted batch is delivered: let Faust's commit pass the holes it filled."""
        unsettled, self._unsettled = self._unsettled, {}
        owned = self._owned() if unsettled else ()
        for tp, offsets in unsettled.items():
            if tp in owned:
                self._mark_acked(tp, offsets)
