"""One suite for the dedup store's twins: every test runs against MemoryDedupStore and against
RedisDedupStore on the local stack's Redis (HUB_REDIS_URL; skipped only when that Redis does not
answer: `hub stack up` starts it, CI always has it).

What the worker relies on (hub/runtime/ingest.py ``handle_batch``): one answer per item, in
order; the first sighting of (kind, event_id) is not a duplicate; a later sighting from other
source coordinates is; a sighting from the *same* coordinates is a redelivery after a crash and
must be processed again; kinds do not share ids; within one batch the first sighting wins; a key
is forgotten after the retention; apps (namespaces) do not see each other's keys, and every
worker and restart of one app shares them.

The building registry has no such pair: MemoryBuildingRegistry is the implementation the worker
runs (hub/runtime/registry_reader.py fills it from the registry topic); the Redis cards
(hub/buildings/mirror.py) are a write-only mirror for other apps, not a BuildingRegistry.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import threading
import time
import types
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hub.adapters.dedup_store import CLAIM_CHUNK, DedupStore, MemoryDedupStore, RedisDedupStore
from hub.settings import Settings

DAY_MS = 86_400_000
SHORT_MS = 200  # the retention of the expiry test only: short enough to wait out


@dataclass
class Twin:
    """Makes stores of one kind: ``make(namespace)`` is a store of that app (two calls with one
    namespace: two workers, or a worker and its restart); ``wait(ms)`` lets that much time pass
    for retention."""

    make: Callable[..., DedupStore]
    wait: Callable[[int], None]
    closers: list[Callable[[], None]] = field(default_factory=list)


def _memory() -> Twin:
    now = [1_000.0]
    shared: dict[tuple[str, int], MemoryDedupStore] = {}

    def make(namespace: str = "app", retention_ms: int = DAY_MS) -> DedupStore:
        # one Redis namespace is one dict: every store of it is the same object
        key = (namespace, retention_ms)
        if key not in shared:
            shared[key] = MemoryDedupStore(retention_ms, clock=lambda: now[0])
        return shared[key]

    def wait(ms: int) -> None:
        now[0] += ms / 1000

    return Twin(make, wait)


def _redis_url() -> str | None:
    import redis

    url = Settings.from_env().redis_url
    client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        client.ping()
    except redis.RedisError:
        return None
    finally:
        client.close()
    return url


def _redis(url: str) -> Twin:
    import redis

    run = f"hub:dedup:test-{uuid.uuid4().hex[:12]}:"  # keys of this test only

    def make(namespace: str = "app", retention_ms: int = DAY_MS) -> DedupStore:
        store = RedisDedupStore(url, retention_ms, prefix=f"{run}{namespace}:", on_error=_fail)
        twin.closers.append(store.close)
        return store

    def wait(ms: int) -> None:
        time.sleep(ms / 1000 + 0.05)  # Redis expires a PX key by its own clock: wait it out

    def remove_keys() -> None:
        client = redis.Redis.from_url(url)
        try:
            keys = list(client.scan_iter(match=f"{run}*", count=1_000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()

    twin = Twin(make, wait, [remove_keys])
    return twin


def _fail(what: str) -> None:
    raise AssertionError(f"the Redis store reported an error ({what}): the suite needs Redis up")


@pytest.fixture(params=["memory", "redis"])
def twin(request: pytest.FixtureRequest) -> Iterator[Twin]:
    if request.param == "memory":
        yield _memory()
        return
    url = _redis_url()
    if url is None:
        pytest.skip("Redis at HUB_REDIS_URL does not answer (start it: hub stack up)")
    made = _redis(url)
    yield made
    for close in reversed(made.closers):
        close()


def test_an_empty_batch_has_no_answers(twin: Twin) -> None:
    assert twin.make().duplicates([]) == []


def test_a_first_sighting_is_not_a_duplicate_a_later_one_from_elsewhere_is(twin: Twin) -> None:
    store = twin.make()
    assert store.duplicates([("access_swipe", "e1", "src/0/10")]) == [False]
    assert store.duplicates([("access_swipe", "e1", "src/1/77")]) == [True]
    assert store.duplicates([("access_swipe", "e1", "src/2/3")]) == [True]


def test_a_redelivery_from_the_same_coordinates_is_processed_again(twin: Twin) -> None:
    """After a crash the batch is read again: not processing it would lose the event."""
    store = twin.make()
    assert store.duplicates([("access_swipe", "e1", "src/0/10")]) == [False]
    assert store.duplicates([("access_swipe", "e1", "src/0/10")]) == [False]
    assert store.duplicates([("access_swipe", "e1", "src/0/11")]) == [True]


def test_answers_are_one_per_item_in_order_and_kinds_do_not_share_ids(twin: Twin) -> None:
    store = twin.make()
    assert store.duplicates([("access_swipe", "a", "s/0/1"), ("face_match", "b", "s/0/2")]) == [
        False, False]
    got = store.duplicates([
        ("face_match", "new", "s/0/3"),
        ("access_swipe", "a", "s/0/4"),   # seen, elsewhere
        ("face_match", "a", "s/0/5"),     # same id, other kind: new
        ("face_match", "b", "s/0/2"),     # its own redelivery
        ("face_match", "b", "s/0/6"),     # seen, elsewhere
    ])
    assert got == [False, True, False, False, True]


def test_within_one_batch_the_first_sighting_wins(twin: Twin) -> None:
    store = twin.make()
    got = store.duplicates([("access_swipe", "e1", "s/0/1"), ("access_swipe", "e1", "s/1/9"),
                            ("access_swipe", "e1", "s/0/1")])
    assert got == [False, True, False]
    assert store.duplicates([("access_swipe", "e1", "s/1/9")]) == [True]


def test_every_worker_of_an_app_shares_its_keys_other_apps_do_not(twin: Twin) -> None:
    one, other_worker, other_app = twin.make("app"), twin.make("app"), twin.make("app2")
    assert one.duplicates([("access_swipe", "e1", "s/0/1")]) == [False]
    assert other_worker.duplicates([("access_swipe", "e1", "s/3/5")]) == [True]
    assert other_app.duplicates([("access_swipe", "e1", "s/3/5")]) == [False]


def test_a_key_is_forgotten_after_the_retention_and_set_anew(twin: Twin) -> None:
    store = twin.make("short", retention_ms=SHORT_MS)
    assert store.duplicates([("access_swipe", "e1", "s/0/1")]) == [False]
    twin.wait(SHORT_MS)
    # past the retention the same id from elsewhere is new again (a replay of old data) ...
    assert store.duplicates([("access_swipe", "e1", "s/4/2")]) == [False]
    # ... and its key now holds the new coordinates
    assert store.duplicates([("access_swipe", "e1", "s/0/1")]) == [True]


def test_the_real_store_with_redis_away_says_not_duplicate_and_counts_it() -> None:
    """Only the real one can be away: the stream goes on (the engine still drops repeats within
    the lateness) and the error is counted, once per breaker interval."""
    errors: list[str] = []
    store = RedisDedupStore("redis://127.0.0.1:1/0", DAY_MS, on_error=errors.append,
                            breaker_seconds=60)
    try:
        items = [("access_swipe", "e1", "s/0/1"), ("access_swipe", "e1", "s/1/1")]
        assert store.duplicates(items) == [False, False]
        assert store.duplicates(items) == [False, False]  # breaker open: Redis not asked
        assert errors == ["dedup"]
    finally:
        store.close()


def test_claims_take_effect_in_the_order_made_whichever_is_read_first(twin: Twin) -> None:
    """Ingest claims a batch a chunk at a time and reads the answers at the end; a later claim
    read first must still see the earlier one's keys."""
    store = twin.make()
    first = store.claim([("access_swipe", "e1", "s/0/1")])
    second = store.claim([("access_swipe", "e1", "s/1/2"), ("access_swipe", "e2", "s/0/3")])
    assert second.flags() == [True, False]
    assert first.flags() == [False]
    assert first.flags() == [False]  # asking again reads nothing more


