"""Online against offline in the worker tests: the final version of each incident id a worker
published, against `hub correlate --final` over the same events.

The comparison most worker tests end with (the same incidents online as offline), in one place;
benchmarks/incidents.py keeps its own copy so the benchmarks do not import test code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.integration.topic_io import Received

if TYPE_CHECKING:
    from tests.integration.scenarios import Scenario


def incident_view(rec: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of an incident the online = offline property compares."""
    route = rec.get("route")
    return {
        "incident_id": rec["incident_id"],
        "version": rec["version"],
        "rule_id": rec["rule_id"],
        "risk_level": rec["risk_level"],
        "evidence": [(e["kind"], e["event_id"], e["event_time"]) for e in rec["evidence"]],
        "route": None if route is None else (route["level"], route["department_id"]),
    }


def final_versions(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The highest CONFIRMED version of each incident_id (PROVISIONAL and RETRACTED versions are
    the early alerts: online = offline holds for the confirmed ones, docs/contracts.md)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        if rec.get("status", "CONFIRMED") != "CONFIRMED":
            continue
        held = out.get(rec["incident_id"])
        if held is None or rec["version"] > held["version"]:
            out[rec["incident_id"]] = dict(rec)
    return out


def read_offline(path: Path) -> dict[str, dict[str, Any]]:
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for r in recs:
        r.pop("kind", None)
    return final_versions(recs)


def describe_diff(online: Mapping[str, Mapping[str, Any]],
                  offline: Mapping[str, Mapping[str, Any]]) -> str:
    """A readable account of how two incident sets differ (for assertion messages)."""
    lines = []
    for iid in sorted(set(offline) - set(online)):
        lines.append(f"MISSING online: {iid} {incident_view(offline[iid])}")
    for iid in sorted(set(online) - set(offline)):
        lines.append(f"EXTRA online:   {iid} {incident_view(online[iid])}")
    for iid in sorted(set(online) & set(offline)):
        a, b = incident_view(online[iid]), incident_view(offline[iid])
        if a != b:
            fields = [k for k in a if a[k] != b[k]]
            lines.append(f"DIFFERS {iid} in {fields}: online={a} offline={b}")
    return "\n".join(lines[:40]) + (f"\n... {len(lines) - 40} more" if len(lines) > 40 else "")


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
