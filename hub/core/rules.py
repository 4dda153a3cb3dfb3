"""The rule language's model: what a compiled rule, suppression and pack are.

The engine, the lanes and the early correlator read these types and nothing else of the rules;
how topology/rules/*.yaml becomes them (validation, error messages) is hub.core.rule_loading.
See docs/rules.md for each type with a timeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

from hub.core.clock_skew import DEFAULT_FUTURE_MS
from hub.core.filters import Predicate
from hub.model.events import SOURCE_KINDS, Event

RULE_TYPES = ("single", "sequence", "all", "threshold", "distinct", "absence")
#: Fields that can be joined from the building registry (楼宇身份证) by the event's building_id.
REGISTRY_JOIN_FIELDS = (
    "grid_id",
    "township_code",
    "district_code",
    "city_code",
    "police_station_id",
    "grid_worker_id",
)
#: Keys that never cross a site: rules keyed only by these are evaluated in the site's partition.
SITE_LOCAL_FIELDS = frozenset({"site_id", "door_id", "building_id", "device_id", "zone_id"})
SITE_LANE = "site"

DEFAULT_LATENESS = {kind: 30_000 for kind in SOURCE_KINDS} | {"grid_report": 86_400_000}
DEFAULT_IDLE_MS = 10_000


class EnumType(NamedTuple):
    """The Avro enum of an enum-typed event field (from the contracts): a rule may name only its
    symbols, since no event can carry anything else."""

    name: str
    symbols: tuple[str, ...]
    nullable: bool = False  # the field's type is a union with null: ``None`` is a value too


#: kind -> field name -> its enum, for the enum-typed fields (``hub.codec.event_enums``).
KnownEnums = Mapping[str, Mapping[str, EnumType]]


class FieldType(NamedTuple):
    """What a plain (not enum) event field may hold, from the contracts: its Avro primitive
    types, and for a number the range ingest accepts. A rule comparing the field with anything
    else is a typo (``severity: {eq: "4"}`` never holds: severity is a number)."""

    names: frozenset[str]  # Avro primitives: int, long, float, double, string, boolean, null
    low: float | None = None
    high: float | None = None


#: kind -> field name -> its type, for the plain fields (``hub.codec.event_types``).
KnownTypes = Mapping[str, Mapping[str, FieldType]]


@dataclass(frozen=True)
class Matcher:
    """One step of a rule: an event kind and a compiled filter over its fields."""

    kind: str
    where: Mapping[str, Any]
    pred: Predicate = field(compare=False, repr=False)

    def matches(self, event: Event) -> bool:
        """Whether ``event`` is of this step's kind and passes its filter."""
        return event.kind == self.kind and self.pred(event.fields)


@dataclass(frozen=True)
class Tier:
    """A risk level reached at ``count`` matches (threshold and distinct rules climb tiers)."""

    count: int
    risk_level: str


@dataclass(frozen=True)
class Rule:
    """One compiled rule: what it matches, keyed by what, within which window, at which risk."""

    id: str
    type: str
    title: str
    by: tuple[str, ...]
    within: int
    steps: tuple[Matcher, ...]  # sequence/all: the steps; single/threshold/distinct: [match]
    tiers: tuple[Tier, ...]  # ascending counts; single/sequence/all/absence: one tier of count 1
    distinct_field: str | None = None
    absent: Matcher | None = None  # absence: the event that must not occur
    direction: str = "before"  # absence: before | after | both
    route_level: str | None = None  # fixed level instead of the 三级联动 default by risk
    description: str = ""
    source_file: str = ""

    @cached_property
    def sources(self) -> frozenset[str]:
        """The event kinds the rule reads, absent one included: what its watermark waits for."""
        kinds = {m.kind for m in self.steps}
        if self.absent is not None:
            kinds.add(self.absent.kind)
        return frozenset(kinds)

    @property
    def matchers(self) -> tuple[tuple[str, Matcher], ...]:
        """Each event the rule reads, with the field that says it in the rule file."""
        if self.type in ("single", "threshold", "distinct"):
            found = [("match", self.steps[0])]
        elif self.type == "absence":
            found = [("event", self.steps[0])]
        else:
            found = [(f"steps[{i}]", m) for i, m in enumerate(self.steps)]
        if self.absent is not None:
            found.append(("absent", self.absent))
        return tuple(found)

    @property
    def lane(self) -> str:
        """Which partitioning the rule needs online: the site's, or its own key's."""
        if set(self.by) <= SITE_LOCAL_FIELDS:
            return SITE_LANE
        return "by:" + "+".join(self.by)

    def risk_for(self, count: int) -> str | None:
        """The risk level of the highest tier ``count`` reaches; None below the lowest tier."""
        level = None
        for tier in self.tiers:
            if count >= tier.count:
                level = tier.risk_level
        return level


@dataclass(frozen=True)
class Suppression:
    """Repeats of the same thing within ``within`` of the previous one are one (e.g. flapping)."""

    id: str
    kind: str
    by: tuple[str, ...]
    within: int
    where: Predicate = field(compare=False, repr=False)
    clauses: Mapping[str, Any] = field(default_factory=dict)  # the ``where:`` as written
    source_file: str = ""


@dataclass(frozen=True)
class SourcePolicy:
    """How long the engine waits for one source's late and idle events (its watermark)."""

    lateness: int
    idle: int
    #: How far past its arrival an event time may be before it is corrected (hub.core.clock_skew)
    future: int = DEFAULT_FUTURE_MS


@dataclass(frozen=True)
class Limits:
    """Bounds that keep one flooding key from swamping state and output (docs/rules.md,
    "Floods"): an incident lists its first and last evidence with a total count, publishes at
    most one version per ``version_every`` of event time (a raised risk level at once), and a
    key's window holds at most ``window_events`` events."""

    evidence_first: int = 20
    evidence_last: int = 20
    version_every: int = 0
    window_events: int = 10_000


@dataclass(frozen=True)
class RulePack:
    """Everything the engine runs: the rules, suppressions, per-source policies and limits."""

    rules: tuple[Rule, ...]
    suppressions: tuple[Suppression, ...] = ()
    sources: Mapping[str, SourcePolicy] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)

    def policy(self, kind: str) -> SourcePolicy:
        """The lateness/idle policy of source ``kind``; kinds not configured get the defaults."""
        return self.sources.get(kind) or SourcePolicy(
            DEFAULT_LATENESS.get(kind, 30_000), DEFAULT_IDLE_MS
        )

    @property
    def lanes(self) -> frozenset[str]:
        """The partitionings the pack's rules need online (one lane each)."""
        return frozenset(r.lane for r in self.rules)

    @cached_property
    def future_ms(self) -> Mapping[str, int]:
        """Source kind -> how far an event time may run past its arrival (hub.core.clock_skew)."""
        return {kind: self.policy(kind).future for kind in SOURCE_KINDS}
