"""Back-pressure: the worker pauses its source partitions while the engines hold too many events
waiting for their release, so that its memory follows the watermark, not the backlog.

Pausing changes no result (events are handled in event-time order whenever they are read) and
never waits forever. ``BackPressure`` is a mixin of ``Pipeline``, checked once per batch.
"""

from __future__ import annotations

import logging
import time

from hub.adapters.kafka import Consumer, TopicPartition
from hub.runtime.correlator import Correlator
from hub.runtime.ingest import KIND_OF_TOPIC, Ingestor

log = logging.getLogger(__name__)

#: Back-pressure on a source read faster than the watermark releases it (a flood replayed at full
#: speed while the lane waits out its idle origins' quiet time): with this many events buffered
#: in the engines, waiting for their release, the worker pauses its source partitions, so that
#: its memory follows the watermark, not the backlog. Measured with benchmarks/flood_bench.py
#: (BENCHMARKS.md §6): 200,000 swipes read at ~9,000 events/s had ~130,000 events pending per
#: rule before the first release, ~1.1 KB each in Python objects, and checkpoints of 34 MB.
HOLD_PENDING = 40_000
#: Resume below this many, or once half of what was pending at the pause has been released.
RESUME_PENDING = 20_000
#: Resume after this long in any case (more than the default idle time of a source, 10 s, plus
#: tick gaps): the release may be waiting for events of a paused partition (one origin drained
#: ahead of another), and nothing may wait forever. Not paused again before the backlog has
#: dropped below RESUME_PENDING.
MAX_HOLD_S = 15.0
#: How often the engines' pending events are counted (O(states)).
HOLD_CHECK_S = 0.2
#: Beyond the sources' idle time, how long a caught-up partition counts as still becoming
#: quiet (its vouching rides on the next ticks, one per HUB_TICK_SECONDS).
QUIET_SLACK_S = 2.0


