"""The continuity guard's logic (hub.runtime.continuity) with an in-memory log standing in for
Kafka. The proof against a real broker and real Faust drops is tests/integration/test_worker_crash
(and test_range_reader for the reader itself)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.adapters.range_reader import FetchedEvent, FetchedMessage
from hub.runtime.continuity import TP, Continuity


@dataclass
class FakeLog:
    """Partitions as lists of offsets (a missing offset is a transaction marker or compacted)."""

    offsets: dict[TP, list[int]]
    committed: dict[TP, int] = field(default_factory=dict)
    owned: set[TP] = field(default_factory=set)
    acked: dict[TP, list[int]] = field(default_factory=dict)
    reads: list[tuple[str, int, int, int]] = field(default_factory=list)
    start_queries: list[list[TP]] = field(default_factory=list)

    def guard(self) -> Continuity:
        async def starts(tps: list[TP]) -> dict[TP, int]:
            self.start_queries.append(list(tps))
            return {tp: self.committed.get(tp, self.offsets[tp][0]) for tp in tps}

        async def read(topic: str, partition: int, start: int, end: int) -> Sequence[Any]:
            self.reads.append((topic, partition, start, end))
            return [FetchedEvent(FetchedMessage(topic, partition, o, None, b"%d" % o))
                    for o in self.offsets[(topic, partition)] if start <= o < end]

        return Continuity(
            agent="test", starts=starts, owned=lambda: self.owned, read_range=read,
            mark_acked=lambda tp, offs: self.acked.setdefault(tp, []).extend(offs),
        )


def ev(topic: str, partition: int, offset: int) -> FetchedEvent:
    return FetchedEvent(FetchedMessage(topic, partition, offset, None, b"%d" % offset))


def coords(events: Sequence[Any]) -> list[tuple[str, int, int]]:
    return [(e.message.topic, e.message.partition, e.message.offset) for e in events]


A, B = ("a", 0), ("b", 1)


def test_contiguous_batches_pass_untouched_and_nothing_is_read_again() -> None:
    log = FakeLog({A: list(range(10))}, committed={A: 0}, owned={A})
    guard = log.guard()
    first = asyncio.run(guard.admit([ev("a", 0, o) for o in range(5)]))
    second = asyncio.run(guard.admit([ev("a", 0, o) for o in range(5, 10)]))
    assert coords(first + second) == [("a", 0, o) for o in range(10)]
    assert log.reads == []


def test_a_hole_is_read_again_in_order_before_the_message_that_revealed_it() -> None:
    log = FakeLog({A: list(range(20)), B: list(range(5))}, committed={A: 3, B: 0}, owned={A, B})
    guard = log.guard()
    batch = [ev("a", 0, 3), ev("b", 1, 0), ev("a", 0, 9), ev("a", 0, 10), ev("b", 1, 1)]
    got = coords(asyncio.run(guard.admit(batch)))
    assert got == [("a", 0, 3), ("b", 1, 0), *[("a", 0, o) for o in range(4, 11)], ("b", 1, 1)]
    assert log.reads == [("a", 0, 4, 9)]
    assert log.start_queries == [[A, B]]  # one query per batch for the partitions first seen
    assert log.acked == {}  # nothing acknowledged before the batch is delivered
    guard.settle()
    assert log.acked == {A: [4, 5, 6, 7, 8]}
    guard.settle()
    assert log.acked == {A: [4, 5, 6, 7, 8]}  # once


def test_the_first_message_after_an_assignment_is_checked_against_the_commit() -> None:
    # Faust dropped the first fetches of a partition (nothing else handled yet).
    log = FakeLog({A: list(range(10))}, committed={A: 2}, owned={A})
    got = coords(asyncio.run(log.guard().admit([ev("a", 0, 6)])))
    assert got == [("a", 0, o) for o in range(2, 7)]


def test_without_a_commit_the_log_start_is_where_reading_began() -> None:
    log = FakeLog({A: list(range(4, 10))}, owned={A})
    got = coords(asyncio.run(log.guard().admit([ev("a", 0, 7)])))
    assert got == [("a", 0, o) for o in range(4, 8)]


def test_offsets_without_records_are_acknowledged_so_the_commit_can_pass_them() -> None:
    log = FakeLog({A: [0, 1, 3, 5, 6]}, committed={A: 0}, owned={A})
    guard = log.guard()
    got = coords(asyncio.run(guard.admit([ev("a", 0, 0), ev("a", 0, 6)])))
    assert got == [("a", 0, 0), ("a", 0, 1), ("a", 0, 3), ("a", 0, 5), ("a", 0, 6)]
    guard.settle()
    assert log.acked == {A: [1, 2, 3, 4, 5]}


def test_repeats_and_partitions_not_owned_are_left_out_and_counted() -> None:
    log = FakeLog({A: list(range(10)), B: list(range(10))}, committed={A: 0, B: 0}, owned={A})
    left: list[tuple[str, int]] = []
    guard = log.guard()
    guard._on_left_out = lambda why, n: left.append((why, n))
    got = coords(asyncio.run(guard.admit(
        [ev("a", 0, 0), ev("a", 0, 1), ev("a", 0, 1), ev("b", 1, 0), ev("a", 0, 0)])))
    assert got == [("a", 0, 0), ("a", 0, 1)]
    assert sorted(left) == [("not_owned", 1), ("repeat", 2)]


def test_a_rebalance_starts_again_from_the_commit() -> None:
    log = FakeLog({A: list(range(10))}, committed={A: 0}, owned={A})
    guard = log.guard()
    asyncio.run(guard.admit([ev("a", 0, o) for o in range(6)]))
    guard.reset()
    log.committed[A] = 4  # Faust committed 0..3 and fetches from 4 again
    got = coords(asyncio.run(guard.admit([ev("a", 0, 4), ev("a", 0, 5), ev("a", 0, 6)])))
    assert got == [("a", 0, 4), ("a", 0, 5), ("a", 0, 6)]
    assert log.reads == []


def test_holes_filled_before_a_rebalance_are_not_acknowledged_after_it() -> None:
    log = FakeLog({A: list(range(10))}, committed={A: 0}, owned={A})
    guard = log.guard()
    asyncio.run(guard.admit([ev("a", 0, 5)]))
    guard.reset()
    guard.settle()
    assert log.acked == {}
