"""Online against offline in the worker tests: the final version of each incident id a worker
published, against `hub correlate --final` over the same events.

The comparison most worker tests end with (the same incidents online as offline), in one place;
the view of an incident, the final versions and the diff are benchmarks/incidents.py's, which
worker_bench and flood_bench use too (tests may import benchmarks, never the other way round).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.incidents import describe_diff as bench_diff
from benchmarks.incidents import final_versions, incident_view
from tests.integration.topic_io import Received

if TYPE_CHECKING:
    from tests.integration.scenarios import Scenario


def read_offline(path: Path) -> dict[str, dict[str, Any]]:
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for r in recs:
        r.pop("kind", None)
    return final_versions(recs)


def describe_diff(online: Mapping[str, Mapping[str, Any]],
                  offline: Mapping[str, Mapping[str, Any]]) -> str:
    """A readable account of how two incident sets differ (for assertion messages)."""
    return bench_diff(online, offline, limit=40)


def dead_letter_summary(dead: list[Received]) -> dict[tuple[str, str], int]:
    """(reason, source kind) -> count."""
    out: dict[tuple[str, str], int] = {}
    for r in dead:
        rec = r.record or {}
        k = (str(rec.get("reason")), str(rec.get("source_kind")))
        out[k] = out.get(k, 0) + 1
    return out


def assert_same_incidents(incidents: list[Received], scenario: Scenario,
                          dead: list[Received] | None = None) -> None:
    """Last version per incident_id online == `hub correlate --final` offline."""
    undecoded = [(r.partition, r.offset) for r in incidents if r.record is None]
    assert not undecoded, f"undecodable incidents at {undecoded[:5]}"
    online = final_versions(r.record for r in incidents if r.record is not None)
    diff = describe_diff(online, scenario.offline)
    assert not diff, (
        f"online != offline ({len(online)} vs {len(scenario.offline)} ids; dead letters "
        f"{dead_letter_summary(dead or [])}):\n{diff}"
    )
    assert len(online) == len(scenario.offline)
    # Every version seen online for an id is one the offline run also went through: an
    # at-least-once redelivery may repeat (id, version) but must repeat it identically.
    by_version: dict[tuple[str, int], dict[str, Any]] = {}
    for r in incidents:
        assert r.record is not None
        if r.record.get("status", "CONFIRMED") != "CONFIRMED":
            continue  # early alerts: provisional versions number their own sequence
        view = incident_view(r.record)
        held = by_version.setdefault((view["incident_id"], view["version"]), view)
        assert held == view, f"two different incidents share id+version: {held} / {view}"


def assert_no_version_differs(incidents: list[Received]) -> int:
    """A version (incident id, version) published more than once must be the same each time
    (docs/architecture.md, "restarts change nothing"): a crash makes the successor apply up to
    one checkpoint interval of the correlation topic again, which publishes those versions again,
    identical. How many were published again."""
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    again = 0
    for r in incidents:
        if r.record is None or r.record.get("status", "CONFIRMED") != "CONFIRMED":
            continue
        ident = (str(r.record["incident_id"]), int(r.record["version"]))
        view = incident_view(r.record)
        if ident in seen:
            again += 1
            assert seen[ident] == view, f"{ident} published twice with different content"
        else:
            seen[ident] = view
    return again
