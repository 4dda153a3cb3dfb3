"""simulate -> correlate -> evaluate, through the real commands: every injected situation is found,
nothing else is (recall 1.0, precision 1.0 with the default rules).

No broker needed, but it runs the whole toolchain end to end as a CI pipeline would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def hub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(("seed", "buildings", "days"), [(1, 40, 8), (2, 12, 2)])
def test_default_rules_find_exactly_the_injected_situations(
    tmp_path: Path, seed: int, buildings: int, days: int
) -> None:
    events, labels, incidents = (tmp_path / n for n in ("e.jsonl", "l.jsonl", "i.jsonl"))
    sim = hub(
        "simulate",
        "--seed",
        str(seed),
        "--buildings",
        str(buildings),
        "--days",
        str(days),
        "--out",
        str(events),
        "--labels",
        str(labels),
    )
    assert sim.returncode == 0, sim.stderr
    corr = hub("correlate", "--in", str(events), "--out", str(incidents))
    assert corr.returncode == 0, corr.stderr
    ev = hub(
        "evaluate",
        "--expected",
        str(labels),
        "--actual",
        str(incidents),
        "--min-recall",
        "1.0",
        "--min-precision",
        "1.0",
        "--json",
    )
    result = json.loads(ev.stdout)
    assert ev.returncode == 0, json.dumps(result, indent=1)[:4000]
    assert result["overall"]["recall"] == 1.0 and result["overall"]["precision"] == 1.0
    assert len(result["rules"]) == 9
    assert result["risk_mismatches"] == []
    assert_labels_name_their_incidents_keys(labels, incidents)


def assert_labels_name_their_incidents_keys(labels: Path, incidents: Path) -> None:
    """A label's key is the key of the incident it expects (the engine keys a door's rules per
    site: `SITE-0001|DOOR-00001-1`), so a missed label reads as the incident would."""
    keys: dict[tuple[str, str], str] = {}
    for line in incidents.read_text().splitlines():
        inc = json.loads(line)
        for e in inc["evidence"]:
            keys[(inc["rule_id"], e["event_id"])] = inc["key"]
    for line in labels.read_text().splitlines():
        lab = json.loads(line)
        found = {keys[(lab["rule_id"], eid)] for eid in lab["event_ids"]
                 if (lab["rule_id"], eid) in keys}
        assert found == {lab["key"]}, (lab["rule_id"], lab["key"], found)


def test_the_bundled_sample_scenario_meets_its_labels(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    incidents = tmp_path / "i.jsonl"
    corr = hub(
        "correlate", "--in", str(root / "samples" / "scenario.jsonl"), "--out", str(incidents)
    )
    assert corr.returncode == 0, corr.stderr
    ev = hub(
        "evaluate",
        "--expected",
        str(root / "samples" / "scenario.labels.jsonl"),
        "--actual",
        str(incidents),
        "--min-recall",
        "1",
        "--min-precision",
        "1",
    )
    assert ev.returncode == 0, ev.stdout + ev.stderr
    assert "perimeter_breach_entry" in ev.stdout
    assert_labels_name_their_incidents_keys(root / "samples" / "scenario.labels.jsonl", incidents)
