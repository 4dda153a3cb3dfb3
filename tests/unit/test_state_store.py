"""Changelog values of any size (hub/runtime/state_store.py): chunked, and joined on restore."""

from __future__ import annotations

import os
from typing import Any

from hub.runtime.state_store import CHUNK_BYTES, ChangelogStore


class Log(ChangelogStore):
    """A compacted changelog in memory: the last value per key, tombstones remove."""

    def __init__(self) -> None:
        super().__init__("", "changelog")
        self.log: dict[int, dict[bytes, bytes]] = {}
        self.records: list[tuple[bytes, int | None]] = []

    def send(self, topic: str, key: bytes, value: bytes | None, *, partition: int) -> None:
        self.records.append((key, None if value is None else len(value)))
        part = self.log.setdefault(partition, {})
        if value is None:
            part.pop(key, None)
        else:
            part[key] = value

    def _restore(self, partitions: list[int]) -> dict[int, dict[bytes, bytes]]:
        return {p: dict(self.log.get(p, {})) for p in partitions}


def restored(log: Log, partition: int) -> dict[bytes, bytes]:
    fresh = Log()
    fresh.log = log.log
    return fresh.take(partition)


def test_a_value_of_any_size_comes_back_whole_and_no_record_is_large() -> None:
    store: Any = Log()
    big = os.urandom(2 * CHUNK_BYTES + 12_345)
    store.put(1, b"1|site|R|rule|DOOR-1", big, store)
    store.put(1, b"1|site|meta", b"{}", store)
    assert max(size or 0 for _, size in store.records) <= CHUNK_BYTES
    assert restored(store, 1) == {b"1|site|R|rule|DOOR-1": big, b"1|site|meta": b"{}"}


def test_a_smaller_value_later_leaves_no_stale_chunks() -> None:
    store: Any = Log()
    key = b"2|site|R|rule|k"
    store.put(2, key, os.urandom(3 * CHUNK_BYTES), store)
    assert len(store.log[2]) == 4  # three chunks and the manifest
    store.put(2, key, os.urandom(CHUNK_BYTES + 1), store)
    assert len(store.log[2]) == 3
    store.put(2, key, b'{"u":1}', store)
    assert store.log[2] == {key: b'{"u":1}'}
    assert restored(store, 2) == {key: b'{"u":1}'}
    store.put(2, key, os.urandom(CHUNK_BYTES + 1), store)
    store.put(2, key, None, store)
    assert store.log[2] == {}


def test_after_a_restore_the_store_knows_the_chunks_it_must_replace() -> None:
    first: Any = Log()
    key = b"0|site|R|rule|k"
    first.put(0, key, os.urandom(2 * CHUNK_BYTES + 1), first)
    second: Any = Log()
    second.log = first.log
    second.take(0)
    second.put(0, key, b"{}", second)  # a successor writes a small state
    assert second.log[0] == {key: b"{}"}
