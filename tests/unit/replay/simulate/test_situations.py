"""Injected situations (hub.replay.simulate.situations): one label per situation, each
exactly one incident."""

from __future__ import annotations

from typing import Any

import pytest

from hub.replay.simulate.config import RULE_IDS
from tests.unit.replay.simulate.support import (
    RANK,
    SITE_LOCAL,
    events_of,
    oracle,
    sim,
)


def sited(event: dict[str, Any], field: str) -> str:
    return f"{event['site_id']}|{event[field]}" if field in SITE_LOCAL else str(event[field])


def test_labels_cover_every_rule_and_point_at_real_events() -> None:
    s = sim(4, 40, 9)
    by_id = {e["event_id"]: e for e in events_of(s)}
    assert {lab.rule_id for lab in s.labels} == set(RULE_IDS)
    key_field = {
        "perimeter_breach_entry": "site_id",
        "forced_door": "door_id",
        "credential_brute_force": "door_id",
        "cloned_credential": "credential_hash",
        "watchlist_entry": "site_id",
        "dispute_hotspot": "building_id",
        "lookup_spike": "building_id",
        "door_held_open": "door_id",
        "device_tamper": "device_id",
    }
    for lab in s.labels:
        evs = [by_id[i] for i in lab.event_ids]
        assert lab.first_event_time == min(e["event_time"] for e in evs)
        field = key_field[lab.rule_id]
        assert all(sited(e, field) == lab.key for e in evs), (lab.rule_id, lab.key)
        assert lab.risk_level in RANK
    assert [lab.first_event_time for lab in s.labels] == sorted(
        lab.first_event_time for lab in s.labels
    )


@pytest.mark.parametrize(("seed", "buildings", "days"), [(1, 30, 9), (2, 60, 3), (3, 6, 1)])
def test_injected_situations_are_exactly_the_incidents(
    seed: int, buildings: int, days: int
) -> None:
    s = sim(seed, buildings, days)
    found = oracle(events_of(s))
    assert len(found) == len(s.labels), sorted((i["rule_id"], i["key"]) for i in found)
    remaining = list(found)
    for lab in s.labels:
        hits = [
            i
            for i in remaining
            if i["rule_id"] == lab.rule_id and i["key"] == lab.key and i["ids"] & set(lab.event_ids)
        ]
        assert len(hits) == 1, lab
        assert hits[0]["ids"] <= set(lab.event_ids), "background joined a situation"
        assert hits[0]["risk"] == lab.risk_level
        remaining.remove(hits[0])
