"""The shared ``hub.*`` topics for the worker tests: a clean slate per test, and a lock so that
only one test at a time uses them.

The source topics are shared (their names are the public contract), so every worker test starts
from a clean slate: :func:`reset_topics` deletes every ``hub.*`` topic and the topics of earlier
test apps, waits until the broker has forgotten them and applies topology/topics.yaml again.
:func:`exclusive_topics` holds the lock that keeps two tests (or a benchmark) from doing that
under each other's feet.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from hub.adapters.kafka import KafkaException
from hub.adapters.kafka.admin import admin_client, apply_topics
from hub.adapters.topic_specs import load_topic_specs
from hub.settings import Settings
from tests.integration.harness_common import APP_PREFIX, running_workers, wait_until


def reset_topics(settings: Settings, app_id: str | None = None, *, timeout: float = 90.0) -> None:
    """Delete all hub.* topics and test apps' topics, wait until gone, apply topics.yaml again.

    Refused while a worker some test started still runs: it would read the fresh topics too.
    """
    left = running_workers()
    if left:
        raise AssertionError(f"reset_topics with workers still running: {', '.join(left)}; "
                             "stop them first (a fixture that outlives its test?)")
    admin = admin_client(settings.bootstrap)
    existing = admin.list_topics(timeout=10).topics

    def doomed_of(names: Iterable[str]) -> list[str]:
        return sorted(
            n for n in names
            if n.startswith(("hub.", APP_PREFIX)) or (app_id is not None and n.startswith(app_id))
        )

    doomed = doomed_of(existing)
    if doomed:
        for fut in admin.delete_topics(doomed, request_timeout=30).values():
            try:
                fut.result(timeout=30)
            except KafkaException:
                pass  # already gone
        wait_until(lambda: not doomed_of(admin.list_topics(timeout=10).topics),
                   timeout=timeout, what=f"deletion of {len(doomed)} topics")
    specs = load_topic_specs(settings.topics_file)
    deadline = time.monotonic() + timeout
    while True:  # the broker may still be finishing the deletion ("marked for deletion")
        try:
            apply_topics(admin, specs)
            break
        except Exception:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)
    names = [s.name for s in specs]
    wait_until(lambda: _all_have_leaders(admin, names), timeout=timeout,
               what="leaders for every declared topic")


def _all_have_leaders(admin: Any, names: list[str]) -> bool:
    topics = admin.list_topics(timeout=10).topics
    for name in names:
        meta = topics.get(name)
        if meta is None or meta.error is not None or not meta.partitions:
            return False
        if any(p.leader < 0 for p in meta.partitions.values()):
            return False
    return True


def topics_of(settings: Settings, app_id: str) -> list[str]:
    """The hub's topics plus the app's own (state changelog) that exist on the broker now."""
    admin = admin_client(settings.bootstrap)
    names = admin.list_topics(timeout=10).topics
    return sorted(n for n in names if n.startswith(("hub.", app_id)))


_topics_lock_depth = 0  # re-entrant within this process: module and function fixtures nest


@contextmanager
def exclusive_topics(settings: Settings, *, timeout: float = 900) -> Iterator[None]:
    """Hold ``<state dir>/hub-topics.lock`` for the block: one worker test at a time on hub.*.

    The hub.* topics are shared by every session on this broker and :func:`reset_topics` deletes
    them; tests that take this lock never reset them under each other's feet. Re-entrant within
    one process (a module fixture and a test's own fixture may both hold it).
    """
    import fcntl

    global _topics_lock_depth
    if _topics_lock_depth:
        _topics_lock_depth += 1
        try:
            yield
        finally:
            _topics_lock_depth -= 1
        return
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with (settings.state_dir / "hub-topics.lock").open("w") as fh:
        wait_until(lambda: _try_lock(fh.fileno(), fcntl), timeout=timeout, interval=0.5,
                   what="the hub-topics lock (another worker test is running)")
        _topics_lock_depth = 1
        try:
            yield
        finally:
            _topics_lock_depth = 0
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _try_lock(fd: int, fcntl: Any) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
