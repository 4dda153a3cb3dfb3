"""三级联动: which level and department handle an incident, from its building snapshot.

City plans, district executes, township/street delivers, the grid worker acts: CRITICAL goes to the
city, HIGH to the district, MEDIUM to the township (综治中心), LOW to the grid.
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.core.registry import BuildingRegistry
from hub.model.events import Building, Event
from hub.model.incidents import LEVEL_FOR_RISK, ROUTE_LEVELS, Route

#: The building-registry field that names each level's unit.
FIELD_FOR_LEVEL = {level: fld for level, fld in LEVEL_FOR_RISK.values()}


def building_for(evidence: Sequence[Event], registry: BuildingRegistry | None) -> tuple[
    str | None, Building | None
]:
    """The building named by the latest evidence event that names one, and its registry record
    in force at that event's time (hub.core.registry: the same whenever the incident is made)."""
    for event in reversed(evidence):
        bid = event.fields.get("building_id")
        if bid:
            return str(bid), (registry.as_of(str(bid), event.event_time)
                              if registry is not None else None)
    return None, None


def route_for(
    risk_level: str,
    building: Building | None,
    grid_id: str | None,
    fixed_level: str | None = None,
) -> Route | None:
    """The route for ``risk_level``; None when the responsible department is unknown."""
    level = fixed_level or LEVEL_FOR_RISK[risk_level][0]
    assert level in ROUTE_LEVELS
    if level == "GRID":
        dept = (building.grid_id if building else None) or grid_id
    elif building is None:
        dept = None
    else:
        dept = getattr(building, FIELD_FOR_LEVEL[level]) or None
    return Route(level, str(dept)) if dept else None
