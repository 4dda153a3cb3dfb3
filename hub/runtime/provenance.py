"""Where an event on the correlation topic came from: what its dead letter reports and keeps.

A dead letter must carry the source message (its topic, partition, offset and bytes), not the
correlation topic's frame or tick that happened to be in hand when the engine gave its verdict.
Most LATE verdicts are given while the event itself is being applied (``Where.of_entry``). Some
are given later: an event held back by a flapping suppression is handed to its rules when the
watermark passes, at a tick or while another event is applied, and found LATE then. Its source
message is no longer at hand (the hold is correlation state, restored after a restart without
it), so its dead letter keeps the event as ingest validated it, re-encoded (``Where.of_event``),
and says so; before, it carried the tick's coordinates and no bytes at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.codec import Codec
from hub.codec.internal import HUB_HEADER_PREFIX, KIND_HEADER, SOURCE_HEADER
from hub.model.errors import RecordError
from hub.model.events import Event
from hub.runtime.frames import Entry
from hub.settings import SOURCE_TOPICS

#: source_partition and source_offset of a dead letter whose source message was not at hand
UNKNOWN = -1


def source_of(headers: dict[str, bytes]) -> tuple[str, int] | None:
    """The source message a forward carries (``hub-src``): its origin "topic/partition" and
    offset; None on a message without one (ticks, control)."""
    origin, _, offset = headers.get(SOURCE_HEADER, b"").decode(errors="replace").rpartition("/")
    return (origin, int(offset)) if origin and offset.isascii() and offset.isdigit() else None


class LateError(RecordError):
    """An event that came after its watermark moved past it: dead-lettered with reason LATE."""

    reason = "LATE"


@dataclass(frozen=True, slots=True)
class Where:
    """Where a forwarded event came from: what its dead letter reports and keeps (the source
    message's coordinates and bytes, not the correlation topic's)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    kind: str | None
    headers: list[tuple[str, bytes]]
    origin: str  # "topic/partition" of the source, the engine's clock origin; "" if unknown
    #: the source record's timestamp (ms), when known
    timestamp_ms: int | None = None
    #: said after the error's detail (how ``value`` was made when it is not the source's bytes)
    note: str = ""

    @classmethod
    def of(cls, msg: Any, headers: dict[str, bytes]) -> Where:
        """A message of the correlation topic: a one-event forward, a tick or a bad frame."""
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        origin = ""
        source = source_of(headers)
        if source is not None:
            src_topic, _, src_partition = source[0].rpartition("/")
            if src_topic and src_partition.isascii() and src_partition.isdigit():
                topic, partition, offset = src_topic, int(src_partition), source[1]
                origin = source[0]
        return cls(topic, partition, offset, msg.key(), msg.value(),
                   headers.get(KIND_HEADER, b"").decode(errors="replace") or None,
                   [(k, v) for k, v in headers.items() if not k.startswith(HUB_HEADER_PREFIX)],
                   origin)

    @classmethod
    def of_entry(cls, entry: Entry, msg: Any) -> Where:
        """An entry of a frame (``msg``: the frame, whose coordinates stand in for a source
        reference that does not parse). Frames carry the source's coordinates, bytes and
        timestamp, not its key or headers: the key kept is the entry's lane key."""
        origin, _, offset = entry.src.rpartition("/")
        topic, _, partition = origin.rpartition("/")
        if not (topic and partition.isascii() and partition.isdigit() and offset.isascii()
                and offset.isdigit()):
            topic, partition, offset, origin = (msg.topic(), str(msg.partition()),
                                                str(msg.offset()), "")
        return cls(topic, int(partition), int(offset), entry.key.encode(), entry.body,
                   entry.kind, [], origin, entry.arrived)

    @classmethod
    def of_event(cls, event: Event, codec: Codec) -> Where:
        """An event judged after its source message was let go (see the module doc): the
        event's source topic, unknown partition and offset, and the event re-encoded."""
        try:
            value: bytes | None = codec.encode(event.kind, dict(event.fields))
            how = "the event as the worker validated it, re-encoded"
        except Exception as exc:  # a record the codec cannot write: the detail still names it
            value, how = None, f"none: the event could not be re-encoded ({exc})"
        note = (f"(the source message was no longer at hand: the event had been held for "
                f"flapping suppression; original_value: {how})")
        return cls(SOURCE_TOPICS.get(event.kind, ""), UNKNOWN, UNKNOWN, None, value, event.kind,
                   [], "", event.arrived, note)


__all__ = ["UNKNOWN", "LateError", "Where", "source_of"]
