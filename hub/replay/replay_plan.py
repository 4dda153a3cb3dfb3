"""What ``hub replay`` sends, in which order, when, and with which times: the pure planning.

Kept apart from the producer loop (hub.replay.replay) so that ordering, pacing and time shifting
are tested with plain values and an injected clock, and so that readers of recordings
(hub.offline) can share the merge order without importing a Kafka client.

Order
    A recording is sent as a merge of its partitions: each partition's messages keep their recorded
    (offset) order and the partition whose next message has the earliest timestamp goes first.
    Same key, same source partition, so per-key order is kept. An interchange JSON-lines file is
    sent in file order (registry lines are not paced).
Timing
    With a speed N, message i is due at ``start + (ts_i - ts_first) / N`` and never before the
    message sent before it (:class:`Pacer`); ``speed=None`` (``--max``) sends as fast as the
    producer accepts. The clock and the sleep are parameters, so tests never wait.
``--shift-to-now``
    Every message timestamp and every ``timestamp-millis`` field of the decoded value (event_time,
    updated_time, incident and dead-letter times, nested ones too) move by the same offset (see
    :func:`shift_offset`: the replay ends at "now", never ahead of the wall clock), then the value
    is re-encoded with the current schema: windows behave as they did. A value that does not
    decode (a dead letter's garbage) is sent unchanged and counted as ``unshifted``.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hub.model.errors import RecordError
from hub.model.events import REGISTRY_KIND
from hub.settings import DEADLETTER_TOPIC, INCIDENTS_TOPIC, REGISTRY_TOPIC, SOURCE_TOPICS

if TYPE_CHECKING:
    from hub.codec import Codec
    from hub.replay.record import RecordedMessage

_KIND_OF_TOPIC: dict[str, str] = {
    **{topic: kind for kind, topic in SOURCE_TOPICS.items()},
    REGISTRY_TOPIC: REGISTRY_KIND,
    INCIDENTS_TOPIC: "incident",
    DEADLETTER_TOPIC: "dead_letter",
}


@dataclass(frozen=True, slots=True)
class ReplayMessage:
    """One message to send. ``pace`` False: sent at once, not part of the timeline."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp: int
    partition: int | None = None
    kind: str | None = None
    pace: bool = True


