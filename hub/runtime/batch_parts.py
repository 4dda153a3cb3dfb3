"""What a batch of the worker's consumer is made of: the messages of each stage, and the offsets
it commits (after each partition's last message) or reads again from (each partition's first),
kept apart from the loop (hub/runtime/pipeline.py) as the plain functions they are."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hub.adapters.kafka import TopicPartition
from hub.settings import CORRELATE_TOPIC, REGISTRY_TOPIC


def by_stage(batch: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    """A batch's source messages (ingest), forwards (correlation) and registry records (their
    check, hub/runtime/registry_check.py), each in the batch's order."""
    sources: list[Any] = []
    forwards: list[Any] = []
    cards: list[Any] = []
    for m in batch:
        topic = m.topic()
        if topic == CORRELATE_TOPIC:
            forwards.append(m)
        elif topic == REGISTRY_TOPIC:
            cards.append(m)
        else:
            sources.append(m)
    return sources, forwards, cards


def next_offsets(batch: Iterable[Any]) -> list[TopicPartition]:
    """The offsets a batch commits: after each partition's last message."""
    last: dict[tuple[str, int], int] = {}
    for msg in batch:
        last[(msg.topic(), msg.partition())] = msg.offset()
    return [TopicPartition(t, p, o + 1) for (t, p), o in sorted(last.items())]


def first_offsets(batch: Iterable[Any]) -> list[TopicPartition]:
    """Where an aborted batch is read again from: each partition's first message."""
    first: dict[tuple[str, int], int] = {}
    for msg in batch:
        first.setdefault((msg.topic(), msg.partition()), msg.offset())
    return [TopicPartition(t, p, o) for (t, p), o in sorted(first.items())]


def partition_names(partitions: Iterable[TopicPartition]) -> str:
    """``topic [0, 1]; topic [2]`` for the log."""
    by_topic: dict[str, list[int]] = {}
    for tp in partitions:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    return "; ".join(f"{t} {sorted(ps)}" for t, ps in sorted(by_topic.items())) or "nothing"


__all__ = ["by_stage", "first_offsets", "next_offsets", "partition_names"]
