"""`hub correlate` on a rules directory that loads but could not work as meant.

Runs the real command in a subprocess: a filter value no event can carry is a load error (one
stderr line, exit status 2, no incidents written); a rule mixing a 24 h and a 30 s source is a
one-line warning that leaves the exit status alone.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
RULES = REPO / "topology" / "rules"
SCENARIO = REPO / "samples" / "scenario.jsonl"
ACCESS_RESULTS = "GRANTED, DENIED, FORCED_OPEN, HELD_OPEN, TAILGATE, ANTI_PASSBACK, UNKNOWN"

MIXED_RULE = """
  - id: dispute_then_breach
    type: sequence
    title: "矛盾纠纷后周界报警 A dispute report, then a perimeter alarm"
    by: [site_id]
    within: 1h
    risk_level: HIGH
    steps:
      - kind: grid_report
        where: {category: DISPUTE}
      - kind: perimeter_alarm
"""


def _copy_rules(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    return rules


def _correlate(rules: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", "correlate", "--rules", str(rules), "--in", str(SCENARIO),
         "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )


def test_a_result_no_event_can_carry_stops_the_command(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    access = rules / "access.yaml"
    text = access.read_text(encoding="utf-8")
    assert text.count("where: {result: DENIED}") == 1  # credential_brute_force
    access.write_text(text.replace("where: {result: DENIED}", "where: {result: FORCED_OPENED}"),
                      encoding="utf-8")
    result = _correlate(rules, tmp_path / "out.jsonl")
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"hub correlate: {access}: rule 'credential_brute_force': field 'match.where.result': "
        f"'FORCED_OPENED' is not an AccessResult; use one of {ACCESS_RESULTS}"
    ]
    assert not (tmp_path / "out.jsonl").exists() or not (tmp_path / "out.jsonl").read_text()


def test_a_rule_mixing_24h_and_30s_sources_is_a_warning(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    grid = rules / "grid.yaml"
    grid.write_text(grid.read_text(encoding="utf-8") + MIXED_RULE, encoding="utf-8")
    result = _correlate(rules, tmp_path / "out.jsonl")
    assert result.returncode == 0, result.stderr
    warnings = [x for x in result.stderr.splitlines() if x.startswith("hub correlate: warning: ")]
    assert warnings == [
        f"hub correlate: warning: {grid}: rule 'dispute_then_breach': field 'steps[0].kind': "
        "grid_report (lateness 24h) is read with perimeter_alarm (in steps[1], lateness 30s); a "
        "rule waits for its slowest source, so its incidents are confirmed only after 24h; split "
        "the rule by source, or lower grid_report's lateness in the sources: section"
    ]
    assert "9 incidents" in result.stderr  # the run itself is unchanged


def test_the_shipped_rules_load_without_warnings(tmp_path: Path) -> None:
    result = _correlate(RULES, tmp_path / "out.jsonl")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
