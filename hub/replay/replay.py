"""Play a recording or an interchange file back into Kafka: ``hub replay``.

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
Failures
    Delivery failures are counted and listed; :attr:`ReplaySummary.ok` is false when any message
    was not delivered or any input line was rejected.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from hub.adapters.kafka_io import DELIVERY_TIMEOUT_MS, make_producer, topic_for_kind
from hub.codec import Codec, format_error, load_codec, read_jsonl, topic_key
from hub.model.errors import RecordError
from hub.model.events import REGISTRY_KIND
from hub.replay.progress import Progress
from hub.replay.record import RecordedMessage, RecordingError, is_recording, read_recording
from hub.settings import (
    DEADLETTER_TOPIC,
    INCIDENTS_TOPIC,
    REGISTRY_TOPIC,
    SOURCE_TOPICS,
    Settings,
)

log = logging.getLogger(__name__)

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


# -- pure parts ----------------------------------------------------------------------------------


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
    """Send order for a recording: per-partition order kept, earliest head timestamp first."""
    queues: dict[tuple[str, int], list[RecordedMessage]] = {}
    for m in messages:
        queues.setdefault((m.topic, m.partition), []).append(m)
    heap: list[tuple[int, int, tuple[str, int], int]] = []  # (ts, first seen, tp, index)
    order = {tp: n for n, tp in enumerate(queues)}
    for tp, q in queues.items():
        heap.append((q[0].timestamp, order[tp], tp, 0))
    heapq.heapify(heap)
    out: list[RecordedMessage] = []
    while heap:
        _, n, tp, i = heapq.heappop(heap)
        q = queues[tp]
        out.append(q[i])
        if i + 1 < len(q):
            heapq.heappush(heap, (q[i + 1].timestamp, n, tp, i + 1))
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


# -- loading -------------------------------------------------------------------------------------


@dataclass
class ReplaySummary:
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
        return self.failed == 0 and self.rejected == 0

    @property
    def rate(self) -> float:
        return self.messages / max(self.elapsed, 1e-9)

    def describe(self) -> str:
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


def load_messages(
    path: Path | str,
    codec: Codec,
    *,
    pseudonym_key: str,
    summary: ReplaySummary,
    errors: Callable[[str], None],
) -> list[ReplayMessage]:
    """Messages of a recording (merged per partition) or an interchange file (file order)."""
    out: list[ReplayMessage] = []
    if is_recording(path):
        for m in merge_partitions(read_recording(path)):
            kind = kind_of_message(m, codec)
            out.append(
                ReplayMessage(
                    m.topic,
                    m.key,
                    m.value,
                    m.headers,
                    m.timestamp,
                    m.partition,
                    kind,
                    pace=kind != REGISTRY_KIND,  # a compacted registry's stamps are years apart
                )
            )
        return out
    for line in read_jsonl(path, pseudonym_key=pseudonym_key, codec=codec):
        if line.error is not None or line.kind is None or line.record is None:
            assert line.error is not None
            errors(format_error(line.error, str(path)))
            summary.rejected += 1
            continue
        kind, record = line.kind, line.record
        try:
            value = codec.encode(kind, record)
        except RecordError as exc:
            errors(f"{path}:{line.lineno}: {exc}")
            summary.rejected += 1
            continue
        ts = _record_time(kind, record)
        out.append(
            ReplayMessage(
                topic=topic_for_kind(kind),
                key=topic_key(kind, record).encode("utf-8"),
                value=value,
                headers=(("kind", kind.encode("utf-8")),),
                timestamp=ts,
                kind=kind,
                pace=kind != REGISTRY_KIND,
            )
        )
    return out


def _record_time(kind: str, record: Mapping[str, Any]) -> int:
    for name in ("event_time", "emitted_time", "updated_time", "time"):
        value = record.get(name)
        if isinstance(value, int):
            return value
    return int(time.time() * 1000)


def _shifted(m: ReplayMessage, offset: int, codec: Codec) -> tuple[ReplayMessage, bool]:
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


# -- sending -------------------------------------------------------------------------------------


def replay_messages(
    messages: Iterable[ReplayMessage],
    producer: Producer,
    summary: ReplaySummary,
    *,
    pacer: Pacer,
    codec: Codec,
    shift_ms: int | None = None,
    topic_map: Mapping[str, str] | None = None,
    only: Iterable[str] | None = None,
    keep_partitions: bool = False,
    progress: Progress | None = None,
    flush_timeout: float = DELIVERY_TIMEOUT_MS / 1000 + 5,
) -> ReplaySummary:
    """Send ``messages`` in order, paced; fills and returns ``summary``."""
    kinds = set(only) if only else None
    topic_map = topic_map or {}

    def delivered(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            summary.failed += 1
            if len(summary.errors) < 20:
                summary.errors.append(f"{msg.topic()}: {err.str()}")
            return
        summary.delivered += 1

    began = time.monotonic()
    try:
        for m in messages:
            if kinds is not None and (m.kind or kind_of_message(m, codec)) not in kinds:
                summary.skipped += 1
                continue
            if shift_ms is not None:
                m, ok = _shifted(m, shift_ms, codec)
                summary.unshifted += 0 if ok else 1
            if m.pace:
                pacer.wait_for(m.timestamp)
            topic = topic_map.get(m.topic, m.topic)
            kwargs: dict[str, Any] = {
                "key": m.key,
                "value": m.value,
                "headers": list(m.headers),
                "on_delivery": delivered,
            }
            if m.timestamp > 0:
                kwargs["timestamp"] = m.timestamp
            if keep_partitions and m.partition is not None:
                kwargs["partition"] = m.partition
            while True:
                try:
                    producer.produce(topic, **kwargs)
                    break
                except BufferError:
                    producer.poll(0.1)
                except Exception as exc:  # KafkaException: unknown topic, too large, ...
                    summary.failed += 1
                    if len(summary.errors) < 20:
                        summary.errors.append(f"{topic}: {exc}")
                    break
            summary.messages += 1
            summary.by_topic[topic] = summary.by_topic.get(topic, 0) + 1
            producer.poll(0)
            if progress is not None:
                progress.update(summary.messages, f", {summary.failed:,} failed")
    finally:
        left = int(producer.flush(flush_timeout))
        if left:
            summary.failed += left
            summary.errors.append(f"{left} messages still undelivered after {flush_timeout:.0f} s")
        summary.elapsed = time.monotonic() - began
        summary.waited = pacer.waited
        if progress is not None:
            progress.update(summary.messages, f", {summary.failed:,} failed", force=True)
            progress.close()
    return summary


def replay_file(
    path: Path | str,
    settings: Settings,
    speed: float | None = None,
    *,
    shift_to_now: bool = False,
    topic_map: Mapping[str, str] | None = None,
    only: Iterable[str] | None = None,
    keep_partitions: bool = False,
    progress: Progress | None = None,
    producer: Producer | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] | None = None,
    now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    errors: Callable[[str], None] = log.warning,
) -> ReplaySummary:
    """Replay a recording or interchange file into Kafka (see the module doc).

    ``speed`` None sends as fast as possible. Usable from tests: ``replay_file(p, settings)``.
    """
    codec = load_codec(settings.schemas_dir)
    summary = ReplaySummary(source=str(path))
    try:
        messages = load_messages(
            path, codec, pseudonym_key=settings.pseudonym_key, summary=summary, errors=errors
        )
    except OSError as exc:
        raise RecordingError(f"cannot read {path}: {exc}") from exc
    if only:
        kinds = set(only)
        kept = [m for m in messages if (m.kind or kind_of_message(m, codec)) in kinds]
        summary.skipped += len(messages) - len(kept)
        messages = kept
    shift: int | None = None
    if shift_to_now:
        paced = [m.timestamp for m in messages if m.pace and m.timestamp > 0]
        shift = shift_offset(paced[0], max(paced), now_ms(), speed) if paced else 0
        summary.shift_ms = shift
    if producer is None:
        sender = make_producer(settings, **{"client.id": "hub-replay"})
        _check_topics(sender, {(topic_map or {}).get(m.topic, m.topic) for m in messages})
    else:
        sender = producer

    def serve_while_waiting(seconds: float) -> None:
        sender.poll(min(seconds, 0.5))  # delivery reports keep flowing while we wait

    pacer = Pacer(speed, clock=clock, sleep=sleep or serve_while_waiting)
    return replay_messages(
        messages,
        sender,
        summary,
        pacer=pacer,
        codec=codec,
        shift_ms=shift,
        topic_map=topic_map,
        only=only,
        keep_partitions=keep_partitions,
        progress=progress,
    )


def _check_topics(producer: Producer, topics: set[str]) -> None:
    """Fail fast, before sending anything, when a destination topic does not exist."""
    if not topics:
        return
    try:
        known = producer.list_topics(timeout=10).topics
    except Exception as exc:
        raise RecordingError(f"cannot reach Kafka: {exc}") from exc
    missing = sorted(t for t in topics if t not in known or known[t].error is not None)
    if missing:
        raise RecordingError(
            f"topic(s) {', '.join(missing)} do not exist: create them (`hub topics apply` for "
            "the hub's own) or send elsewhere with --map OLD=NEW"
        )
