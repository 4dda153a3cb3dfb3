"""Frames: many forwards to one correlation partition in one Kafka message.

Ingest sends each accepted event to one or two lanes (docs/architecture.md). One message per
forward made the worker produce and consume ~2 internal messages per source event, each with its
own headers, Python objects and broker work: the largest share of its CPU after the decode
(BENCHMARKS.md §3, run H). A batch now sends one frame per correlation partition (several when
large), and the correlator reads the entries back in the order they were written: per key the
order is the same as with one message each, since a key's entries all go to one partition.

Layout (``hub-frame: 1`` header, ``FRAME_HEADER`` in hub/codec/internal.py; no key; the producer
is told the partition)::

    b"HF2" | u32 big-endian n | n bytes of UTF-8 JSON: [[lane, key, "topic/partition/offset",
    event length, body length, arrived], ...] | per entry: its event as UTF-8 JSON
    ``[kind, fields]`` (event length bytes), then its body (body length bytes)

``arrived`` is the source record's timestamp (ms, or null). The event is the one ingest decoded
and validated (pseudonymized if it had to), as JSON: what the engine reads (a quarter of an Avro
decode). It sits outside the entry list so that an entry whose event this worker's ingest handed
over in memory (hub/runtime/handoff.py) is never parsed: the list is a fifth of the frame's JSON
(worker_bench's preload: 3.3 of 15.4 MB). The body is the source message's bytes (pseudonymized
too), kept for a dead letter.

Frames of the first layout (``b"HF1"``: the events inside the entry list, ``[[lane, key, src,
body length, [kind, fields], arrived], ...]``, then the bodies; five elements per entry before
arrivals existed) are still read, so a worker reads what an older one wrote before an upgrade.

The partition of an entry is Kafka's own choice for its key (murmur2, as the Java client and
librdkafka's ``murmur2_random``), so it is the partition a forward of the key had before frames
existed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

from hub.core.snapshot import compact_json

MAGIC = b"HF2"
#: The first layout, events inside the entry list: read, no longer written.
MAGIC_V1 = b"HF1"
#: A frame is closed once its entries reach this many bytes (one entry larger than this goes
#: alone): well under the correlation topic's max.message.bytes (16 MiB, topology/topics.yaml).
FRAME_BYTES = 512 * 1024

_LEN = struct.Struct(">I")


class FrameError(ValueError):
    """A message on the correlation topic that is not a well-formed frame."""


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as a signed 32-bit int."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    tail = length & ~3
    for i in range(0, tail, 4):
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    rest = length & 3
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


@lru_cache(maxsize=65536)
def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` (UTF-8) among ``partitions``."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


@dataclass
class _Open:
    parts: list[str] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0


class FrameWriter:
    """Collects one batch's forwards per partition; ``close`` hands out the frames to send."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._open: dict[int, _Open] = {}
        self._lanes: dict[str, str] = {}  # lane -> its JSON text
        self.done: list[tuple[int, bytes]] = []

    def add_event(self, targets: list[tuple[str, str]], src: str, body: bytes, event_json: str,
                  arrived: int | None = None) -> None:
        """One event forwarded to each ``(lane, key)`` of ``targets``; ``event_json`` is the
        event as ``[kind, fields]`` JSON text, ``arrived`` its source record's timestamp. What
        the entries share (the source, the event's bytes, the arrival) is encoded once."""
        event = event_json.encode()
        tail = (f"{compact_json(src)},{len(event)},{len(body)},"
                f"{'null' if arrived is None else int(arrived)}]")
        size = len(event) + len(body) + 48
        lanes = self._lanes
        for lane, key in targets:
            p = partition_for(key, self.partitions)
            frame = self._open.get(p)
            if frame is None:
                frame = self._open[p] = _Open()
            lane_json = lanes.get(lane)
            if lane_json is None:
                lane_json = lanes[lane] = compact_json(lane)
            frame.parts.append(f"[{lane_json},{compact_json(key)},{tail}")
            frame.chunks += (event, body)
            frame.size += size + len(key)
            if frame.size >= FRAME_BYTES:
                self.done.append((p, _pack(self._open.pop(p))))

    def close(self) -> list[tuple[int, bytes]]:
        """Every frame of the batch, (partition, value), in the order they were filled."""
        for p in sorted(self._open):
            self.done.append((p, _pack(self._open[p])))
        self._open.clear()
        done, self.done = self.done, []
        return done


def _pack(frame: _Open) -> bytes:
    meta = ("[" + ",".join(frame.parts) + "]").encode()
    return b"".join([MAGIC, _LEN.pack(len(meta)), meta, *frame.chunks])