class Pacer:
    """Spaces sends by recorded time / speed; monotone, so order is never traded for timing."""

    def __init__(
        self,
        speed: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("--speed must be greater than 0")
        self.speed = speed
        self.clock = clock
        self.sleep = sleep
        self._origin: tuple[float, int] | None = None
        self._last_due = float("-inf")
        self.waited = 0.0

    def due(self, timestamp: int) -> float:
        """Wall-clock time (``clock`` units, seconds) at which a message stamped so is due."""
        if self._origin is None:
            self._origin = (self.clock(), timestamp)
        wall0, ts0 = self._origin
        assert self.speed is not None
        due = max(wall0 + (timestamp - ts0) / 1000.0 / self.speed, self._last_due)
        self._last_due = due
        return due

    def wait_for(self, timestamp: int) -> None:
        """Sleep until the message stamped ``timestamp`` is due at ``speed``; returns at once when
        ``speed`` is None (as fast as possible). Time slept is added to ``waited``."""
        if self.speed is None:
            return
        due = self.due(timestamp)
        while (remaining := due - self.clock()) > 0:
            self.waited += remaining
            self.sleep(remaining)


def shift_offset(first_ts: int, last_ts: int, now_ms: int, speed: float | None) -> int:
    """How far ``--shift-to-now`` moves every time (one offset for all, so windows keep shape).

    Chosen so that no shifted timestamp is ever ahead of the wall clock when its message is sent
    (brokers reject timestamps too far in the future; ``log.message.timestamp.after.max.ms`` is
    1 h by default in Kafka 4), and the replay ends at "now" as a live feed would:

    - ``speed`` None (``--max``): the last message lands at ``now_ms``;
    - ``speed`` <= 1: the first message lands at ``now_ms`` (real time or slower);
    - ``speed`` > 1: the last message lands when the replay will send it,
      ``now_ms + (last_ts - first_ts) / speed``.
    """
    if speed is None:
        return now_ms - last_ts
    if speed <= 1:
        return now_ms - first_ts
    return now_ms + int((last_ts - first_ts) / speed) - last_ts


def shift_times(schema: Any, value: Any, offset: int, names: dict[str, Any] | None = None) -> Any:
    """``value`` with every ``timestamp-millis`` (and ``-micros``) field moved by ``offset`` ms.

    ``schema`` is the self-contained schema JSON of ``value`` (``Codec.schema(kind)``).
    Pure; returns new containers, leaves ``value`` alone.
    """
    names = {} if names is None else names
    if isinstance(schema, str):
        return shift_times(names[schema], value, offset, names) if schema in names else value
    if isinstance(schema, list):
        if value is None:
            return None
        for branch in schema:
            resolved = names.get(branch, branch) if isinstance(branch, str) else branch
            if _fits(resolved, value):
                return shift_times(resolved, value, offset, names)
        return value
    if not isinstance(schema, dict):
        return value
    kind = schema.get("type")
    logical = schema.get("logicalType")
    if logical == "timestamp-millis" and isinstance(value, int) and not isinstance(value, bool):
        return value + offset
    if logical == "timestamp-micros" and isinstance(value, int) and not isinstance(value, bool):
        return value + offset * 1000
    if kind in ("record", "enum", "fixed") and "name" in schema:
        ns = schema.get("namespace", "hub")
        names.setdefault(
            schema["name"] if "." in schema["name"] else f"{ns}.{schema['name']}", schema
        )
        names.setdefault(schema["name"], schema)
    if kind == "record" and isinstance(value, Mapping):
        out = dict(value)
        for f in schema.get("fields", ()):
            if f["name"] in out:
                out[f["name"]] = shift_times(f["type"], out[f["name"]], offset, names)
        return out
    if kind == "array" and isinstance(value, list):
        return [shift_times(schema["items"], v, offset, names) for v in value]
    if kind == "map" and isinstance(value, Mapping):
        return {k: shift_times(schema["values"], v, offset, names) for k, v in value.items()}
    if isinstance(kind, (dict, list)):
        return shift_times(kind, value, offset, names)
    return value


def _fits(schema: Any, value: Any) -> bool:
    if schema == "null":
        return value is None
    if isinstance(schema, dict):
        t = schema.get("type")
        if t == "record":
            return isinstance(value, Mapping)
        if t == "array":
            return isinstance(value, list)
        if t == "map":
            return isinstance(value, Mapping)
        if schema.get("logicalType") or t in ("long", "int"):
            return isinstance(value, int) and not isinstance(value, bool)
        return value is not None
    if schema in ("long", "int"):
        return isinstance(value, int) and not isinstance(value, bool)
    if schema == "string":
        return isinstance(value, str)
    return value is not None


def merge_partitions(messages: Iterable[RecordedMessage]) -> list[RecordedMessage]:
    """Send order for a recording: per-partition order kept, earliest head timestamp first.

    Among equal timestamps the registry's partitions go first: the worker reads the registry to
    its end before each batch, so a card stamped with its events' millisecond was in force for
    them online (a recording of such a run, taken topic by topic, routed them by the old card).
    """
    queues: dict[tuple[str, int], list[RecordedMessage]] = {}
    for m in messages:
        queues.setdefault((m.topic, m.partition), []).append(m)
    # (ts, 0 for the registry, first seen, tp, index)
    heap: list[tuple[int, int, int, tuple[str, int], int]] = []
    order = {tp: n for n, tp in enumerate(queues)}
    for tp, q in queues.items():
        heap.append((q[0].timestamp, tp[0] != REGISTRY_TOPIC, order[tp], tp, 0))
    heapq.heapify(heap)
    out: list[RecordedMessage] = []
    while heap:
        _, registry_last, n, tp, i = heapq.heappop(heap)
        q = queues[tp]
        out.append(q[i])
        if i + 1 < len(q):
            heapq.heappush(heap, (q[i + 1].timestamp, registry_last, n, tp, i + 1))
    return out


def parse_topic_map(pairs: Iterable[str]) -> dict[str, str]:
    """``--map OLD=NEW`` values -> {old: new}."""
    out: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise ValueError(f"--map {pair!r}: write OLD_TOPIC=NEW_TOPIC")
        out[old] = new
    return out


def kind_of_message(m: RecordedMessage | ReplayMessage, codec: Codec) -> str | None:
    """The interchange kind: ``kind`` header, else the value's schema fingerprint, else topic."""
    for k, v in m.headers:
        if k == "kind" and v:
            return v.decode("utf-8", "replace")
    value = m.value
    if value and len(value) >= 10 and value[:2] == b"\xc3\x01":
        writer = codec.writers.get(bytes(value[2:10]))
        if writer is not None:
            return codec.kind_of(writer.name)
    return _KIND_OF_TOPIC.get(m.topic)


@dataclass
class ReplaySummary:
    """What one replay did, for ``hub replay``'s summary line and its exit status (``ok``)."""

    source: str
    messages: int = 0  # queued for sending
    delivered: int = 0
    failed: int = 0
    skipped: int = 0  # left out by --only
    rejected: int = 0  # input lines that could not be read
    unshifted: int = 0  # --shift-to-now could not decode the value
    shift_ms: int = 0
    elapsed: float = 0.0
    waited: float = 0.0
    errors: list[str] = field(default_factory=list)
    by_topic: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing failed to send and every input line could be read: exit status 0."""
        return self.failed == 0 and self.rejected == 0

    @property
    def rate(self) -> float:
        """Messages queued per second of elapsed time."""
        return self.messages / max(self.elapsed, 1e-9)

    def describe(self) -> str:
        """The summary line ``hub replay`` prints: counts, rate, per-topic totals and the first
        errors."""
        topics = ", ".join(f"{t} {n:,}" for t, n in sorted(self.by_topic.items())) or "none"
        text = (
            f"replayed {self.messages:,} messages from {self.source} in {self.elapsed:.1f} s "
            f"({self.rate:,.0f}/s): delivered {self.delivered:,}, failed {self.failed:,}"
        )
        for name in ("skipped", "rejected", "unshifted"):
            if getattr(self, name):
                text += f", {name} {getattr(self, name):,}"
        if self.shift_ms:
            text += f"; times shifted by {self.shift_ms:+,} ms"
        return text + f"; by topic: {topics}"


def shift_message(m: ReplayMessage, offset: int, codec: Codec) -> tuple[ReplayMessage, bool]:
    """``m`` with timestamp and value times moved; False when the value could not be decoded."""
    value, ok = m.value, True
    if value is not None:
        try:
            kind, record = codec.decode(value)
            record = shift_times(codec.schema(kind), record, offset)
            value = codec.encode(kind, record)
        except RecordError:
            ok = False
    return (
        ReplayMessage(
            m.topic, m.key, value, m.headers, m.timestamp + offset, m.partition, m.kind, m.pace
        ),
        ok,
    )
