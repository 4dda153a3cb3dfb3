"""The building registry port (楼宇身份证) and its in-memory twin.

The engine looks buildings up synchronously, so every adapter keeps the registry in memory
(fed from the compacted registry topic); Redis is a mirror for other apps, never in the hot path.

The engine asks for a building **as of an event's time**: the record whose ``updated_time`` is
the latest at or before it. Asked for the latest instead, a card changed mid-stream routed an
incident by when it was emitted: offline (a file read in order), online (the change read before
the watermark passed) and a recording of the same run each sent the same incident to a
different grid (an outside probe). As of the event's time the answer depends on the events and
the cards alone, as long as a change is produced before the events that come after it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from typing import Protocol

from hub.model.events import Building


class BuildingRegistry(Protocol):
    """What the engine needs of the building registry: a lookup by id, so the pure core never sees
    Redis or Faust (the runtime and tests supply the implementations)."""

    def get(self, building_id: str) -> Building | None:
        """The latest known record of ``building_id``; None when unknown (the event then cannot be
        joined or routed by building, never an error)."""

    def as_of(self, building_id: str, at: int) -> Building | None:
        """The record of ``building_id`` in force at ``at`` (epoch ms): the latest whose
        ``updated_time`` is at or before it, else the earliest held (a building stood before its
        first card was written); None when unknown."""


#: Records kept per building for ``as_of``: a card changes a few times a year, so this only
#: bounds a producer rewriting one card in a loop.
HISTORY_MAX = 16


class MemoryBuildingRegistry:
    """Every record per building (up to HISTORY_MAX), ordered by ``updated_time``; ``get`` gives
    the latest, ``as_of`` the one in force at a time."""

    def __init__(self) -> None:
        self._buildings: dict[str, Building] = {}
        #: building id -> its records in ``updated_time`` order, for buildings with more than one
        self._history: dict[str, list[Building]] = {}

    def get(self, building_id: str) -> Building | None:
        """The latest record held for ``building_id``; None when unknown."""
        return self._buildings.get(building_id)

    def as_of(self, building_id: str, at: int) -> Building | None:
        """The record in force at ``at`` (see BuildingRegistry.as_of)."""
        history = self._history.get(building_id)
        if history is None:
            return self._buildings.get(building_id)
        i = bisect_right([b.updated_time for b in history], at)
        return history[i - 1] if i else history[0]

    def put(self, building: Building) -> bool:
        """Keep ``building``; True when it is now the latest record of its building (an older one
        only joins the history ``as_of`` reads)."""
        bid = building.building_id
        current = self._buildings.get(bid)
        if current is None:
            self._buildings[bid] = building
            return True
        history = self._history.get(bid)
        if history is None:
            history = self._history[bid] = [current]
        times = [b.updated_time for b in history]
        i = bisect_right(times, building.updated_time)
        if i and times[i - 1] == building.updated_time:
            history[i - 1] = building  # the same moment again: the later write wins
        else:
            history.insert(i, building)
            if len(history) > HISTORY_MAX:
                del history[0]
        if building.updated_time < current.updated_time:
            return False
        self._buildings[bid] = building
        return True

    def remove(self, building_id: str) -> None:
        """Forget ``building_id`` (a tombstone on the registry topic); unknown ids are ignored."""
        self._buildings.pop(building_id, None)
        self._history.pop(building_id, None)

    def latest(self) -> Iterable[Building]:
        """The latest record of every building held."""
        return self._buildings.values()

    def __len__(self) -> int:
        return len(self._buildings)