class Entry:
    """One forward read back from a frame: its lane, key, source ``topic/partition/offset``, the
    original bytes (kept for a dead letter), the arrival and the event, parsed on first use."""

    __slots__ = ("_event", "_json", "arrived", "body", "key", "lane", "src")

    def __init__(self, lane: str, key: str, src: str, body: bytes, arrived: int | None, *,
                 event_json: bytes = b"", event: tuple[str, dict[str, Any]] | None = None) -> None:
        self.lane, self.key, self.src, self.body, self.arrived = lane, key, src, body, arrived
        self._json, self._event = event_json, event

    def event(self) -> tuple[str, dict[str, Any]]:
        """``(kind, fields)``; FrameError, naming the entry, if its event JSON is not that."""
        if self._event is None:
            try:
                kind, fields = orjson.loads(self._json)
            except (ValueError, TypeError) as exc:
                raise FrameError(f"entry {self.src}: its event is not JSON [kind, fields]: "
                                 f"{exc}") from exc
            if not isinstance(kind, str) or not isinstance(fields, dict):
                raise FrameError(f"entry {self.src}: its event is not JSON [kind, fields]")
            self._event = (kind, fields)
        return self._event

    @property
    def kind(self) -> str | None:
        """The event's kind, or None if its JSON does not read (a dead letter says so)."""
        try:
            return self.event()[0]
        except FrameError:
            return None

    @property
    def fields(self) -> dict[str, Any]:
        """The event's fields, as ingest decoded and validated them."""
        return self.event()[1]


def read_frame(value: bytes | None) -> Iterator[Entry]:
    """The entries of a frame, in order; FrameError (naming what is wrong) before any entry if
    it is not one."""
    if not value or value[:3] not in (MAGIC, MAGIC_V1) or len(value) < 7:
        raise FrameError("not a frame: a hub-frame message starts with b'HF2' and a length")
    (n,) = _LEN.unpack_from(value, 3)
    start = 7 + n
    if start > len(value):
        raise FrameError(f"frame JSON of {n} bytes runs past the message ({len(value)} bytes)")
    try:
        entries = orjson.loads(value[7:start])
    except ValueError as exc:  # orjson.JSONDecodeError is one
        raise FrameError(f"frame JSON does not parse: {exc}") from exc
    if type(entries) is not list:
        raise FrameError(f"frame JSON is a {type(entries).__name__}, not a list of entries")
    if not value.startswith(MAGIC_V1):
        return iter(_entries(entries, value, start))
    try:
        total = sum(entry[3] for entry in entries)
    except (TypeError, IndexError) as exc:
        raise FrameError(f"frame entries are not [lane, key, src, length, event]: {exc}") from exc
    if start + total != len(value):
        raise FrameError(f"frame bodies end at byte {start + total}, the message at {len(value)}")
    return iter(_entries_v1(entries, value, start))


def _entries(entries: list[Any], value: bytes, at: int) -> list[Entry]:
    """Every entry of an HF2 frame, checked and built in one pass (a frame holds up to ~1,000
    entries); FrameError if any is malformed or the bodies do not end with the message."""
    out: list[Entry] = []
    append = out.append
    for entry in entries:
        if type(entry) is not list or len(entry) != 6:
            raise FrameError(_NOT_AN_ENTRY)
        lane, key, src, event_size, size, arrived = entry
        if (type(event_size) is not int or event_size < 0 or type(size) is not int or size < 0
                or not _names(lane, key, src)):
            raise FrameError(_NOT_AN_ENTRY)
        body_at = at + event_size
        end = body_at + size
        append(Entry(lane, key, src, value[body_at:end],
                     arrived if isinstance(arrived, int) else None, event_json=value[at:body_at]))
        at = end
    if at != len(value):
        raise FrameError(f"frame bodies end at byte {at}, the message at {len(value)}")
    return out


_NOT_AN_ENTRY = ("frame entries are not [lane, key, src, event length, body length, arrived] "
                 "with strings and lengths >= 0")


def _names(lane: Any, key: Any, src: Any) -> bool:
    """An entry's lane, key and source are text: the correlator and its dead letters read them
    as such (a number there once stopped every batch that read the frame)."""
    return type(lane) is str and type(key) is str and type(src) is str


def _entries_v1(entries: list[Any], value: bytes, at: int) -> list[Entry]:
    out: list[Entry] = []
    for lane, key, src, size, (kind, fields), *rest in entries:
        if not _names(lane, key, src):
            raise FrameError("frame entries are not [lane, key, src, length, event] with strings")
        arrived = rest[0] if rest and isinstance(rest[0], int) else None
        out.append(Entry(lane, key, src, value[at:at + size], arrived, event=(kind, fields)))
        at += size
    return out
