"""Capture what really flowed: ``hub record`` writes Kafka messages to an Avro container file.

Each message becomes one ``hub.replay.RecordedMessage`` (see ``recording.avsc``): topic, partition,
offset, timestamp and its type, key, value and headers, bytes exactly as on the wire. The consumer
assigns partitions itself (no consumer group, nothing committed), so recording never moves anyone's
offsets.

Where it starts
    ``from_beginning`` (each partition's low watermark), ``since_ms`` (the first offset stamped at
    or after that time, via ``offsets_for_times``), or neither: live, from the end.
When it stops
    bounded runs (beginning / since) stop once every partition reached the end offset captured at
    the start, so they terminate even while producers keep writing; ``until_ms`` stops each
    partition at its first message stamped after it (live runs also stop once the wall clock has
    passed it and the topic is quiet); ``max_messages`` stops after that many; Ctrl-C stops
    cleanly. The file is always closed valid.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import fastavro
from fastavro.write import Writer

from hub.adapters.kafka import Consumer, KafkaError, TopicPartition
from hub.adapters.kafka.io import make_consumer
from hub.adapters.kafka.reachable import not_answering
from hub.core.durations import parse_duration
from hub.model.errors import HubError
from hub.observability.kafka_log import KAFKA_LOGGER
from hub.replay.progress import Progress
from hub.settings import Settings

log = logging.getLogger(__name__)

#: The first bytes of every Avro object container file.
CONTAINER_MAGIC = b"Obj\x01"


class RecordingError(HubError):
    """Recording or reading a recording failed; the message says what to check. ``status``:
    the exit status it means (README, "Exit status")."""

    status = 1


class UnreadableRecording(RecordingError):
    """The file is no recording, or one cut short: nothing of it is sent (usage, 2)."""

    status = 2


class NotReady(RecordingError):
    """Kafka does not answer, or a destination topic is not there: nothing is sent (3)."""

    status = 3


@cache
def recording_schema() -> dict[str, Any]:
    """The container's record schema (``hub/replay/recording.avsc``)."""
    text = resources.files("hub.replay").joinpath("recording.avsc").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _parsed_schema() -> Any:
    return fastavro.parse_schema(recording_schema())


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """One Kafka message exactly as it was on the wire (``recording.avsc``): a replay sends
    the same bytes, to the same partition when asked to keep partitions."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    timestamp_type: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()

    def to_record(self) -> dict[str, Any]:
        """The Avro record of ``recording.avsc`` for the container writer."""
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": self.timestamp,
            "timestamp_type": self.timestamp_type,
            "key": self.key,
            "value": self.value,
            "headers": [{"key": k, "value": v} for k, v in self.headers],
        }

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> RecordedMessage:
        """Read back an Avro record; ``timestamp_type`` defaults to 1 (CreateTime) when absent."""
        return cls(
            topic=r["topic"],
            partition=int(r["partition"]),
            offset=int(r["offset"]),
            timestamp=int(r["timestamp"]),
            timestamp_type=int(r.get("timestamp_type", 1)),
            key=r.get("key"),
            value=r.get("value"),
            headers=tuple((h["key"], h.get("value")) for h in r.get("headers") or ()),
        )


def is_recording(path: Path | str) -> bool:
    """True when ``path`` is an Avro object container file (else: JSON lines)."""
    with open(path, "rb") as handle:
        return handle.read(4) == CONTAINER_MAGIC


def read_recording(path: Path | str) -> Iterator[RecordedMessage]:
    """The messages of a recording, in the order they were recorded."""
    read = 0
    with open(path, "rb") as handle:
        try:
            reader = fastavro.reader(handle)
            for r in reader:
                if not isinstance(r, dict):
                    raise UnreadableRecording(f"{path}: not a recording (records expected)")
                yield RecordedMessage.from_record(r)
                read += 1
        except (ValueError, EOFError, KeyError) as exc:
            where = (f" after message {read:,} (byte {handle.tell():,} of "
                     f"{Path(path).stat().st_size:,})" if read else "")
            raise UnreadableRecording(
                f"{path}: not a readable recording{where}: {exc}; a file cut short (a copy "
                "stopped early, a full disk) cannot be read: record again, or copy it whole"
            ) from exc


def recording_metadata(path: Path | str) -> dict[str, str]:
    """The container's header metadata (e.g. ``hub.topics``, ``hub.start`` as ``record`` wrote
    them)."""
    with open(path, "rb") as handle:
        return dict(fastavro.reader(handle).metadata)


class RecordingWriter:
    """Appends :class:`RecordedMessage` to a new container file (deflate blocks)."""

    def __init__(self, path: Path | str, metadata: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        self._handle = open(self.path, "wb")
        self._writer = Writer(
            self._handle, _parsed_schema(), codec="deflate", metadata=metadata or {}
        )
        self.count = 0

    def write(self, message: RecordedMessage) -> None:
        """Append one message; ``count`` says how many so far."""
        self._writer.write(message.to_record())
        self.count += 1

    def close(self) -> None:
        """Flush the last block and close the file, so it is a valid container."""
        self._writer.flush()
        self._handle.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_recording(
    path: Path | str, messages: list[RecordedMessage], metadata: dict[str, str] | None = None
) -> None:
    """A whole recording from a list: for tests and tools that build one without Kafka."""
    with RecordingWriter(path, metadata) as writer:
        for m in messages:
            writer.write(m)


# -- times on the command line -------------------------------------------------------------------


def parse_time(text: str, now_ms: int) -> int:
    """``--since``/``--until``: epoch ms, ISO-8601 with an offset, relative (``-15m``), ``now``."""
    value = text.strip()
    if value == "now":
        return now_ms
    if value.lstrip("-").isdigit() and not value.startswith("-"):
        return int(value)
    if value.startswith(("-", "+")) and len(value) > 1 and not value[1:].isdigit():
        sign = -1 if value[0] == "-" else 1
        try:
            return now_ms + sign * parse_duration(value[1:])
        except Exception as exc:
            raise ValueError(f"{text!r}: relative times look like -15m, -2h, -1d") from exc
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is not a time: write epoch milliseconds, ISO-8601 with an offset "
            "(2025-03-03T08:00:00+08:00), or a relative time like -15m"
        ) from exc
    if when.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; add one, e.g. +08:00 or Z")
    return int(when.timestamp() * 1000)


# -- recording -----------------------------------------------------------------------------------


@dataclass
class RecordSummary:
    """What a ``record`` run captured, and why it stopped; ``hub record`` prints it."""

    path: str
    messages: int = 0
    bytes: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    first_timestamp: int | None = None
    last_timestamp: int | None = None
    elapsed: float = 0.0
    stopped: str = ""

    def describe(self) -> str:
        """One line for the operator: counts, rate, file, why it stopped, per-topic counts."""
        topics = ", ".join(f"{t} {n:,}" for t, n in sorted(self.by_topic.items())) or "none"
        rate = self.messages / max(self.elapsed, 1e-9)
        return (
            f"recorded {self.messages:,} messages ({self.bytes:,} bytes of keys and values) "
            f"in {self.elapsed:.1f} s ({rate:,.0f}/s) to {self.path}; stopped: {self.stopped}; "
            f"by topic: {topics}"
        )


def record(
    settings: Settings,
    topics: list[str],
    out: Path | str,
    *,
    from_beginning: bool = False,
    since_ms: int | None = None,
    until_ms: int | None = None,
    max_messages: int | None = None,
    progress: Progress | None = None,
    consumer: Consumer | None = None,
    wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    poll_timeout: float = 0.5,
) -> RecordSummary:
    """Record ``topics`` into ``out``; see the module doc for where it starts and stops."""
    if from_beginning and since_ms is not None:
        raise RecordingError("choose one of --from-beginning and --since")
    if not topics:
        raise RecordingError("name at least one topic to record")
    own = consumer is None
    if consumer is None:
        overrides: dict[str, Any] = {
            "enable.partition.eof": True,
            "enable.auto.commit": False,
            "client.id": "hub-record",
        }
        consumer = make_consumer(settings, logger=logging.getLogger(KAFKA_LOGGER), **overrides)
    bounded = from_beginning or since_ms is not None
    began = time.monotonic()
    summary = RecordSummary(path=str(out))
    try:
        starts, ends = _positions(consumer, topics, from_beginning, since_ms)
        done = {tp for tp, off in starts.items() if bounded and off >= ends[tp]}
        consumer.assign([TopicPartition(t, p, off) for (t, p), off in sorted(starts.items())])
        metadata = {
            "hub.topics": ",".join(topics),
            "hub.start": "beginning"
            if from_beginning
            else f"since {since_ms}"
            if bounded
            else "end",
        }
        with RecordingWriter(out, metadata) as writer:
            summary.stopped = _consume(
                consumer,
                writer,
                summary,
                starts,
                ends,
                done,
                bounded,
                until_ms,
                max_messages,
                progress,
                wall_ms,
                poll_timeout,
            )
    finally:
        summary.elapsed = time.monotonic() - began
        if progress is not None:
            progress.update(summary.messages, force=True)
            progress.close()
        if own:
            consumer.close()
    return summary


def _positions(
    consumer: Consumer, topics: list[str], from_beginning: bool, since_ms: int | None
) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
    starts: dict[tuple[str, int], int] = {}
    ends: dict[tuple[str, int], int] = {}
    for topic in topics:
        try:
            meta = consumer.list_topics(topic, timeout=10)
        except Exception as exc:
            raise RecordingError(not_answering(None, f"reading topic {topic}: {exc}")) from exc
        tmeta = meta.topics.get(topic)
        if tmeta is None or tmeta.error is not None or not tmeta.partitions:
            raise RecordingError(
                f"topic {topic} does not exist (or has no partitions); check the name, "
                "or `hub topics apply`"
            )
        for p in sorted(tmeta.partitions):
            try:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            except Exception as exc:
                raise RecordingError(f"cannot read the offsets of {topic}[{p}]: {exc}") from exc
            ends[(topic, p)] = high
            starts[(topic, p)] = low if from_beginning else high
    if since_ms is not None:
        # negative times are Kafka's "latest"/"earliest" markers: before 1970 means the start
        wanted = [TopicPartition(t, p, max(since_ms, 0)) for (t, p) in sorted(starts)]
        try:
            found = consumer.offsets_for_times(wanted, timeout=10)
        except Exception as exc:
            raise RecordingError(f"cannot look up offsets for --since: {exc}") from exc
        for tp in found:
            key = (tp.topic, tp.partition)
            starts[key] = tp.offset if tp.offset >= 0 else ends[key]
    return starts, ends


def _consume(
    consumer: Consumer,
    writer: RecordingWriter,
    summary: RecordSummary,
    starts: dict[tuple[str, int], int],
    ends: dict[tuple[str, int], int],
    done: set[tuple[str, int]],
    bounded: bool,
    until_ms: int | None,
    max_messages: int | None,
    progress: Progress | None,
    wall_ms: Callable[[], int],
    poll_timeout: float,
) -> str:
    total = len(starts)

    def finish(tp: tuple[str, int]) -> None:
        if tp not in done:
            done.add(tp)
            consumer.pause([TopicPartition(tp[0], tp[1])])

    try:
        while True:
            if max_messages is not None and summary.messages >= max_messages:
                return f"--max {max_messages} reached"
            if len(done) == total and (bounded or until_ms is not None):
                return (
                    "caught up with the end offsets seen at start"
                    if bounded
                    else ("every partition passed --until")
                )
            batch = consumer.consume(num_messages=1000, timeout=poll_timeout)
            if not batch and not bounded and until_ms is not None and wall_ms() > until_ms:
                return "--until passed and the topics are quiet"
            for msg in batch:
                tp = (str(msg.topic()), int(msg.partition() or 0))
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        if bounded and (msg.offset() or 0) >= ends.get(tp, 0):
                            finish(tp)
                        continue
                    raise RecordingError(f"consuming {tp[0]}[{tp[1]}] failed: {err.str()}")
                if tp in done:
                    continue
                offset = int(msg.offset() or 0)
                if bounded and offset >= ends[tp]:
                    finish(tp)
                    continue
                ts_type, ts = msg.timestamp()
                if until_ms is not None and ts > until_ms:
                    finish(tp)
                    continue
                key, value = msg.key(), msg.value()
                writer.write(
                    RecordedMessage(
                        topic=tp[0],
                        partition=tp[1],
                        offset=offset,
                        timestamp=int(ts),
                        timestamp_type=int(ts_type),
                        key=key,
                        value=value,
                        headers=_headers(msg.headers()),
                    )
                )
                summary.messages += 1
                summary.bytes += len(key or b"") + len(value or b"")
                summary.by_topic[tp[0]] = summary.by_topic.get(tp[0], 0) + 1
                if summary.first_timestamp is None:
                    summary.first_timestamp = int(ts)
                summary.last_timestamp = int(ts)
                if bounded and offset + 1 >= ends[tp]:
                    finish(tp)
                if max_messages is not None and summary.messages >= max_messages:
                    break
            if progress is not None:
                progress.update(summary.messages, f", {len(done)}/{total} partitions done")
    except KeyboardInterrupt:
        return "interrupted"


def _headers(raw: Any) -> tuple[tuple[str, bytes | None], ...]:
    """confluent-kafka gives a list of (key, bytes | None) or None."""
    if not raw:
        return ()
    items = raw.items() if isinstance(raw, dict) else raw
    return tuple((str(k), v.encode("utf-8") if isinstance(v, str) else v) for k, v in items)
