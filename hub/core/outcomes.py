"""What the correlation engine's calls return and count: kept apart from the engine so that the
parts it is built from (hub.core.release, hub.core.flapping, hub.core.incident_versions) can name
them without importing the engine itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.model.events import Event
from hub.model.incidents import Incident


@dataclass(frozen=True, slots=True)
class LateEvent:
    """An event behind the watermark: it goes to the dead-letter topic with reason LATE."""

    event: Event
    rules: tuple[str, ...]  # empty: late for its whole source; else the rules that had moved on
    watermark: int


class StepResult:
    """What one call did: incident versions to emit, LATE events, whether it was a duplicate.

    One is made per event: a plain slotted class, cheaper to build than a dataclass whose
    fields have factories.
    """

    __slots__ = ("duplicate", "incidents", "late")

    def __init__(self) -> None:
        self.incidents: list[Incident] = []
        self.late: list[LateEvent] = []
        self.duplicate = False


@dataclass(slots=True)
class EngineStats:
    """Counters of what the engine did, for metrics and run summaries; they only ever grow."""

    events: int = 0
    duplicates: int = 0
    late: int = 0
    suppressed: int = 0
    unkeyed: int = 0
    incidents_opened: int = 0
    incident_versions: int = 0
    unrouted: int = 0
    window_dropped: int = 0  # oldest window events dropped past the pack's window_events


__all__ = ["EngineStats", "LateEvent", "StepResult"]
