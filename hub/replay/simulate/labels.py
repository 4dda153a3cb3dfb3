"""The simulator's ground truth: what `hub evaluate` expects for each planted situation and trend.

Kept apart from the planners (situations.py, trends.py) and the world that holds them
(world.py), which all use these types, so that none of them imports another in a circle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

TREND_LABEL_KIND = "risk_trend"


@dataclass(frozen=True)
class Label:
    """One injected ground-truth situation: what `hub evaluate` expects an incident for."""

    rule_id: str
    key: str
    event_ids: tuple[str, ...]
    risk_level: str
    first_event_time: int

    def to_record(self) -> dict[str, Any]:
        """The label as a labels-file record (what ``hub evaluate`` reads)."""
        return {
            "rule_id": self.rule_id,
            "key": self.key,
            "event_ids": list(self.event_ids),
            "risk_level": self.risk_level,
            "first_event_time": self.first_event_time,
        }

    def to_json(self) -> str:
        """The label as one compact labels-file line."""
        return json.dumps(self.to_record(), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class TrendLabel:
    """A planted rising trend: what `hub evaluate --warnings` expects a final RiskWarning for.

    ``areas`` names the areas that enclose ``area_code`` (level -> code): a warning there for the
    same case type and week is explained by the trend.
    """

    area_level: str
    area_code: str
    case_source: str
    case_type: str
    week_start: int
    week_label: str
    count: int  # planted reports in the rising week (the background may add some)
    baseline_counts: tuple[int, ...]  # planted reports in each baseline week, oldest first
    areas: tuple[tuple[str, str], ...] = ()

    def to_record(self) -> dict[str, Any]:
        """The trend as a ``risk_trend`` labels-file record."""
        return {
            "kind": TREND_LABEL_KIND,
            "area_level": self.area_level,
            "area_code": self.area_code,
            "case_source": self.case_source,
            "case_type": self.case_type,
            "week_start": self.week_start,
            "week_label": self.week_label,
            "count": self.count,
            "baseline_counts": list(self.baseline_counts),
            "areas": dict(self.areas),
        }

    def to_json(self) -> str:
        """The trend as one compact labels-file line."""
        return json.dumps(self.to_record(), ensure_ascii=False, separators=(",", ":"))
