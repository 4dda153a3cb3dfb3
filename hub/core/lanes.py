"""Which internal partition each event must reach so every rule sees all events of its key.

Rules keyed only by site-local fields (door, building, device, zone, site) are evaluated in the
site's partition ("site" lane), with the site in their key (rule loading adds ``site_id``: a
vendor's door and device ids repeat across sites). A rule keyed by anything else (a
credential, a grid) gets a lane of its own, and events are repartitioned by that key, so the
answer stays right with many workers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.core.filters import Predicate
from hub.core.registry import BuildingRegistry
from hub.core.rules import REGISTRY_JOIN_FIELDS, SITE_LANE, Rule, RulePack
from hub.model.events import Event


def key_for(by: tuple[str, ...], fields: Mapping[str, Any],
            registry: BuildingRegistry | None, at: int | None = None) -> str | None:
    """The key of ``by`` fields; registry fields are joined by building_id, from its record in
    force at ``at`` (the event's time; None: the latest). None: cannot key."""
    parts = []
    for name in by:
        value = fields.get(name)
        if value is None and name in REGISTRY_JOIN_FIELDS and registry is not None:
            bid = fields.get("building_id")
            building = None
            if bid:
                building = registry.get(str(bid)) if at is None else registry.as_of(str(bid), at)
            value = getattr(building, name, None) if building else None
        if value is None or value == "":
            return None
        parts.append(str(value))
    return parts[0] if len(parts) == 1 else "|".join(parts)


@dataclass(frozen=True)
class Lane:
    """One online partitioning of the rules: events are keyed by ``by`` so that every rule of the
    lane sees all the events of its keys on one worker."""

    name: str
    by: tuple[str, ...]  # partition key fields; the site lane partitions by site_id
    rules: tuple[Rule, ...]
    kinds_in_full: frozenset[str]  # kinds whose every event must come (a suppression reads them)
    #: kind -> the predicates of which one must hold for an event to come (None: every event
    #: of the kind comes); a kind no rule of the lane reads is absent. Worked out once here:
    #: ingest asks for every event it forwards.
    wants: Mapping[str, tuple[Predicate, ...] | None] = field(init=False, repr=False,
                                                             compare=False)
    #: the one key field when it is not joined from the registry (key_for's usual case)
    own_key: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        wants: dict[str, tuple[Predicate, ...] | None] = {}
        for rule in self.rules:
            for kind in rule.sources:
                preds = wants.get(kind, ())
                if kind in self.kinds_in_full:
                    wants[kind] = None
                elif preds is not None:
                    wants[kind] = (*preds, *(m.pred for _, m in rule.matchers if m.kind == kind))
        object.__setattr__(self, "wants", wants)
        own = self.by[0] if len(self.by) == 1 and self.by[0] not in REGISTRY_JOIN_FIELDS else None
        object.__setattr__(self, "own_key", own)


def lanes_of(pack: RulePack) -> list[Lane]:
    """The pack's rules grouped by the partitioning they need (Rule.lane), one Lane each."""
    suppressed = frozenset(s.kind for s in pack.suppressions)
    grouped: dict[str, list[Rule]] = {}
    for rule in pack.rules:
        grouped.setdefault(rule.lane, []).append(rule)
    return [
        Lane(
            name=name,
            by=("site_id",) if name == SITE_LANE else rules[0].by,
            rules=tuple(rules),
            kinds_in_full=suppressed,
        )
        for name, rules in sorted(grouped.items())
    ]


def lane_targets(
    lanes: list[Lane], event: Event, registry: BuildingRegistry | None
) -> list[tuple[str, str]]:
    """(lane name, partition key) for every lane with a rule that may use ``event``."""
    targets = []
    kind, fields = event.kind, event.fields
    for lane in lanes:
        preds = lane.wants.get(kind, _UNREAD)
        if preds is _UNREAD:
            continue
        if preds is not None:  # a loop, not any() over a generator: ingest asks per event
            for pred in preds:
                if pred(fields):
                    break
            else:
                continue
        own = lane.own_key
        if own is not None:  # one field the event carries itself: key_for's usual case
            value = fields.get(own)
            if value is not None and value != "":
                targets.append((lane.name, str(value)))
            continue
        key = key_for(lane.by, fields, registry, event.event_time)
        if key is not None:
            targets.append((lane.name, key))
    return targets


#: ``Lane.wants.get``'s answer for a kind the lane does not read (None means "every event"). No
#: predicate, so no event: the same answer as a kind the lane reads with none (``()`` is ``()``).
_UNREAD: tuple[Predicate, ...] = ()
