"""The correlation state of each partition: a dict in memory, a compacted changelog topic in Kafka.

Every write goes to the changelog partition of the correlation partition it belongs to, inside the
batch's transaction (hub/runtime/pipeline.py): the changelog holds exactly the state as of the
group's committed offsets, never a part of a batch. A worker that is handed a partition reads that
changelog partition from the start (committed records only) before it handles the partition's
first message.

A value larger than ``CHUNK_BYTES`` (a key holding a flood's worth of events pending while its
watermark waits, e.g. a recorded flood replayed at full speed) is written as chunks under keys of
their own plus a small manifest under its key, in the same transaction: a state of any size is
kept, and no record comes near the topic's message limit (it used to stop the worker with
MSG_SIZE_TOO_LARGE on every restart). The reader puts the chunks back together; the correlator
never sees them.

A state's JSON text larger than ``COMPRESS_AT`` (a flooded key's pending events, a busy site's
window) is written zlib-compressed behind the ``COMPRESSED`` marker, encoded and compressed piece
by piece as the engine produces it (``encode_state``): the worker never holds such a state as one
string, nor its bytes, nor (as librdkafka's copy until the transaction's records are acknowledged)
more than a few percent of its size. A flood's repeated swipes compress ~35x, so a checkpoint
that was 34 MB of text is about 1 MB and rarely needs chunks. Smaller values stay plain JSON;
values written before compression existed read as they are.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Iterable
from typing import Any

from hub.adapters.kafka import (
    OFFSET_BEGINNING,
    KafkaError,
    TopicPartition,
    make_restore_consumer,
)
from hub.codec.internal import COMPRESSED, MANIFEST, chunk_key
from hub.runtime.outbox import Outbox
from hub.runtime.transactions import Abandon

log = logging.getLogger(__name__)

#: Largest changelog value written as one record; larger ones are chunked.
CHUNK_BYTES = 4 * 1024 * 1024
#: JSON text up to this many characters is written plain; larger text is compressed.
COMPRESS_AT = 64 * 1024
#: How much text is encoded and handed to the compressor at a time.
ENCODE_STEP = 256 * 1024
#: zlib level 1: ~700 MB/s on a flood's state (35x smaller); higher levels gain little here.
ZLIB_LEVEL = 1


def encode_state(parts: Iterable[str]) -> bytes:
    """A state's JSON text, given in pieces, as a changelog value: plain UTF-8 up to
    ``COMPRESS_AT`` characters, else ``COMPRESSED`` and the text compressed as it comes."""
    pending: list[str] = []
    size = 0
    compressor = None
    out: list[bytes] = []
    for piece in parts:
        pending.append(piece)
        size += len(piece)
        if size >= (ENCODE_STEP if compressor is not None else COMPRESS_AT):
            if compressor is None:
                compressor = zlib.compressobj(ZLIB_LEVEL)
                out.append(COMPRESSED)
            out.append(compressor.compress("".join(pending).encode()))
            pending.clear()
            size = 0
    text = "".join(pending).encode()
    if compressor is None:
        return text
    out.append(compressor.compress(text))
    out.append(compressor.flush())
    return b"".join(out)


def decode_value(value: bytes) -> bytes:
    """A changelog value (chunks already joined) as the JSON bytes the correlator reads."""
    if value.startswith(COMPRESSED):
        return zlib.decompress(memoryview(value)[len(COMPRESSED):])
    return value


#: How long a restore waits for a transaction left open on the changelog partition (a worker
#: killed mid-batch) to be aborted by the broker, before it goes on with what is committed.
OPEN_TXN_WAIT_S = 60.0


def changelog_topic(app_id: str) -> str:
    """The state changelog's name (the one Faust gave it, so existing deployments keep it)."""
    return f"{app_id}-engine-state-changelog"


