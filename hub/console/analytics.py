"""The area analytics as the console shows them: the latest record per key of hub.analytics.*,
cut to the department's jurisdiction; no I/O here.

An area is in a department's jurisdiction when it is the department's own area or lies below it:
the building registry (read by the console's feed) says which township, district and city each
grid and township belongs to.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from hub.core.analytics.keys import record_key
from hub.model.cases import Department
from hub.model.events import Building
from hub.model.incidents import ROUTE_LEVELS

#: (level, code) of an area -> the code of each level above it (from the registry)
Parents = dict[tuple[str, str], dict[str, str]]


class AnalyticsView:
    """Thread-safe: the feed writes, the web reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, dict[str, Any]]] = {
            "dispute_funnel": {}, "risk_warning": {}, "safety_index": {}}
        self._parents: Parents = {}
        #: bumped on every change; a summary is computed once per department and version (the
        #: analytics page and its two plots each ask for it on one load)
        self._version = 0
        self._summaries: dict[Department, tuple[int, dict[str, Any]]] = {}

    def put_building(self, b: Building) -> None:
        """Record the area chain of a registry building, so sees() can tell which department an area
        belongs to."""
        chain = {"GRID": b.grid_id, "TOWNSHIP": b.township_code, "DISTRICT": b.district_code,
                 "CITY": b.city_code}
        with self._lock:
            for i, level in enumerate(ROUTE_LEVELS):
                if chain[level]:
                    above = {lv: chain[lv] for lv in ROUTE_LEVELS[i:] if chain[lv]}
                    self._parents[(level, chain[level])] = above
            self._version += 1

    def put(self, kind: str, record: Mapping[str, Any]) -> None:
        """Keep the latest analytics record of ``kind`` per area and period; kinds the page does not
        show are ignored."""
        if kind in self._records:
            with self._lock:
                self._records[kind][record_key(kind, dict(record))] = dict(record)
                self._version += 1

    def sees(self, dept: Department, level: str, code: str) -> bool:
        """Whether ``dept`` may see the area (``level``, ``code``): its own area or one below it;
        areas not yet in the registry are hidden."""
        if level == dept.level:
            return code == dept.code
        if ROUTE_LEVELS.index(level) > ROUTE_LEVELS.index(dept.level):
            return False  # an area above the department's
        return self._parents.get((level, code), {}).get(dept.level) == dept.code

    def records(self, dept: Department, kind: str, *, level: str | None = None
                ) -> list[dict[str, Any]]:
        """The records of ``kind`` that ``dept`` may see, optionally of one area level; copies of
        the current state taken under the lock."""
        with self._lock:
            items = list(self._records[kind].values())
            return [r for r in items
                    if (level is None or r["area_level"] == level)
                    and self.sees(dept, r["area_level"], r["area_code"])]

    def summary(self, dept: Department) -> dict[str, Any]:
        """What the analytics page draws for ``dept`` (computed again only after a change)."""
        version = self._version
        cached = self._summaries.get(dept)
        if cached is not None and cached[0] == version:
            return cached[1]
        summary = self._summary(dept)
        self._summaries[dept] = (version, summary)
        return summary

    def _summary(self, dept: Department) -> dict[str, Any]:
        own = {"area_level": dept.level, "area_code": dept.code}
        funnels = sorted((r for r in self.records(dept, "dispute_funnel", level=dept.level)
                          if r["period"] == "MONTH" and r["area_code"] == dept.code),
                         key=lambda r: r["period_start"])[-12:]
        warnings = sorted(self.records(dept, "risk_warning"),
                          key=lambda r: (-r["week_start"], r["p_value"]))
        finals = {r["warning_id"] for r in warnings if r["final"]}
        warnings = [r for r in warnings if r["final"] or r["warning_id"] not in finals][:50]
        index = sorted((r for r in self.records(dept, "safety_index", level=dept.level)
                        if r["area_code"] == dept.code), key=lambda r: r["day_start"])[-60:]
        below = _latest_per_area([r for r in self.records(dept, "safety_index")
                                  if r["area_level"] != dept.level])
        return {"own": own, "funnels": funnels, "warnings": warnings, "index": index,
                "below": sorted(below, key=lambda r: r["index"])[:30]}


def _latest_per_area(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        key = (r["area_level"], r["area_code"])
        if key not in latest or r["day_start"] > latest[key]["day_start"]:
            latest[key] = r
    return list(latest.values())
