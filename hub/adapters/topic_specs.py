"""topology/topics.yaml as typed, validated ``TopicSpec`` values (pure: no Kafka here).

The file is the source of truth for every topic; a mistake in it is reported as a ConfigError that
names the file, the topic and the field, so whoever edits YAML sees where without reading Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hub.core.yaml_keys import load_unique
from hub.model.errors import ConfigError

CLEANUP_POLICIES = ("delete", "compact", "compact,delete")
FOREVER = -1
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_FIELDS = {
    "name", "partitions", "replication", "retention", "cleanup_policy", "key", "description",
    "configs",
}  # fmt: skip


@dataclass(frozen=True)
class TopicSpec:
    """One declared topic. ``retention_ms`` is -1 for "forever" (Kafka's own convention)."""

    name: str
    partitions: int
    replication: int
    retention_ms: int
    cleanup_policy: str
    description: str
    key: str = ""
    extra_configs: Mapping[str, str] = field(default_factory=dict)

    def kafka_configs(self) -> dict[str, str]:
        """The topic-level Kafka configs this spec pins (what ``apply`` creates or alters)."""
        return {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
            **self.extra_configs,
        }


def parse_retention(value: object) -> int:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"500ms"``, int milliseconds, or ``"forever"`` (-1)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a retention")
    if isinstance(value, int) and (value > 0 or value == FOREVER):
        return value
    if isinstance(value, str):
        if value.strip().lower() in {"forever", "infinite", "-1"}:
            return FOREVER
        m = _DURATION.match(value)
        if m and int(m.group(1)) > 0:
            return int(m.group(1)) * _UNITS[m.group(2)]
    raise ValueError(f"{value!r} is not a retention; write e.g. 7d, 12h, 30m or forever")


def _fail(path: Path, where: str, fld: str, why: str) -> ConfigError:
    return ConfigError(f"{path}: {where}: field '{fld}': {why}")


def _positive_int(raw: dict[str, Any], fld: str, default: object, path: Path, where: str) -> int:
    value = raw.get(fld, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(path, where, fld, f"must be a positive integer, got {value!r}")
    return value


def _spec(raw: object, index: int, defaults: Mapping[str, Any], path: Path) -> TopicSpec:
    where = f"topics[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: {where}: must be a mapping with name, partitions, ...")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name) or name in {".", ".."}:
        raise _fail(path, where, "name", f"must be a Kafka topic name [A-Za-z0-9._-], got {name!r}")
    where = f"topic {name!r}"
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise _fail(path, where, unknown[0], f"unknown field (known: {', '.join(sorted(_FIELDS))})")
    partitions = _positive_int(raw, "partitions", defaults.get("partitions"), path, where)
    replication = _positive_int(raw, "replication", defaults.get("replication", 1), path, where)
    try:
        retention = parse_retention(raw.get("retention", defaults.get("retention")))
    except ValueError as exc:
        raise _fail(path, where, "retention", str(exc)) from exc
    policy = raw.get("cleanup_policy", defaults.get("cleanup_policy", "delete"))
    if policy not in CLEANUP_POLICIES:
        raise _fail(
            path, where, "cleanup_policy", f"must be one of {CLEANUP_POLICIES}, got {policy!r}"
        )
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip():
        raise _fail(path, where, "description", "required: say what the topic carries")
    key = raw.get("key", "")
    if not isinstance(key, str):
        raise _fail(path, where, "key", f"must be text, got {key!r}")
    configs = raw.get("configs") or {}
    if not isinstance(configs, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float) and not isinstance(v, bool)
        for k, v in configs.items()
    ):
        raise _fail(path, where, "configs", "must map Kafka config names to string/number values")
    for pinned in ("cleanup.policy", "retention.ms"):
        if pinned in configs:
            raise _fail(path, where, "configs", f"set {pinned} with cleanup_policy/retention")
    return TopicSpec(
        name=name,
        partitions=partitions,
        replication=replication,
        retention_ms=retention,
        cleanup_policy=str(policy),
        description=" ".join(description.split()),
        key=key,
        extra_configs={k: str(v) for k, v in configs.items()},
    )


def load_topic_specs(path: Path) -> list[TopicSpec]:
    """Read and validate the topics file; ConfigError names file, topic and field on any problem."""
    try:
        doc = load_unique(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read topics file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("topics"), list) or not doc["topics"]:
        raise ConfigError(f"{path}: must be a mapping with a non-empty 'topics' list")
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{path}: 'defaults' must be a mapping")
    specs = [_spec(raw, i, defaults, path) for i, raw in enumerate(doc["topics"])]
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise _fail(path, f"topic {spec.name!r}", "name", "declared twice")
        seen.add(spec.name)
    return specs


def partitions_of(specs: Iterable[TopicSpec], name: str) -> int:
    """How many partitions topics.yaml declares for ``name``: the count a code path without a
    broker at hand (the worker before it connects, the offline tools) uses, instead of a number
    of its own. A topic the file does not declare is a ConfigError."""
    for spec in specs:
        if spec.name == name:
            return spec.partitions
    raise ConfigError(f"topic {name!r} is not declared in the topics file (topology/topics.yaml)")