class BackPressure:
    """Pauses and resumes the source partitions by the engines' pending events."""

    correlator: Correlator
    ingestor: Ingestor
    _starts: dict[tuple[str, int], int]
    _caught_up_since: dict[tuple[str, int], float]
    _quiet_s: float | None
    _held: list[TopicPartition]
    _held_at: float
    _held_pending: int
    _hold_armed: bool
    _next_hold_check: float

    def _hold_sources(self, consumer: Consumer) -> None:
        """Pause source partitions while the engines hold more than HOLD_PENDING events
        waiting for their release; resume once they are released (or after MAX_HOLD_S).

        Which ones (``_holdable``) depends on what the release waits for. With a backlog on
        several partitions the release waits for event time, which only reading moves: the
        backlogged partition furthest behind in event time goes on, the others pause until it
        has caught up. Pausing all of them, as before, held a replayed backlog still for
        MAX_HOLD_S with nothing released (worker_bench, 200,000 events: 57,605 pending after
        15 s). A lone backlog (a flood on one door) pauses only while a caught-up partition's
        quiet time runs: then wall time releases it; afterwards its own reading does.

        Pausing changes no result: events are handled in event-time order whenever they are
        read, offsets are committed only for what was handled, and ticks go on (a paused
        partition with a backlog is not vouched quiet; idle ones still are).
        """
        now = time.monotonic()
        if now < self._next_hold_check:
            return
        self._next_hold_check = now + HOLD_CHECK_S
        pending = self.correlator.pending_events()
        if not self._held:
            if pending < RESUME_PENDING:
                self._hold_armed = True
            if pending <= HOLD_PENDING or not self._hold_armed:
                return
            held = self._holdable(consumer, now)
            if held:
                consumer.pause(held)
                self._held, self._held_at, self._held_pending = held, now, pending
                log.info("%d events wait for their release: %d source partition(s) paused",
                         pending, len(held))
            return
        timed_out = now - self._held_at >= MAX_HOLD_S
        if pending < RESUME_PENDING or pending <= self._held_pending // 2 or timed_out:
            if timed_out and pending >= RESUME_PENDING:
                self._hold_armed = False
                log.warning("%d events still wait for their release after %.0fs: source "
                            "partitions resumed", pending, MAX_HOLD_S)
            self._resume_held(consumer)
            return
        # Still held: follow what the release waits for now (a quiet time ran out; the
        # partition behind caught up with the others).
        want = self._holdable(consumer, now)
        key = {(tp.topic, tp.partition) for tp in want}
        go_on = [tp for tp in self._held if (tp.topic, tp.partition) not in key]
        paused = {(tp.topic, tp.partition) for tp in self._held}
        stop = [tp for tp in want if (tp.topic, tp.partition) not in paused]
        if go_on:
            consumer.resume(go_on)
        if stop:
            consumer.pause(stop)
        self._held = want
        if not want:
            log.info("source partitions resumed after %.1fs: nothing left to hold",
                     now - self._held_at)

    def _holdable(self, consumer: Consumer, now: float) -> list[TopicPartition]:
        """The source partitions that pausing helps release (see _hold_sources)."""
        if self._quiet_s is None:
            self._quiet_s = max(self.correlator.pack.policy(kind).idle
                                for kind in KIND_OF_TOPIC.values()) / 1000 + QUIET_SLACK_S
        backlogged: list[TopicPartition] = []
        becoming_quiet: list[tuple[str, int]] = []
        for where, _ in self._source_positions(consumer, now):
            since = self._caught_up_since.get(where)
            if since is not None:
                if now - since < self._quiet_s:
                    becoming_quiet.append(where)
            else:
                backlogged.append(TopicPartition(*where))
        if len(backlogged) < 2:
            return backlogged if backlogged and self._waits_for_quiet(
                backlogged[0], becoming_quiet) else []
        progress = self.ingestor.progress
        behind = min(backlogged, key=lambda tp: (
            progress.get(f"{tp.topic}/{tp.partition}", -1), tp.topic, tp.partition))
        return [tp for tp in backlogged if tp is not behind]

    def _waits_for_quiet(self, lone: TopicPartition, becoming_quiet: list[tuple[str, int]]
                         ) -> bool:
        """Whether a lone backlog's release may wait for a partition becoming quiet: one that
        has shown nothing yet, or is behind the backlog in event time.

        Otherwise the release waits for the backlog itself (the others are ahead of it: a flood
        amid a city's traffic, replayed), and pausing it only stood still: 11.4 s in
        flood_bench --amid (BENCHMARKS.md §6 run 23).
        """
        progress = self.ingestor.progress
        mine = progress.get(f"{lone.topic}/{lone.partition}")
        for topic, partition in becoming_quiet:
            theirs = progress.get(f"{topic}/{partition}")
            if mine is None or theirs is None or theirs < mine:
                return True
        return False

    def _source_positions(self, consumer: Consumer, now: float
                          ) -> list[tuple[tuple[str, int], int | None]]:
        """Each owned source partition with its lag in messages (None: not known yet), and
        ``_caught_up_since`` brought up to date: a partition with nothing left to read is
        caught up since the first time it was seen so; any other is not."""
        owned = [tp for tp in consumer.assignment() if tp.topic in KIND_OF_TOPIC]
        seen: list[tuple[tuple[str, int], int | None]] = []
        for tp in consumer.position(owned) if owned else []:
            where = (tp.topic, tp.partition)
            _, high = consumer.get_watermark_offsets(TopicPartition(*where), cached=True)
            position = tp.offset if tp.offset >= 0 else self._starts.get(where)
            lag = max(0, high - position) if high >= 0 and position is not None else None
            if lag == 0:
                self._caught_up_since.setdefault(where, now)
            else:
                self._caught_up_since.pop(where, None)
            seen.append((where, lag))
        return seen

    def _resume_held(self, consumer: Consumer) -> None:
        held, self._held = self._held, []
        mine = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        held = [tp for tp in held if (tp.topic, tp.partition) in mine]
        if held:
            consumer.resume(held)
        log.info("source partitions resumed after %.1fs", time.monotonic() - self._held_at)


__all__ = ["HOLD_CHECK_S", "HOLD_PENDING", "MAX_HOLD_S", "RESUME_PENDING", "BackPressure"]
