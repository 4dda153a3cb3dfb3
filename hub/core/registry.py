"""The building registry port (楼宇身份证) and its in-memory twin.

The engine looks buildings up synchronously, so every adapter keeps the registry in memory
(fed from the compacted registry topic); Redis is a mirror for other apps, never in the hot path.
"""

from __future__ import annotations

from typing import Protocol

from hub.model.events import Building


class BuildingRegistry(Protocol):
    """What the engine needs of the building registry: a lookup by id, so the pure core never sees
    Redis or Faust (the runtime and tests supply the implementations)."""

    def get(self, building_id: str) -> Building | None:
        """The latest known record of ``building_id``; None when unknown (the event then cannot be
        joined or routed by building, never an error)."""


class MemoryBuildingRegistry:
    """Latest record per building; an older ``updated_time`` never replaces a newer one."""

    def __init__(self) -> None:
        self._buildings: dict[str, Building] = {}

    def get(self, building_id: str) -> Building | None:
        """The latest record held for ``building_id``; None when unknown."""
        return self._buildings.get(building_id)

    def put(self, building: Building) -> bool:
        """Store ``building`` unless a newer record is already held; True when stored."""
        current = self._buildings.get(building.building_id)
        if current is not None and current.updated_time > building.updated_time:
            return False
        self._buildings[building.building_id] = building
        return True

    def remove(self, building_id: str) -> None:
        """Forget ``building_id`` (a tombstone on the registry topic); unknown ids are ignored."""
        self._buildings.pop(building_id, None)

    def __len__(self) -> int:
        return len(self._buildings)
