"""Hand-made records as `hub analytics --out DIR` writes them (interchange lines with a kind)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DAY_MS = 86_400_000
# 2026-01-05 00:00 Asia/Shanghai (a Monday), epoch ms
MON = 1_767_542_400_000


def funnel(level: str, code: str, period: str, label: str, start: int, reported: int,
           accepted: int, resolved: int, unresolved: int, median: float | None) -> dict[str, Any]:
    return {"kind": "dispute_funnel", "area_level": level, "area_code": code, "period": period,
            "period_start": start, "period_end": start + DAY_MS, "period_label": label,
            "reported": reported, "accepted": accepted, "resolved": resolved,
            "unresolved": unresolved, "in_progress": accepted - resolved - unresolved,
            "success_rate": resolved / accepted if accepted else None,
            "median_hours_to_resolve": median, "as_of": start + DAY_MS}


def warning(level: str, code: str, case_type: str, label: str, start: int, count: int,
            baseline: list[int], p: float, risk: str, final: bool,
            source: str = "grid_report") -> dict[str, Any]:
    mean = sum(baseline) / len(baseline)
    return {"kind": "risk_warning", "warning_id": f"risk-{code}-{case_type}-{label}",
            "area_level": level, "area_code": code, "case_source": source,
            "case_type": case_type, "week_start": start, "week_end": start + 7 * DAY_MS,
            "week_label": label, "count": count, "baseline_counts": baseline,
            "baseline_mean": mean, "mean_used": max(mean, 0.5), "p_value": p,
            "risk_level": risk, "route": {"level": level, "department_id": code},
            "final": final, "emitted_time": start + 7 * DAY_MS}


def safety(level: str, code: str, label: str, start: int, index: float, crit: int, high: int,
           medium: int, low: int, open_disputes: int, households: int) -> dict[str, Any]:
    return {"kind": "safety_index", "area_level": level, "area_code": code,
            "day_start": start, "day_end": start + DAY_MS, "day_label": label,
            "incidents_critical": crit, "incidents_high": high, "incidents_medium": medium,
            "incidents_low": low, "open_disputes": open_disputes, "weight_critical": 20.0,
            "weight_high": 10.0, "weight_medium": 4.0, "weight_low": 1.0,
            "weight_open_dispute": 2.0, "households": households,
            "households_used": max(households, 100), "per_households": 1000,
            "penalty": 100.0 - index, "index": index}


DISPUTES = [
    funnel("DISTRICT", "330102", "MONTH", "2026-02", MON + 27 * DAY_MS, 40, 30, 25, 2, 12.4),
    funnel("DISTRICT", "330102", "MONTH", "2026-01", MON - 4 * DAY_MS, 120, 98, 90, 3, 30.0),
    funnel("DISTRICT", "330106", "MONTH", "2026-01", MON - 4 * DAY_MS, 3, 0, 0, 0, None),
    funnel("DISTRICT", "330102", "DAY", "2026-01-05", MON, 4, 2, 1, 0, 5.5),
    funnel("GRID", "GRID-330102001-01", "MONTH", "2026-01", MON - 4 * DAY_MS, 7, 5, 5, 0, 8.0),
]

BASE = [0] * 12 + [1, 2, 1]
WARNINGS = [
    warning("GRID", "GRID-330102001-01", "DISPUTE", "2026-W02", MON, 6, BASE, 8.28e-4,
            "MEDIUM", False),
    warning("GRID", "GRID-330102001-01", "DISPUTE", "2026-W02", MON, 9, BASE, 3.1e-6,
            "HIGH", True),
    warning("DISTRICT", "330102", "door_held_open", "2026-W02", MON, 7, BASE, 8.32e-5,
            "HIGH", True, source="incident"),
    warning("DISTRICT", "330102", "DISPUTE", "2026-W01", MON - 7 * DAY_MS, 5, BASE, 3.66e-3,
            "MEDIUM", False),
]

SAFETY = [
    safety("TOWNSHIP", "330102001", "2026-01-06", MON + DAY_MS, 88.3, 0, 1, 0, 2, 0, 1200),
    safety("TOWNSHIP", "330102001", "2026-01-05", MON, 100.0, 0, 0, 0, 0, 0, 1200),
    safety("TOWNSHIP", "330102002", "2026-01-05", MON, 0.0, 2, 3, 1, 0, 5, 80),
    safety("GRID", "GRID-330102001-01", "2026-01-05", MON, 96.0, 0, 0, 0, 0, 2, 335),
]


def write_dir(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, records in (("disputes.jsonl", DISPUTES), ("risk_warnings.jsonl", WARNINGS),
                          ("safety_index.jsonl", SAFETY)):
        (directory / name).write_text("".join(json.dumps(r) + "\n" for r in records),
                                      encoding="utf-8")
    return directory
