"""Areas: where a figure is counted, at each level of the three-level linkage (三级联动).

An area is a level and a code: GRID (grid_id), TOWNSHIP (township_code), DISTRICT
(district_code), CITY (city_code). An event is counted in the areas of its building, as the
building registry (楼宇身份证) names them at the event's time (the card in force then,
hub.core.registry.MemoryBuildingRegistry.as_of: a building that moved counts its earlier
reports where it was); a grid report without a building (or whose building the registry does
not know) is counted in its grid alone. An incident uses the building snapshot it carries (the
card in force at its evidence's time), then the registry, then its grid_id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from hub.core.registry import MemoryBuildingRegistry
from hub.model.events import Building, Event
from hub.model.incidents import ROUTE_LEVELS, Incident, Route

#: Levels of an area, smallest first (the route levels).
AREA_LEVELS: tuple[str, ...] = ROUTE_LEVELS
_LEVEL_RANK = {level: i for i, level in enumerate(AREA_LEVELS)}


@dataclass(frozen=True, slots=True)
class Area:
    """One area: a level (GRID, TOWNSHIP, DISTRICT, CITY) and the unit's code at that level."""

    level: str
    code: str

    @property
    def sort_key(self) -> tuple[int, str]:
        """Smallest level first (GRID … CITY), then code; unknown levels last, so tables read in
        order."""
        return _LEVEL_RANK.get(self.level, len(_LEVEL_RANK)), self.code

    def route(self) -> Route:
        """The department that owns the area: its level's unit (grid, township, district, city)."""
        return Route(self.level, self.code)


def areas_of_building(building: Building, grid_id: str | None = None) -> tuple[Area, ...]:
    """The building's area at each level; a code the registry leaves empty gives no area.

    The grid is the registry's; ``grid_id`` (the report's own) only when the registry has none.
    """
    codes = (building.grid_id or grid_id or "", building.township_code, building.district_code,
             building.city_code)
    return tuple(Area(level, code) for level, code in zip(AREA_LEVELS, codes, strict=True) if code)


def areas_of(building: Building | None, grid_id: str | None) -> tuple[Area, ...]:
    """The areas of an event: its building's, or its grid alone when there is no building."""
    if building is not None:
        return areas_of_building(building, grid_id)
    return (Area("GRID", grid_id),) if grid_id else ()


class AreaDirectory:
    """The building registry as analytics needs it: areas of a building, households of an area.

    Holds the cards as the correlation registry does (hub.core.registry.MemoryBuildingRegistry:
    the latest per building, and those before it for ``as_of``); satisfies
    ``hub.core.registry.BuildingRegistry``.
    """

    def __init__(self, buildings: Iterable[Building] = ()) -> None:
        self._cards = MemoryBuildingRegistry()
        self._households: dict[Area, int] | None = None
        for building in buildings:
            self.put(building)

    def as_of(self, building_id: str, at: int) -> Building | None:
        """The card in force at ``at`` (hub.core.registry.BuildingRegistry.as_of)."""
        return self._cards.as_of(building_id, at)

    def put(self, building: Building) -> bool:
        """Store ``building`` unless a newer record is already held (an older one is kept for
        ``as_of`` only); True when stored."""
        stored = self._cards.put(building)
        if stored:
            self._households = None
        return stored

    def get(self, building_id: str) -> Building | None:
        """The latest record held for ``building_id``; None when the registry has not sent it."""
        return self._cards.get(building_id)

    def __len__(self) -> int:
        return len(self._cards)

    def report_areas(self, event: Event) -> tuple[Area, ...]:
        """The areas of a grid report: its building's from the card in force at its time, else
        its grid."""
        bid = event.fields.get("building_id")
        grid = event.fields.get("grid_id")
        building = self.as_of(str(bid), event.event_time) if bid else None
        return areas_of(building, str(grid) if grid else None)

    def incident_areas(self, incident: Incident) -> tuple[Area, ...]:
        """The areas of an incident: its building snapshot, else the registry, else its grid."""
        building = incident.building
        if building is None and incident.building_id:
            building = self.as_of(incident.building_id, incident.first_event_time)
        return areas_of(building, incident.grid_id)

    def households(self, area: Area) -> int:
        """Sum of the registry's households over the buildings in ``area`` (0: none known)."""
        return self.households_by_area().get(area, 0)

    def households_by_area(self) -> dict[Area, int]:
        """Every area the registry names, with the sum of its buildings' households."""
        if self._households is None:
            table: dict[Area, int] = defaultdict(int)
            for building in self._cards.latest():
                for area in areas_of_building(building):
                    table[area] += max(building.households, 0)
            self._households = dict(table)
        return self._households
