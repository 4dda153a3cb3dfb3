"""Which lanes an event is forwarded to (hub.core.lanes): the per-kind table worked out once
gives what asking every rule of every lane would."""

from __future__ import annotations

from typing import Any

from hub.codec.interchange import parse_line, to_building
from hub.core.lanes import Lane, key_for, lane_targets, lanes_of
from hub.core.registry import MemoryBuildingRegistry
from hub.core.rule_loading import load_rules
from hub.model.events import Event
from hub.replay.simulate.config import SimConfig
from hub.replay.simulate.simulator import simulate
from hub.settings import Settings
from tests.unit.core.helpers import building, pack_of, swipe


def _asking_every_rule(lanes: list[Lane], event: Event,
                       registry: Any) -> list[tuple[str, str]]:
    """The definition: a lane wants an event when one of its rules reads the kind and the
    kind is wanted in full, or one of that rule's steps (or its absent side) matches it."""
    targets = []
    for lane in lanes:
        wanted = any(
            event.kind in rule.sources and (
                event.kind in lane.kinds_in_full
                or any(m.kind == event.kind and m.pred(event.fields)
                       for m in [*rule.steps, *([rule.absent] if rule.absent else [])]))
            for rule in lane.rules)
        key = key_for(lane.by, event.fields, registry) if wanted else None
        if key is not None:
            targets.append((lane.name, key))
    return targets


def test_the_lanes_of_every_event_of_a_city_are_those_its_rules_ask_for() -> None:
    lanes = lanes_of(load_rules(Settings.from_env().rules_dir))
    sim = simulate(SimConfig(seed=3, buildings=10, days=1))
    key = Settings.from_env().pseudonym_key
    registry = MemoryBuildingRegistry()
    for line in sim.registry_lines:
        registry.put(to_building(parse_line(line, pseudonym_key=key)[1]))
    events = [Event.from_record(*parse_line(line, pseudonym_key=key))
              for line in sim.event_lines]
    got = [lane_targets(lanes, e, registry) for e in events]
    assert got == [_asking_every_rule(lanes, e, registry) for e in events]
    assert sum(1 for g in got if not g) > 0, "some events go nowhere (a rule's where: fails)"
    assert sum(1 for g in got if len(g) > 1) > 0, "some go to two lanes"


def test_a_kind_no_rule_reads_goes_nowhere() -> None:
    lanes = lanes_of(load_rules(Settings.from_env().rules_dir))
    event = Event.from_record("incident_action", {"event_id": "a1", "event_time": 1,
                                                  "site_id": "S"})
    assert lane_targets(lanes, event, None) == []


def test_lanes_keyed_from_the_registry_or_by_two_fields_target_as_their_rules_ask() -> None:
    """Beside the shipped lanes' one field: a grid joined from the registry, and two fields;
    an event whose key field is missing or empty goes nowhere in that lane."""
    pack = pack_of(
        {"id": "by_grid", "title": "By grid", "type": "threshold", "by": ["grid_id"],
         "within": "10m", "match": {"kind": "access_swipe", "where": {"result": "DENIED"}},
         "tiers": [{"count": 3, "risk_level": "LOW"}]},
        {"id": "by_card", "title": "By card", "type": "threshold", "by": ["credential_hash"],
         "within": "10m", "match": {"kind": "access_swipe", "where": {"result": "DENIED"}},
         "tiers": [{"count": 3, "risk_level": "LOW"}]},
        {"id": "by_door_and_cred", "title": "By door and card",
         "type": "threshold", "by": ["door_id", "credential_hash"],
         "within": "10m", "match": {"kind": "access_swipe"},
         "tiers": [{"count": 3, "risk_level": "LOW"}]},
    )
    lanes = lanes_of(pack)
    registry = MemoryBuildingRegistry()
    registry.put(building("B1", grid="G7"))
    events = [swipe("s1", 1, result="DENIED", building_id="B1"),
              swipe("s2", 2, result="DENIED", building_id="B-unknown"),
              swipe("s3", 3, result="GRANTED", building_id="B1"),
              swipe("s4", 4, result="DENIED", door=""),
              swipe("s5", 5, result="DENIED", cred=None, building_id="B1"),
              swipe("s6", 6, result="DENIED", cred="", building_id="B1")]
    got = [lane_targets(lanes, e, registry) for e in events]
    assert got == [_asking_every_rule(lanes, e, registry) for e in events]
    assert ("by:grid_id", "G7") in got[0]
    assert got[1] == [("by:credential_hash", "c1"), ("by:door_id+credential_hash", "D1|c1")]
    assert [lane for lane, _ in got[5]] == ["by:grid_id"]  # an empty card keys nothing
