"""hub simulate as a whole (hub.replay.simulate.simulator): determinism, the bundled sample,
the registry first and every line within the contract."""

from __future__ import annotations

import json

from hub.codec.interchange import parse_line
from hub.replay.simulate.config import SimConfig
from hub.replay.simulate.simulator import simulate
from tests.unit.replay.simulate.support import (
    PSEUDONYM,
    REPO,
    sim,
)


def test_same_seed_gives_byte_identical_output() -> None:
    a = simulate(SimConfig(seed=11, buildings=8, days=2))
    b = simulate(SimConfig(seed=11, buildings=8, days=2))
    assert "\n".join(a.lines()) == "\n".join(b.lines())
    assert a.labels == b.labels
    c = simulate(SimConfig(seed=12, buildings=8, days=2))
    assert c.event_lines != a.event_lines


def test_the_default_output_is_the_bundled_sample_byte_for_byte() -> None:
    s = simulate(SimConfig(seed=2, buildings=3, days=1, situations_per_rule=1))
    sample = (REPO / "samples" / "scenario.jsonl").read_text(encoding="utf-8")
    assert "\n".join(s.lines()) + "\n" == sample
    labels = (REPO / "samples" / "scenario.labels.jsonl").read_text(encoding="utf-8")
    assert "\n".join(s.label_lines()) + "\n" == labels
    assert s.trends == () and "trends" not in s.counts


def test_registry_comes_first_and_every_line_meets_the_contract() -> None:
    s = sim(5, 10, 2)
    lines = list(s.lines())
    kinds = [json.loads(line)["kind"] for line in lines]
    n_reg = len(s.registry_lines)
    assert n_reg == 10 and set(kinds[:n_reg]) == {"building_identity"}
    assert "building_identity" not in kinds[n_reg:]
    for n, line in enumerate(lines, start=1):
        _kind, record = parse_line(line, n, pseudonym_key="k")
        original = json.loads(line)
        for name in ("credential_hash", "person_hash", "requester_hash", "reporter_hash"):
            if original.get(name) is not None:  # already pseudonyms: kept as they are
                assert PSEUDONYM.match(original[name]) and record[name] == original[name]
    reg = [json.loads(line) for line in s.registry_lines]
    for field in (
        "building_id",
        "name",
        "address",
        "site_id",
        "grid_id",
        "township_code",
        "district_code",
        "city_code",
        "police_station_id",
        "grid_worker_id",
        "households",
        "rental_units",
        "risk_tags",
        "updated_time",
    ):
        assert all(field in r for r in reg)
