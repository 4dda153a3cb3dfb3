"""Helpers for tests against the real broker: throw-away topics with unique names.

Tests share one broker (several engineers, one CI run), so each test makes its own topics with a
random suffix and deletes them afterwards instead of reusing the production topic names.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]  # no __all__ upstream

from hub.adapters.kafka_admin import KafkaAdminError, admin_client, wait_for_leaders
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
    new = [NewTopic(n, num_partitions=partitions, replication_factor=1, config=dict(config or {}))
           for n in names]  # fmt: skip
    for name, fut in admin.create_topics(new, request_timeout=timeout).items():
        try:
            fut.result(timeout=timeout)
        except Exception as exc:
            raise KafkaAdminError(f"create test topic {name}: {exc}") from exc
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
