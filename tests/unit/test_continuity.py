"""The hole check each agent runs before handling a batch (pure: stand-in messages)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest

from hub.runtime.continuity import Hole, OffsetContinuity


class TP(NamedTuple):
    topic: str
    partition: int


A, B = TP("hub.src.access_swipe", 0), TP("hub.src.access_swipe", 1)


def msgs(tp: TP, *offsets: int) -> list[Any]:
    return [SimpleNamespace(tp=tp, offset=o) for o in offsets]


def guard(committed: dict[TP, int | None] | None = None,
          earliest: dict[TP, int] | None = None) -> OffsetContinuity:
    async def first(tp: Any) -> int | None:
        return (earliest or {}).get(tp, 0)
    return OffsetContinuity(lambda tp: (committed or {}).get(tp), first)


def check(g: OffsetContinuity, messages: Sequence[Any], assigned: set[TP] | None = None) -> None:
    asyncio.run(g.check(messages, {A, B} if assigned is None else assigned))


def test_contiguous_batches_from_the_commit_pass() -> None:
    g = guard({A: 10})
    check(g, msgs(A, 10, 11, 12) + msgs(B, 0, 1))
    check(g, msgs(A, 13) + msgs(B, 2, 3))


def test_a_hole_inside_a_batch_stops_before_anything_is_handled() -> None:
    g = guard({A: 0})
    with pytest.raises(Hole, match=r"access_swipe/0: offsets 5\.\.71 never reached"):
        check(g, msgs(A, 0, 1, 2, 3, 4, 72, 73))


def test_a_hole_between_batches_and_a_hole_at_the_start_are_caught() -> None:
    g = guard({A: 0})
    check(g, msgs(A, 0, 1))
    with pytest.raises(Hole):
        check(g, msgs(A, 3))
    with pytest.raises(Hole, match=r"offsets 0\.\.71"):  # never committed: from the log's start
        check(guard({}, {A: 0}), msgs(A, 72))
    with pytest.raises(Hole, match=r"offsets 40\.\.41"):  # committed: from the commit
        check(guard({A: 40}), msgs(A, 42))


def test_redelivery_after_a_seek_back_is_not_a_hole() -> None:
    g = guard({A: 0})
    check(g, msgs(A, 0, 1, 2, 3, 4))
    check(g, msgs(A, 2, 3, 4, 5))  # Faust sought back to the commit: repeats, then new ones
    with pytest.raises(Hole):
        check(g, msgs(A, 9))


def test_offsets_deleted_by_retention_are_not_a_hole() -> None:
    g = guard({A: 5}, {A: 100})  # the commit points below the log's start: retention ran
    check(g, msgs(A, 100, 101))


def test_a_revoked_partition_starts_again_from_its_commit() -> None:
    committed: dict[TP, int | None] = {A: 0}
    g = guard(committed)
    check(g, msgs(A, 0, 1, 2))
    g.forget([A])
    committed[A] = 500  # another worker moved it on while it was away
    check(g, msgs(A, 500, 501))


def test_leftovers_of_a_revoked_partition_are_neither_checked_nor_recorded() -> None:
    g = guard({A: 0})
    check(g, msgs(A, 0, 1))
    g.forget([A])  # revoked; its buffered messages still reach the agent during the rebalance
    check(g, msgs(A, 7, 8), assigned={B})
    with pytest.raises(Hole):
        check(g, msgs(A, 9))  # assigned again: the commit (0) is the baseline, 9 skips
