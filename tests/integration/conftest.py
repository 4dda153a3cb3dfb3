"""Fixtures for tests against the real Kafka broker and Redis of ``hub stack up``.

``stack_settings`` brings the stack up itself (idempotent: a no-op when scripts/test.sh already did)
and applies topology/topics.yaml, so a bare ``python3 -m pytest`` works too. Tests that need topics
of their own use ``fresh_topics``: uniquely named, deleted afterwards, so tests never collide on a
shared broker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub import stack
from hub.adapters.kafka.admin import admin_client, apply_topics
from hub.adapters.topic_specs import load_topic_specs
from hub.settings import Settings
from hub.stack.testing import create_topics, delete_topics

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration needs the broker: mark it even if its author forgot."""
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack_settings() -> Iterator[Settings]:
    """Settings of a running local stack with the declared topics applied.

    Does not stop the stack afterwards: it may have been started by someone else (scripts/test.sh,
    another engineer's session), and restarting a broker per test session costs seconds.
    """
    settings = Settings.from_env()
    stack.up(settings)
    apply_topics(admin_client(settings.bootstrap), load_topic_specs(settings.topics_file))
    yield settings


FreshTopics = Callable[..., list[str]]


@pytest.fixture
def fresh_topics(stack_settings: Settings) -> Iterator[FreshTopics]:
    """Factory: ``fresh_topics("src", "out", partitions=4, config={...})`` -> unique topic names.

    Each name is ``test.<base>.<8 hex>``; all topics made through the factory are deleted when the
    test ends.
    """
    made: list[str] = []

    def make(*bases: str, partitions: int = 4, config: dict[str, str] | None = None) -> list[str]:
        # Tests write old timestamps (recorded 2025 traffic): with the broker's 7-day retention its
        # first cleanup (30 s after start, then every 5 min) could delete them mid-test.
        config = {"retention.ms": "-1", **(config or {})}
        names = create_topics(stack_settings, bases, partitions=partitions, config=config)
        made.extend(names)
        return names

    yield make
    delete_topics(stack_settings, made)
