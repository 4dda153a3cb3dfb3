"""A rule reading sources of very different lateness waits for the slowest: say so at load.

A grid_report (24 h lateness) with a perimeter_alarm (30 s) in one rule confirms only after 24 h.
``lateness_warnings`` names such rules (docs/rules.md, "Mixing slow and fast sources").
"""

from __future__ import annotations

from typing import Any

from hub.core.rule_checks import LATENESS_GAP_MS, LATENESS_RATIO, lateness_warnings
from hub.core.rule_loading import parse_documents
from hub.core.rules import RulePack
from tests.unit.core.helpers import default_pack

SOURCES = {"default": {"lateness": "30s"}, "grid_report": {"lateness": "24h"}}


def _pack(*rules: dict[str, Any], sources: dict[str, Any] | None = None) -> RulePack:
    return parse_documents([("mixed.yaml", {"rules": list(rules), "sources": sources or SOURCES})])


def _sequence(rid: str, *kinds: str) -> dict[str, Any]:
    return {"id": rid, "type": "sequence", "title": "t", "by": ["site_id"], "within": "1h",
            "risk_level": "HIGH", "steps": [{"kind": k} for k in kinds]}


def test_a_rule_mixing_24h_and_30s_sources_is_named() -> None:
    pack = _pack(_sequence("dispute_then_breach", "grid_report", "perimeter_alarm"))
    assert lateness_warnings(pack) == [
        "mixed.yaml: rule 'dispute_then_breach': field 'steps[0].kind': grid_report (lateness 24h) "
        "is read with perimeter_alarm (in steps[1], lateness 30s); a rule waits for its slowest "
        "source, so its incidents are confirmed only after 24h; split the rule by source, or "
        "lower grid_report's lateness in the sources: section"
    ]


def test_rules_over_sources_of_one_lateness_do_not_warn() -> None:
    pack = _pack(_sequence("breach_entry", "perimeter_alarm", "access_swipe"),
                 _sequence("two_reports", "grid_report", "grid_report"),
                 {"id": "tamper", "type": "single", "title": "t", "by": ["device_id"],
                  "within": "10m", "risk_level": "LOW", "match": {"kind": "grid_report"}})
    assert lateness_warnings(pack) == []


def test_the_absent_event_of_an_absence_rule_counts() -> None:
    rule = {"id": "no_report", "type": "absence", "title": "t", "by": ["site_id"],
            "within": "1h", "risk_level": "LOW", "event": {"kind": "perimeter_alarm"},
            "absent": {"kind": "grid_report"}}
    (warning,) = lateness_warnings(_pack(rule))
    assert "rule 'no_report': field 'absent.kind': grid_report (lateness 24h)" in warning
    assert "perimeter_alarm (in event, lateness 30s)" in warning


def _warns(fast: str, slow: str) -> bool:
    sources = {"default": {"lateness": fast}, "grid_report": {"lateness": slow}}
    return bool(lateness_warnings(_pack(_sequence("r", "grid_report", "perimeter_alarm"),
                                        sources=sources)))


def test_the_threshold_is_ratio_10_and_a_gap_of_10_minutes() -> None:
    assert (LATENESS_RATIO, LATENESS_GAP_MS) == (10, 600_000)
    assert _warns("2m", "20m")  # ratio 10, gap 18 min
    assert not _warns("2m", "19m")  # ratio 9.5: alike enough
    assert _warns("1m", "11m")  # ratio 11, gap 10 min
    assert not _warns("1m", "10m")  # gap 9 min: a short wait
    assert not _warns("1s", "5m")  # ratio 300 but the wait is short
    assert not _warns("2h", "3h")  # a long wait, but the sources are alike


def test_the_default_pack_mixes_no_lateness() -> None:
    assert lateness_warnings(default_pack()) == []