def test_a_claim_of_several_chunks_answers_every_item_in_order(twin: Twin) -> None:
    n = CLAIM_CHUNK * 2 + 500
    items = [("access_swipe", f"e{i % 1200}", f"s/0/{i}") for i in range(n)]
    assert twin.make().claim(items).flags() == [i >= 1200 for i in range(n)]


def test_odd_ids_in_a_chunk_are_claimed_like_any_other(twin: Twin) -> None:
    """The real store sends a chunk's keys joined by newlines when none holds one, else one
    argument per key: both ways give the same answers, for any id and coordinates."""
    odd = [("access_swipe", "a\nb", "s/0/1"), ("access_swipe", "", "s/0/2"),
           ("face_match", "门禁-7", "s/0/3"), ("access_swipe", "plain", "s/0/4")]
    plain = [("access_swipe", "p1", "s/0/5"), ("access_swipe", "门禁-7", "s/0/6")]
    store = twin.make()
    assert store.duplicates(odd) == [False] * 4
    assert store.duplicates(plain) == [False, False]
    again = [("access_swipe", "a\nb", "s/9/1"), ("access_swipe", "a", "s/9/2"),
             ("access_swipe", "", "s/9/3"), ("face_match", "门禁-7", "s/0/3"),
             ("access_swipe", "p1", "s/9/5"), ("access_swipe", "门禁-7", "s/9/6")]
    assert store.duplicates(again) == [True, False, True, False, True, True]
    assert store.duplicates([(k, i, w) for k, i, w in again if "\n" not in i]) == [
        False, True, False, True, True]


