"""Source-partition liveness: notice a partition that stopped moving, fetch again a tail Faust
dropped (:func:`tails_to_reread`), say why, and un-pause it once if Faust's own bookkeeping left
it paused.

Seen in CI (docs/operations.md): after a rebalance a worker kept a source partition with
unprocessed messages but stopped consuming it, logging nothing. Faust fetches only the partitions
in its consumer's "active" set; a partition it paused (recovery, a full stream buffer) and never
resumed — for instance when a second rebalance lands during recovery — is never fetched again.
So the watchdog first looks at Faust's view of the partition: paused or inactive while no
recovery runs is resumed, once; anything else, or a second stall, ends the worker (exit 70) for
its supervisor to restart from the last commit. Either way the log says what Faust thought.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PartitionView:
    """What Faust's consumer believes about one partition (read from its private state)."""

    active: bool
    paused: bool
    buffered: bool
    flow_active: bool
    in_recovery: bool
    read_offset: int | None
    committed: int | None
    acked_head: tuple[int, ...]
    gaps: int

    @property
    def resumable(self) -> bool:
        """Paused or dropped from the fetch set while nothing (recovery, a rebalance) holds it."""
        return self.flow_active and not self.in_recovery and (self.paused or not self.active)

    def __str__(self) -> str:
        return (f"active={self.active} paused={self.paused} buffered={self.buffered} "
                f"flow_active={self.flow_active} in_recovery={self.in_recovery} "
                f"read_offset={self.read_offset} committed={self.committed} "
                f"acked_head={list(self.acked_head)} gaps={self.gaps}")


def view_of(app: Any, tp: Any) -> PartitionView:
    """Faust 0.15's consumer state for ``tp`` (``.get``: its defaultdicts must not grow)."""
    consumer = app.consumer
    active = consumer._active_partitions
    acked = consumer._acked.get(tp) or []
    return PartitionView(
        active=active is None or tp in active,
        paused=tp in consumer._paused_partitions,
        buffered=tp in consumer._buffered_partitions,
        flow_active=bool(consumer.flow_active),
        in_recovery=bool(app.in_recovery),
        read_offset=consumer._read_offset.get(tp),
        committed=consumer._committed_offset.get(tp),
        acked_head=tuple(sorted(acked)[:3]),
        gaps=len(consumer._gap.get(tp) or ()),
    )


@dataclass(frozen=True)
class Progress:
    """One source partition as the watchdog sees it."""

    committed: int | None  # Faust's last commit (None: never)
    since: float  # monotonic seconds when the commit last moved
    end: int | None  # end offset: Faust's highwater, else the broker's (None: unknown)
    position: int | None  # the next offset the agent expects (None: none admitted yet)


def tails_to_reread(progress: dict[Any, Progress], now: float, quiet: float) -> dict[Any, int]:
    """Partitions to fetch again, and from where: offsets remain that the agent never saw, and
    the commit has not moved for ``quiet`` seconds. That is the signature of Faust dropping the
    last messages it fetched (faust-streaming/faust#596): no later message reveals the hole to
    the continuity guard. Re-fetching is always safe; what comes twice is left out as a repeat.
    """
    out: dict[Any, int] = {}
    for tp, p in progress.items():
        if now - p.since < quiet or p.end is None:
            continue
        if p.committed is not None and p.committed >= p.end:
            continue  # caught up
        position = p.position
        if position is None:  # nothing admitted since the assignment: Faust starts at the commit
            position = p.committed if p.committed is not None else 0  # 0: from the log's start
        if position < p.end:
            out[tp] = position
    return out
