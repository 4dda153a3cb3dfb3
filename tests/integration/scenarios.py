"""Inputs of the worker tests: a simulated city split into registry and events with its offline
incidents, and copies of topology/rules with a shorter lateness or without some rules.

Apart from the workers that run them (worker_harness.py): a scenario is made, and correlated
offline, before any worker starts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.harness_common import REPO
from tests.integration.incident_compare import read_offline


def fast_rules(dst: Path, *, lateness: str = "1s", idle: str = "2s") -> Path:
    """A copy of topology/rules with a short default lateness and idle time (the test knob)."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in (REPO / "topology" / "rules").glob("*.yaml"):
        if f.name != "sources.yaml":
            shutil.copy(f, dst / f.name)
    sources = (REPO / "topology" / "rules" / "sources.yaml").read_text()
    _head, sep, tail = sources.partition("\nsuppress:")
    (dst / "sources.yaml").write_text(
        f"sources:\n  default: {{lateness: {lateness}, idle: {idle}}}\n" + sep + tail
    )
    return dst


def write_jsonl(path: Path, lines: Iterable[Mapping[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(dict(x), ensure_ascii=False) + "\n" for x in lines))
    return path


@dataclass(frozen=True)
class Scenario:
    registry: Path
    events: Path
    events_count: int
    offline: dict[str, dict[str, Any]]  # incident_id -> final version, from `hub correlate --final`
    labelled_rules: frozenset[str]


def rules_without(dst: Path, rule_ids: Iterable[str]) -> Path:
    """A copy of topology/rules without the named rules."""
    import yaml

    drop = set(rule_ids)
    dst.mkdir(parents=True, exist_ok=True)
    for f in (REPO / "topology" / "rules").glob("*.yaml"):
        doc = yaml.safe_load(f.read_text())
        if isinstance(doc, dict) and "rules" in doc:
            doc["rules"] = [r for r in doc["rules"] if r.get("id") not in drop]
        (dst / f.name).write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    return dst


def make_scenario(tmp: Path, *, seed: int, buildings: int, days: int,
                  situations_per_rule: int | None = None,
                  rules_dir: Path | None = None) -> Scenario:
    """`hub simulate`, split into registry and events files, and `hub correlate --final` on it."""
    tmp.mkdir(parents=True, exist_ok=True)
    sim, labels, offline = tmp / "sim.jsonl", tmp / "labels.jsonl", tmp / "offline.jsonl"
    argv = ["simulate", "--seed", str(seed), "--buildings", str(buildings), "--days", str(days),
            "--out", str(sim), "--labels", str(labels)]
    if situations_per_rule is not None:
        argv += ["--situations-per-rule", str(situations_per_rule)]
    correlate = ["correlate", "--in", str(sim), "--out", str(offline), "--final"]
    if rules_dir is not None:
        correlate += ["--rules", str(rules_dir)]
    for args in (argv, correlate):
        done = subprocess.run([sys.executable, "-m", "hub", *args], cwd=REPO, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, f"hub {args[0]}: {done.stderr}"
    registry_lines, event_lines = [], []
    for line in sim.read_text().splitlines():
        if line.strip():
            is_registry = '"kind":"building_identity"' in line.replace(" ", "")
            (registry_lines if is_registry else event_lines).append(line + "\n")
    registry, events = tmp / "registry.jsonl", tmp / "events.jsonl"
    registry.write_text("".join(registry_lines))
    events.write_text("".join(event_lines))
    rules = frozenset(json.loads(x)["rule_id"] for x in labels.read_text().splitlines() if x)
    return Scenario(registry, events, len(event_lines), read_offline(offline), rules)