def test_the_real_store_answers_not_duplicate_when_redis_drops_the_claim() -> None:
    """Redis accepts the claims and then goes away before answering: every claim not read yet
    is answered "not a duplicate", the error is counted once, and Redis is not asked again
    while the breaker is open."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def accept_then_drop() -> None:
        conn, _ = server.accept()
        while True:  # answers redis-py's handshake; the first claim closes the connection
            data = conn.recv(65536)
            if not data or b"EVAL" in data:
                break
            if b"HELLO" in data:
                conn.sendall(b"%1\r\n$5\r\nproto\r\n:3\r\n")
            else:
                commands = sum(1 for line in data.split(b"\r\n") if line.startswith(b"*"))
                conn.sendall(b"+OK\r\n" * commands)
        conn.close()
        server.close()  # connecting again is refused

    threading.Thread(target=accept_then_drop, daemon=True).start()
    errors: list[str] = []
    store = RedisDedupStore(f"redis://127.0.0.1:{port}/0", DAY_MS, on_error=errors.append,
                            breaker_seconds=60)
    try:
        one = store.claim([("access_swipe", "e1", "s/0/1")])
        two = store.claim([("access_swipe", "e1", "s/1/1"), ("access_swipe", "e2", "s/1/2")])
        assert two.flags() == [False, False]
        assert one.flags() == [False]
        assert store.duplicates([("access_swipe", "e1", "s/2/2")]) == [False]  # breaker open
        assert errors == ["dedup"]
    finally:
        store.close()
        server.close()


def test_the_real_store_reconnects_to_a_restarted_redis_without_losing_a_claim(
        tmp_path: Path) -> None:
    """A Redis restarted while the store's connection sat idle: the next claim finds the
    connection closed, connects again and is answered, without an error or the breaker."""
    port = _free_port()
    errors: list[str] = []
    store = RedisDedupStore(f"redis://127.0.0.1:{port}/0", DAY_MS, on_error=errors.append)
    try:
        with _redis_server(port, tmp_path):
            assert store.duplicates([("access_swipe", "e1", "s/0/1")]) == [False]
        with _redis_server(port, tmp_path):  # an empty Redis (nothing saved): e1 is new to it
            pending = store.claim([("access_swipe", "e2", "s/0/2")])
            assert store.duplicates([("access_swipe", "e2", "s/1/3"),
                                     ("access_swipe", "e1", "s/1/4")]) == [True, False]
            assert pending.flags() == [False]
        assert errors == []
    finally:
        store.close()


def test_the_real_store_says_once_when_redis_is_back(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """It said "unavailable" every breaker interval and never when Redis answered again."""
    port = _free_port()
    store = RedisDedupStore(f"redis://127.0.0.1:{port}/0", DAY_MS, breaker_seconds=0.05)
    try:
        with caplog.at_level(logging.INFO, logger="hub.adapters.dedup_store"):
            assert store.duplicates([("access_swipe", "e1", "s/0/1")]) == [False]  # away
            with _redis_server(port, tmp_path):
                time.sleep(0.1)  # the breaker's interval
                assert store.duplicates([("access_swipe", "e2", "s/0/2")]) == [False]
                assert store.duplicates([("access_swipe", "e2", "s/1/2")]) == [True]
        said = [r.getMessage() for r in caplog.records]
        assert sum("unavailable" in m for m in said) == 1
        assert sum("redis dedup is back" in m for m in said) == 1, said
    finally:
        store.close()


def test_the_real_store_says_an_outage_once_then_once_a_minute(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stop 39's probe: a 35 s outage logged 'unavailable' 7 times, at every breaker retry."""
    from hub.adapters import dedup_store

    clock = [1000.0]
    # the store's own clock only (not the time module every library shares)
    monkeypatch.setattr(dedup_store, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    store = RedisDedupStore(f"redis://127.0.0.1:{_free_port()}/0", DAY_MS, breaker_seconds=5)
    try:
        with caplog.at_level(logging.WARNING, logger="hub.adapters.dedup_store"):
            for _ in range(30):  # 150 s of retries, every 5 s
                assert store.duplicates([("access_swipe", "e1", "s/0/1")]) == [False]
                clock[0] += 5.0
        said = [r.getMessage() for r in caplog.records]
        assert [m.split(" (")[0] for m in said] == [
            "redis dedup unavailable", "redis dedup still unavailable after 60 s",
            "redis dedup still unavailable after 120 s"], said
    finally:
        store.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _redis_server(port: int, tmp_path: Path) -> Iterator[None]:
    """Debian's redis-server (the one `hub stack` runs) on ``port``, saving nothing."""
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait(10)