class ChangelogStore:
    """The correlator's state store: reads a partition's changelog on first use, writes
    entries (chunked when large) through the batch's outbox."""

    def __init__(self, bootstrap: str, topic: str, *, logger: Any = None) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self._logger = logger
        self._data: dict[int, dict[bytes, bytes]] = {}
        #: (partition, key) -> chunks its value has in the changelog now (to tombstone stale ones)
        self._chunks: dict[tuple[int, bytes], int] = {}
        #: the worker's stop flag: a restore that waits for an absent broker gives up on it
        #: (it runs in a rebalance callback, where nothing else sees the flag)
        self.stop = threading.Event()

    def take(self, partition: int) -> dict[bytes, bytes]:
        """The partition's entries as the changelog has them (read on first use), handed over
        once: the engines hold the state from then on, so no second copy is kept here."""
        if partition not in self._data:
            self.load([partition])
        data = self._data[partition]
        self._data[partition] = {}
        return data

    def put(self, partition: int, key: bytes, value: bytes | None, outbox: Outbox) -> None:
        """Write one entry (None: a tombstone) in the batch's transaction; a value over
        ``CHUNK_BYTES`` goes as chunks plus a manifest, and stale chunks are tombstoned."""
        before = self._chunks.get((partition, key), 0)
        n = 0 if value is None or len(value) <= CHUNK_BYTES else -(-len(value) // CHUNK_BYTES)
        if n:
            assert value is not None
            for i in range(n):
                part = value[i * CHUNK_BYTES:(i + 1) * CHUNK_BYTES]
                outbox.send(self.topic, chunk_key(key, i), part, partition=partition)
            value = MANIFEST + str(n).encode()
            self._chunks[(partition, key)] = n
        else:
            self._chunks.pop((partition, key), None)
        for i in range(n, before):  # chunks of a larger earlier value
            outbox.send(self.topic, chunk_key(key, i), None, partition=partition)
        outbox.send(self.topic, key, value, partition=partition)

    def drop(self, partitions: Iterable[int] | None = None) -> None:
        """Forget partitions (revoked, or a batch aborted): read again from Kafka when needed."""
        if partitions is None:
            self._data.clear()
            self._chunks.clear()
            return
        gone = set(partitions)
        for p in gone:
            self._data.pop(p, None)
        for pk in [pk for pk in self._chunks if pk[0] in gone]:
            del self._chunks[pk]

    def load(self, partitions: Iterable[int]) -> None:
        """Read the changelog of every partition not in memory yet, all in one pass."""
        wanted = sorted(set(partitions) - set(self._data))
        if wanted:
            for p, entries in self._restore(wanted).items():
                self._data[p] = self._joined(p, entries)

    def _joined(self, partition: int, entries: dict[bytes, bytes]) -> dict[bytes, bytes]:
        """``entries`` with chunked values put back together and the chunk records left out."""
        out: dict[bytes, bytes] = {}
        for key, value in entries.items():
            if b"\x00" in key:
                continue  # a chunk: read through its manifest
            try:
                if value.startswith(MANIFEST):
                    n = int(value[len(MANIFEST):])
                    if not 0 < n < len(entries):  # never more chunks than records beside it
                        raise ValueError(f"a manifest of {n} chunks among {len(entries)} entries")
                    found = [entries.get(chunk_key(key, i)) for i in range(n)]
                    parts = [part for part in found if part is not None]
                    if len(parts) != n:
                        log.error("%s/%d: state %r lost chunks of its value; starting it empty",
                                  self.topic, partition, key)
                        continue
                    self._chunks[(partition, key)] = n
                    value = b"".join(parts)
                out[key] = decode_value(value)
            except Exception as exc:  # a manifest or a compressed value that does not read
                log.error("%s/%d: state %r does not read (%s: %s); starting it empty",
                          self.topic, partition, key[:200], type(exc).__name__, exc)
        return out

    def _restore(self, partitions: list[int]) -> dict[int, dict[bytes, bytes]]:
        """Read changelog partitions to their end, committed records only.

        A read_committed consumer ends at the last stable offset: while a transaction is still
        open there (a killed worker's), later committed writes could hide behind it, so the read
        goes on until the end it reached is the partition's high watermark (the broker aborts
        the open transaction within its timeout).
        """
        started = time.monotonic()
        consumer = make_restore_consumer(self.bootstrap, self.topic, logger=self._logger)
        data: dict[int, dict[bytes, bytes]] = {p: {} for p in partitions}
        reached = dict.fromkeys(partitions, -1)  # offset read up to (an EOF: the readable end)
        pending = set(partitions)
        records = 0
        try:
            consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])
            eof: set[int] = set()
            while pending:
                if self.stop.is_set():
                    raise Abandon(f"restoring {self.topic} {sorted(pending)}")
                for msg in consumer.consume(num_messages=10_000, timeout=0.2):
                    p, offset = msg.partition() or 0, msg.offset() or 0
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            eof.add(p)
                            reached[p] = max(reached[p], offset)
                            continue
                        raise RuntimeError(f"restoring {self.topic}/{p}: {err}")
                    records += 1
                    reached[p] = max(reached[p], offset + 1)
                    key, value = msg.key(), msg.value()
                    if key is None:
                        continue
                    if value is None:
                        data[p].pop(key, None)
                    else:
                        data[p][key] = value
                for p in sorted(eof & pending):
                    eof.discard(p)
                    _, high = consumer.get_watermark_offsets(TopicPartition(self.topic, p),
                                                             cached=True)
                    if high < 0 or reached[p] >= high:
                        pending.discard(p)
                    elif time.monotonic() - started > OPEN_TXN_WAIT_S:
                        log.warning("%s/%d: a transaction is still open at offset %d (end %d) "
                                    "after %.0fs; going on with the committed state",
                                    self.topic, p, reached[p], high, OPEN_TXN_WAIT_S)
                        pending.discard(p)
                    else:  # stopped at an open transaction: fetch again until it is resolved
                        consumer.seek(TopicPartition(self.topic, p, reached[p]))
        finally:
            consumer.close()
        log.info("%s %s: restored %d entries from %d records in %.2fs", self.topic, partitions,
                 sum(len(d) for d in data.values()), records, time.monotonic() - started)
        return data
