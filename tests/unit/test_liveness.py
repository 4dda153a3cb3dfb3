"""The watchdog's reading of Faust's consumer state (pure: a stand-in consumer, no broker)."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from hub.runtime.liveness import Progress, tails_to_reread, view_of

TP = ("hub.src.access_swipe", 3)


def _app(*, active: set[Any] | None, paused: frozenset[Any] = frozenset(),
         in_recovery: bool = False, flow_active: bool = True) -> Any:
    consumer = SimpleNamespace(
        _active_partitions=active,
        _paused_partitions=set(paused),
        _buffered_partitions=set(),
        flow_active=flow_active,
        _read_offset=defaultdict(lambda: None, {TP: 41}),
        _committed_offset={TP: 40},
        _acked=defaultdict(list, {TP: [45, 43, 44, 46]}),
        _gap=defaultdict(list),
    )
    return SimpleNamespace(consumer=consumer, in_recovery=in_recovery)


def test_a_partition_faust_paused_outside_recovery_is_resumable() -> None:
    app = _app(active=set(), paused=frozenset({TP}))
    view = view_of(app, TP)
    assert view.paused and not view.active and view.resumable
    assert view.acked_head == (43, 44, 45) and view.committed == 40 and view.read_offset == 41
    assert "paused=True" in str(view) and "acked_head=[43, 44, 45]" in str(view)


def test_a_partition_dropped_from_the_fetch_set_is_resumable() -> None:
    assert view_of(_app(active={("other", 0)}), TP).resumable


def test_an_active_partition_is_not_resumable_the_worker_must_restart() -> None:
    assert not view_of(_app(active={TP}), TP).resumable
    assert not view_of(_app(active=None), TP).resumable  # None: Faust treats all as active


def test_nothing_is_resumed_while_recovery_or_a_rebalance_holds_the_flow() -> None:
    assert not view_of(_app(active=set(), paused=frozenset({TP}), in_recovery=True), TP).resumable
    assert not view_of(_app(active=set(), paused=frozenset({TP}), flow_active=False), TP).resumable


def test_reading_the_view_does_not_grow_fausts_defaultdicts() -> None:
    app = _app(active=set())
    other = ("hub.src.face_match", 0)
    view_of(app, other)
    assert other not in app.consumer._read_offset and other not in app.consumer._acked


def test_a_partition_is_fetched_again_only_when_its_tail_went_unseen_for_the_quiet_time() -> None:
    now, quiet = 100.0, 10.0
    progress = {
        "quiet-too-short": Progress(committed=5, since=95.0, end=9, position=6),
        "caught-up": Progress(committed=9, since=50.0, end=9, position=9),
        "acks-pending": Progress(committed=5, since=50.0, end=9, position=9),
        "tail-unseen": Progress(committed=5, since=50.0, end=9, position=7),
        "none-admitted": Progress(committed=5, since=50.0, end=9, position=None),
        "never-committed": Progress(committed=None, since=50.0, end=9, position=None),
        "end-unknown": Progress(committed=5, since=50.0, end=None, position=6),
    }
    assert tails_to_reread(progress, now, quiet) == {
        "tail-unseen": 7, "none-admitted": 5, "never-committed": 0}
    assert tails_to_reread(progress, 50.0 + quiet - 0.1, quiet) == {}
