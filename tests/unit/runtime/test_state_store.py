"""Changelog values of any size (hub/runtime/state_store.py): chunked, and joined on restore."""

from __future__ import annotations

import logging
import os
from typing import Any

import pytest

from hub.runtime.state_store import (
    CHUNK_BYTES,
    COMPRESS_AT,
    COMPRESSED,
    MANIFEST,
    ChangelogStore,
    decode_value,
    encode_state,
)


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


def test_a_large_state_is_written_compressed_and_read_back_as_its_json() -> None:
    pieces = ['{"p":['] + [f'{"," if i else ""}[1,["access_swipe",{{"event_id":"f-{i}"}}]]'
                           for i in range(20_000)] + ["]}"]
    text = "".join(pieces).encode()
    value = encode_state(iter(pieces))
    assert value.startswith(COMPRESSED) and len(value) < len(text) // 10
    assert decode_value(value) == text
    store: Any = Log()
    store.put(3, b"3|site|R|rule|k", value, store)
    store.put(3, b"3|site|R|rule|small", encode_state(['{"u":', "1}"]), store)
    assert restored(store, 3) == {b"3|site|R|rule|k": text, b"3|site|R|rule|small": b'{"u":1}'}


def test_small_states_stay_plain_json_and_old_values_read_as_they_are() -> None:
    assert encode_state(['{"u":', "1}"]) == b'{"u":1}'
    assert encode_state(["x" * (COMPRESS_AT - 1)]) == b"x" * (COMPRESS_AT - 1)
    assert decode_value(b'{"p":[]}') == b'{"p":[]}'  # written before compression existed


def test_a_compressed_value_larger_than_a_chunk_is_chunked_and_joined() -> None:
    big = os.urandom(CHUNK_BYTES + 5_000).hex()  # random text: compresses ~2x only
    value = encode_state([big[i:i + 1000] for i in range(0, len(big), 1000)])
    assert value.startswith(COMPRESSED) and len(value) > CHUNK_BYTES
    store: Any = Log()
    store.put(0, b"0|site|R|rule|k", value, store)
    assert max(size or 0 for _, size in store.records) <= CHUNK_BYTES
    assert restored(store, 0) == {b"0|site|R|rule|k": big.encode()}


def test_entries_that_do_not_read_start_empty_and_the_rest_comes_back(
        caplog: pytest.LogCaptureFixture) -> None:
    """A manifest that is not a count, or counts more chunks than the partition holds (a
    hostile 10**12 would have built a list that long), and a compressed value that does not
    decompress: each is logged and left out; the good entry beside them is restored."""
    store = Log()
    store.log[0] = {b"0|site|meta": b"{}",
                    b"0|site|R|r|a": MANIFEST + b"many",
                    b"0|site|R|r|b": MANIFEST + b"1000000",
                    b"0|site|R|r|c": COMPRESSED + b"not zlib"}
    with caplog.at_level(logging.ERROR, logger="hub.runtime.state_store"):
        assert restored(store, 0) == {b"0|site|meta": b"{}"}
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "a manifest of 1000000 chunks among 4 entries" in said
    assert said.count("does not read") == 3
