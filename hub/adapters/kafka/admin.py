"""Where the topology meets Kafka: make the cluster's topics match topology/topics.yaml.

``plan_changes`` is pure (declared specs + observed state -> list of changes), so the decisions are
unit-tested without a broker; ``apply_topics`` observes the cluster through the AdminClient, runs
the plan and waits until every touched partition has a leader, so the next producer does not race a
half-created topic. Kafka errors are translated into KafkaAdminError at this boundary.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal

from confluent_kafka import KafkaError, KafkaException

# The documented import path; the package has no __all__, so mypy needs the attr-defined ignore.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from hub.adapters.kafka.reachable import not_answering, refused_by_all
from hub.adapters.topic_specs import TopicSpec
from hub.model.errors import HubError

__all__ = [
    "Action",
    "AdminClient",
    "KafkaAdminError",
    "TopicChange",
    "TopicState",
    "admin_client",
    "apply_topics",
    "create_topics",
    "describe_topics",
    "ensure_topic",
    "partition_count",
    "plan_changes",
    "wait_for_leaders",
]

Action = Literal["create", "add_partitions", "alter_configs", "warn"]


class KafkaAdminError(HubError):
    """The admin API failed; the message names the topic and suggests ``hub stack up``."""


@dataclass(frozen=True)
class TopicState:
    """A topic as the cluster has it now (configs: only the ones we read)."""

    name: str
    partitions: int
    replication: int
    configs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicChange:
    """One step of a plan. ``configs`` maps name -> (current or None, wanted) for alter/create."""

    action: Action
    topic: str
    detail: str
    partitions: int = 0
    configs: Mapping[str, tuple[str | None, str]] = field(default_factory=dict)


def admin_client(bootstrap: str, *, log_level: int = 3, logger: Any = None,
                 fail_fast: bool = False) -> AdminClient:
    """An AdminClient for ``bootstrap``; quiet (librdkafka logs only errors, syslog level 3).

    ``logger``: where librdkafka's lines go (hub.observability.kafka_log); without one it prints
    them to stderr itself, a line per reconnect attempt while the broker is away.
    ``fail_fast``: for a one-shot command, KafkaAdminError at once when every bootstrap address
    refuses a connection, instead of a metadata timeout later (a worker waits for Kafka instead).
    """
    if fail_fast:
        refused = refused_by_all(bootstrap)
        if refused is not None:
            raise KafkaAdminError(not_answering(bootstrap, refused))
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "log_level": log_level}
    if logger is not None:
        config["logger"] = logger
    return AdminClient(config)


def create_topics(admin: AdminClient, names: Iterable[str], *, partitions: int,
                  replication: int = 1, configs: Mapping[str, str] | None = None,
                  timeout: float = 30.0, what: str = "create topic") -> None:
    """Create ``names`` (all new) with the same shape; KafkaAdminError ("<what> <name>: ...")
    for the first that fails. Does not wait for leaders (see :func:`wait_for_leaders`)."""
    new = [NewTopic(n, num_partitions=partitions, replication_factor=replication,
                    config=dict(configs or {})) for n in names]
    for name, fut in admin.create_topics(new, request_timeout=timeout).items():
        try:
            fut.result(timeout=timeout)
        except Exception as exc:
            raise KafkaAdminError(f"{what} {name}: {exc}") from exc


def _norm(name: str, value: str | None) -> str | None:
    if value is not None and name == "cleanup.policy":
        return ",".join(sorted(p.strip() for p in value.split(",")))
    return value


def plan_changes(
    specs: Sequence[TopicSpec], current: Mapping[str, TopicState]
) -> list[TopicChange]:
    """What must change so the cluster matches ``specs``: pure, deterministic, in spec order.

    Never deletes topics and never lowers partitions (Kafka cannot); those show up as warnings.
    """
    changes: list[TopicChange] = []
    for spec in specs:
        wanted = spec.kafka_configs()
        state = current.get(spec.name)
        if state is None:
            shown = ", ".join(f"{k}={v}" for k, v in wanted.items())
            changes.append(
                TopicChange(
                    "create", spec.name, f"{spec.partitions} partitions, rf "
                    f"{spec.replication}, {shown}", spec.partitions,
                    {k: (None, v) for k, v in wanted.items()},
                )
            )  # fmt: skip
            continue
        if state.partitions < spec.partitions:
            detail = f"partitions {state.partitions} -> {spec.partitions}"
            changes.append(TopicChange("add_partitions", spec.name, detail, spec.partitions))
        elif state.partitions > spec.partitions:
            detail = (
                f"has {state.partitions} partitions, declared {spec.partitions}: Kafka cannot "
                "lower a partition count; fix topics.yaml or recreate the topic by hand"
            )
            changes.append(TopicChange("warn", spec.name, detail))
        if state.replication != spec.replication:
            detail = (
                f"replication is {state.replication}, declared {spec.replication}: not changed "
                "by apply (needs a partition reassignment)"
            )
            changes.append(TopicChange("warn", spec.name, detail))
        diff = {
            k: (state.configs.get(k), v)
            for k, v in wanted.items()
            if _norm(k, state.configs.get(k)) != _norm(k, v)
        }
        if diff:
            shown = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in diff.items())
            changes.append(TopicChange("alter_configs", spec.name, shown, configs=diff))
    return changes


def _result(future: Future[Any], what: str, timeout: float) -> Any:
    try:
        return future.result(timeout=timeout)
    except KafkaException as exc:
        raise KafkaAdminError(f"{what}: {exc.args[0] if exc.args else exc}") from exc
    except TimeoutError as exc:
        raise KafkaAdminError(
            f"{what}: no answer within {timeout:.0f}s (is `hub stack up` running?)"
        ) from exc


def describe_topics(
    admin: AdminClient, names: Iterable[str] | None = None, *, timeout: float = 15.0
) -> dict[str, TopicState]:
    """Observed state of ``names`` (all non-internal topics when None); absent ones left out."""
    try:
        md = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise KafkaAdminError(
            not_answering(None, exc.args[0] if exc.args else exc)) from exc
    wanted = set(md.topics) if names is None else set(names) & set(md.topics)
    wanted = {n for n in wanted if not n.startswith("__") and md.topics[n].error is None}
    if not wanted:
        return {}
    resources = [ConfigResource(ResourceType.TOPIC, n) for n in sorted(wanted)]
    futures = admin.describe_configs(resources, request_timeout=timeout)
    states: dict[str, TopicState] = {}
    for res, fut in futures.items():
        entries: dict[str, ConfigEntry] = _result(fut, f"describe configs of {res.name}", timeout)
        parts = md.topics[res.name].partitions
        rf = max((len(p.replicas) for p in parts.values()), default=0)
        configs = {k: e.value for k, e in entries.items() if e.value is not None}
        states[res.name] = TopicState(res.name, len(parts), rf, configs)
    return states


def wait_for_leaders(admin: AdminClient, names: Iterable[str], *, timeout: float = 30.0) -> None:
    """Block until every partition of ``names`` has a leader (metadata probe, bounded)."""
    pending = set(names)
    deadline = time.monotonic() + timeout
    while pending:
        md = admin.list_topics(timeout=max(1.0, deadline - time.monotonic()))
        pending = {
            n
            for n in pending
            if n not in md.topics
            or md.topics[n].error is not None
            or any(p.leader < 0 for p in md.topics[n].partitions.values())
        }
        if pending and time.monotonic() > deadline:
            raise KafkaAdminError(
                f"topics without partition leaders after {timeout:.0f}s: {pending}"
            )
        if pending:
            time.sleep(0.1)


def apply_topics(
    admin: AdminClient, specs: Sequence[TopicSpec], *, dry_run: bool = False, timeout: float = 30.0
) -> list[TopicChange]:
    """Create missing topics, raise partition counts, set configs; return what was (would be) done.

    Idempotent: a second run against an unchanged cluster returns no create/alter changes.
    """
    changes = plan_changes(specs, describe_topics(admin, [s.name for s in specs], timeout=timeout))
    if dry_run:
        return changes
    by_name = {s.name: s for s in specs}
    creates = [c for c in changes if c.action == "create"]
    if creates:
        new = [
            NewTopic(
                c.topic,
                num_partitions=c.partitions,
                replication_factor=by_name[c.topic].replication,
                config=by_name[c.topic].kafka_configs(),
            )
            for c in creates
        ]
        for name, fut in admin.create_topics(new, request_timeout=timeout).items():
            _result(fut, f"create topic {name}", timeout)
    grows = [NewPartitions(c.topic, c.partitions) for c in changes if c.action == "add_partitions"]
    if grows:
        for name, fut in admin.create_partitions(grows, request_timeout=timeout).items():
            _result(fut, f"add partitions to {name}", timeout)
    alters = [
        ConfigResource(
            ResourceType.TOPIC,
            c.topic,
            incremental_configs=[
                ConfigEntry(k, new, incremental_operation=AlterConfigOpType.SET)
                for k, (_, new) in c.configs.items()
            ],
        )
        for c in changes
        if c.action == "alter_configs"
    ]
    if alters:
        futures = admin.incremental_alter_configs(alters, request_timeout=timeout)
        for res, fut in futures.items():
            _result(fut, f"alter configs of {res.name}", timeout)
    touched = {c.topic for c in changes if c.action != "warn"}
    if touched:
        _await_converged(admin, [by_name[n] for n in sorted(touched)], timeout)
        wait_for_leaders(admin, touched, timeout=timeout)
    return changes


def _await_converged(admin: AdminClient, specs: Sequence[TopicSpec], timeout: float) -> None:
    """Wait until the broker *shows* what was applied: the controller acknowledges an alter before
    the broker's metadata cache has it, and a caller reading right after apply must see it."""
    deadline = time.monotonic() + timeout
    while True:
        current = describe_topics(admin, [s.name for s in specs], timeout=timeout)
        left = [c for c in plan_changes(specs, current) if c.action != "warn"]
        if not left:
            return
        if time.monotonic() > deadline:
            pending = "; ".join(f"{c.topic}: {c.detail}" for c in left)
            raise KafkaAdminError(f"applied, but the broker still shows a difference: {pending}")
        time.sleep(0.1)


def partition_count(admin: AdminClient, name: str, *, timeout: float = 10.0) -> int | None:
    """How many partitions ``name`` has; None if the topic does not exist."""
    try:
        meta = admin.list_topics(name, timeout=timeout).topics.get(name)
    except KafkaException as exc:
        raise KafkaAdminError(not_answering(None, exc)) from exc
    if meta is None or meta.error is not None or not meta.partitions:
        return None
    return len(meta.partitions)


def ensure_topic(admin: AdminClient, name: str, *, partitions: int, configs: Mapping[str, str],
                 timeout: float = 30.0) -> None:
    """Create ``name`` if it is missing (a worker's own topics, e.g. its state changelog)."""
    if partition_count(admin, name, timeout=timeout) is not None:
        return
    topic = NewTopic(name, num_partitions=partitions, replication_factor=-1, config=dict(configs))
    for topic_name, fut in admin.create_topics([topic], request_timeout=timeout).items():
        try:
            fut.result(timeout=timeout)
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise KafkaAdminError(f"create topic {topic_name}: {exc.args[0]}") from exc
    wait_for_leaders(admin, [name], timeout=timeout)
