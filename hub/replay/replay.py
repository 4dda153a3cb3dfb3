"""Play a recording or an interchange file back into Kafka: ``hub replay``.

This module is the I/O: it reads the input (:func:`load_messages`) and runs the producer loop
(:func:`replay_messages`, :func:`replay_file`). What is sent, in which order, when and with which
times is decided by the pure planning in hub.replay.replay_plan (order, pacing, ``--shift-to-now``
are described there).

Failures
    Delivery failures are counted and listed; :attr:`ReplaySummary.ok` is false when any message
    was not delivered or any input line was rejected.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from hub.adapters.kafka import KafkaError, Message, Producer
from hub.adapters.kafka.io import DELIVERY_TIMEOUT_MS, make_producer, topic_for_kind
from hub.adapters.kafka.reachable import not_answering
from hub.codec import Codec, format_error, load_codec, read_jsonl, topic_key
from hub.model.errors import RecordError
from hub.model.events import REGISTRY_KIND
from hub.observability.kafka_log import KAFKA_LOGGER
from hub.replay.progress import Progress
from hub.replay.record import (
    NotReady,
    UnreadableRecording,
    is_recording,
    read_recording,
)
from hub.replay.replay_plan import (
    Pacer,
    ReplayMessage,
    ReplaySummary,
    kind_of_message,
    merge_partitions,
    shift_message,
    shift_offset,
)
from hub.settings import Settings

log = logging.getLogger(__name__)


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
                m, ok = shift_message(m, shift_ms, codec)
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
        raise UnreadableRecording(f"cannot read {path}: {exc}") from exc
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
        # librdkafka's lines through hub.kafka, as the command set it up (quiet unless -v)
        sender = make_producer(settings, logger=logging.getLogger(KAFKA_LOGGER),
                               **{"client.id": "hub-replay"})
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
        raise NotReady(not_answering(None, exc)) from exc
    missing = sorted(t for t in topics if t not in known or known[t].error is not None)
    if missing:
        raise NotReady(
            f"topic(s) {', '.join(missing)} do not exist: create them (`hub topics apply` for "
            "the hub's own) or send elsewhere with --map OLD=NEW"
        )
