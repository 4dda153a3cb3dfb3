"""The key of each analytics record on its topic: a record published again has the same key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def record_key(kind: str, record: Mapping[str, Any]) -> str:
    """``warning_id|final`` (or ``|early``) for a warning; area and period for the others."""
    if kind == "risk_warning":
        return f"{record['warning_id']}|{'final' if record['final'] else 'early'}"
    start = record.get("period_start", record.get("day_start"))
    period = record.get("period", "DAY")
    return f"{record['area_level']}|{record['area_code']}|{period}|{start}"
