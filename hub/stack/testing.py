"""Helpers for tests against the real broker: throw-away topics with unique names.

Tests share one broker (several engineers, one CI run), so each test makes its own topics with a
random suffix and deletes them afterwards instead of reusing the production topic names.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

from hub.adapters.kafka.admin import admin_client, wait_for_leaders
from hub.adapters.kafka.admin import create_topics as create_new_topics
from hub.settings import Settings

TEST_PREFIX = "test."


def unique_topic_name(base: str) -> str:
    """``test.<base>.<8 hex>``: unique per call, recognisable as a test topic."""
    return f"{TEST_PREFIX}{base}.{uuid.uuid4().hex[:8]}"


def create_topics(
    settings: Settings,
    bases: Iterable[str],
    *,
    partitions: int = 4,
    config: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> list[str]:
    """Create one uniquely named topic per base name; return the names once all have leaders."""
    names = [unique_topic_name(b) for b in bases]
    admin = admin_client(settings.bootstrap)
    create_new_topics(admin, names, partitions=partitions, configs=config, timeout=timeout,
                      what="create test topic")
    wait_for_leaders(admin, names, timeout=timeout)
    return names


def delete_topics(settings: Settings, names: Iterable[str], *, timeout: float = 30.0) -> None:
    """Delete topics, ignoring ones already gone (best effort: teardown must not mask a failure)."""
    names = list(names)
    if not names:
        return
    admin = admin_client(settings.bootstrap)
    for fut in admin.delete_topics(names, request_timeout=timeout).values():
        try:
            fut.result(timeout=timeout)
        except Exception:  # noqa: S112 - best effort by design
            continue
