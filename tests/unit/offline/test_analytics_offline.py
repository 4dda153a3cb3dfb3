"""`hub analytics` over files: the engines of hub/core/analytics driven in time order."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hub.codec import load_codec, read_jsonl
from hub.core.analytics import load_analytics
from hub.model.events import REGISTRY_KIND
from hub.model.incidents import Incident
from hub.offline.analytics import analyse
from hub.offline.inputs import read_input

REPO = Path(__file__).resolve().parents[3]
CODEC = load_codec()


def hub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("city")
    events, incidents = d / "events.jsonl", d / "incidents.jsonl"
    assert hub("simulate", "--buildings", "12", "--days", "40", "--seed", "4", "--out",
               str(events)).returncode == 0
    assert hub("correlate", "--in", str(events), "--out", str(incidents)).returncode == 0
    return events, incidents


def test_skipping_other_kinds_unread_changes_no_figure(city: tuple[Path, Path]) -> None:
    events, incidents_file = city
    config = load_analytics(REPO / "topology" / "analytics.yaml")
    incidents = [Incident.from_record(x.record) for x in read_jsonl(
        incidents_file, pseudonym_key="k", codec=CODEC, accept={"incident"}) if x.record]
    every = analyse(read_input(events, pseudonym_key="k", codec=CODEC), incidents, config)
    only = analyse(read_input(events, pseudonym_key="k", codec=CODEC,
                              only=("grid_report", REGISTRY_KIND)), incidents, config)
    assert every.disputes and every.safety  # the city has disputes and days
    assert (only.disputes, only.warnings, only.safety) == (
        every.disputes, every.warnings, every.safety)
    assert only.buildings == every.buildings == 12


def test_the_command_writes_the_three_files(city: tuple[Path, Path], tmp_path: Path) -> None:
    events, incidents = city
    out = tmp_path / "analytics"
    result = hub("analytics", "--in", str(events), "--incidents", str(incidents),
                 "--out", str(out))
    assert result.returncode == 0, result.stderr
    files = {name: [json.loads(x) for x in (out / name).read_text().splitlines()]
             for name in ("disputes.jsonl", "risk_warnings.jsonl", "safety_index.jsonl")}
    assert {r["kind"] for r in files["disputes.jsonl"]} == {"dispute_funnel"}
    assert {r["kind"] for r in files["safety_index.jsonl"]} == {"safety_index"}
    for r in files["disputes.jsonl"]:
        assert r["in_progress"] == r["accepted"] - r["resolved"] - r["unresolved"]
    assert f"{len(files['disputes.jsonl'])} disputes.jsonl" in result.stderr


def test_an_out_that_is_a_file_is_status_2(tmp_path: Path, city: tuple[Path, Path]) -> None:
    events, _ = city
    result = hub("analytics", "--in", str(events), "--out", str(events))
    assert result.returncode == 2
    assert result.stderr.strip() == f"hub analytics: --out {events}: is a file; give a directory"


def test_bad_incident_lines_are_counted_and_said_as_input_lines_are(
        tmp_path: Path, city: tuple[Path, Path]) -> None:
    """A bad --incidents line printed "FILE:1: line 1: ..." and the summary said "0 rejected"
    beside status 1; a grid report under a misspelt kind was skipped unseen, status 0."""
    events, _ = city
    incidents = tmp_path / "incidents.jsonl"
    incidents.write_text('{"kind": "incident"}\n')
    typo = tmp_path / "events.jsonl"
    report = next(x for x in events.read_text().splitlines() if '"grid_report"' in x)
    typo.write_text(events.read_text() + report.replace('"grid_report"', '"grid_reprot"') + "\n")
    lines = len(typo.read_text().splitlines())
    result = hub("analytics", "--in", str(typo), "--incidents", str(incidents),
                 "--out", str(tmp_path / "out"))
    assert result.returncode == 1, result.stderr
    said = result.stderr.splitlines()
    assert f"{incidents}:1: VALIDATION_ERROR: incident_id: required field missing" in said[0]
    assert said[1].startswith(f"{typo}:{lines}: UNKNOWN_SCHEMA: kind: 'grid_reprot' is not a "
                              "known kind"), said
    assert ", 2 rejected; " in said[-1], said
