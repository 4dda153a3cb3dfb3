"""What the continuity guard needs of Faust 0.15's consumer, in one place.

These read and write the consumer's private bookkeeping (faust/transport/consumer.py, 0.15.3,
pinned in pyproject.toml): re-check them on every Faust upgrade, with the crash tests.
"""

from __future__ import annotations

from typing import Any

from faust.types import TP


def assigned(app: Any) -> set[tuple[str, int]]:
    """The partitions assigned to this worker now (TP tuples compare equal to plain ones)."""
    return set(app.consumer.assignment())


def mark_acked(app: Any, tp: tuple[str, int], offsets: list[int]) -> None:
    """Acknowledge offsets handled from outside Faust's queues (read again after a hole).

    Faust commits only the first run of consecutive acknowledged offsets, so a hole's offsets
    must be acknowledged for the commit to move on: as ``Consumer.ack`` does, without a Message.
    """
    consumer = app.consumer
    key = TP(*tp)
    committed = consumer._committed_offset.get(key)
    index, acked = consumer._acked_index[key], consumer._acked[key]
    for offset in offsets:
        if (committed is None or offset >= committed) and offset not in index:
            index.add(offset)
            acked.append(offset)
