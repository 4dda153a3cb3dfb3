"""Every offset of a partition reaches the agent, in order, or the worker stops before acting.

Faust 0.15's recovery ends with ``flow_control.resume()``, which clears the agents' queues: messages
fetched during the ~100-200 ms of recovery are dropped without being acknowledged
(faust-streaming/faust#596; docs/adr/0004). The fetch position has moved on, so the agent next sees
a later offset: a hole. Acting on the messages after a hole is what turns it into loss: the
correlator keeps, per lane and source partition, the highest source offset it applied and skips
anything at or below it as a redelivery, and skips internal messages at or below the last offset it
applied. So each agent checks its batch before handling it: a message past the next expected offset
of its partition stops the worker (exit 70, nothing committed); its restart resumes at the hole.
A jump over offsets that retention has deleted is not a hole (the data is gone either way).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from typing import Any

log = logging.getLogger(__name__)

Earliest = Callable[[Any], Awaitable[int | None]]
Committed = Callable[[Any], int | None]


class Hole(RuntimeError):
    """Offsets of a partition never reached the agent."""


class OffsetContinuity:
    """The next offset each partition must deliver; tps are Faust TPs (topic, partition)."""

    def __init__(self, committed: Committed, earliest: Earliest) -> None:
        # ``committed``: the consumer's committed offset of a partition (the next offset to read,
        # kept current by Faust); ``earliest``: the partition's first offset still in the log.
        self._committed = committed
        self._earliest = earliest
        self._next: dict[Any, int] = {}

    def forget(self, tps: Iterable[Any]) -> None:
        """Partitions revoked: another worker may move them on; start again from the commit."""
        for tp in tps:
            self._next.pop(tp, None)

    async def check(self, messages: Sequence[Any], assigned: Collection[Any]) -> None:
        """Raise ``Hole`` if a message skips offsets of its partition; else record the batch.

        Messages of partitions no longer ``assigned`` are a revoked partition's leftovers, handed
        over while a rebalance waits for the agents: their new owner reads them again from the
        commit, so they are neither checked nor recorded.
        """
        seen: dict[Any, int] = {}
        for msg in messages:
            tp = msg.tp
            if tp not in assigned:
                continue
            expected = seen.get(tp)
            if expected is None:
                expected = self._next.get(tp)
            if expected is None:
                expected = await self._start(tp)
            if expected is not None and msg.offset > expected:
                earliest = await self._earliest(tp)
                if earliest is None or earliest <= expected:
                    raise Hole(f"{tp.topic}/{tp.partition}: offsets {expected}..{msg.offset - 1} "
                               "never reached the agent (Faust dropped them, see "
                               "hub/runtime/continuity.py)")
                log.warning("%s/%s: offsets %s..%s were deleted by retention before they were "
                            "read", tp.topic, tp.partition, expected, earliest - 1)
            if expected is None or msg.offset + 1 > expected:
                seen[tp] = msg.offset + 1
            else:
                seen[tp] = expected  # a redelivery below what was already seen
        self._next.update(seen)

    async def _start(self, tp: Any) -> int | None:
        committed = self._committed(tp)
        if committed is not None and committed >= 0:
            return committed
        return await self._earliest(tp)
