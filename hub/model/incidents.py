"""Value types for incidents: what downstream apps consume.

An incident is a stable object: one per rule and key while matches continue, re-emitted with
``version`` + 1 on each update. Its id is derived from rule, key and first evidence, never from
arrival order or wall time, so replays and restarts reproduce it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.model.events import Building

RISK_LEVELS: tuple[str, ...] = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
#: An incident version's status (docs/contracts.md): seen at arrival, before the watermark; final
#: for the events it names; withdrawn because late data disproved a provisional version.
PROVISIONAL, CONFIRMED, RETRACTED = "PROVISIONAL", "CONFIRMED", "RETRACTED"
STATUSES: tuple[str, ...] = (PROVISIONAL, CONFIRMED, RETRACTED)
ROUTE_LEVELS: tuple[str, ...] = ("GRID", "TOWNSHIP", "DISTRICT", "CITY")
#: 三级联动: who handles an incident of each risk level, and which registry field names the unit.
LEVEL_FOR_RISK: dict[str, tuple[str, str]] = {
    "CRITICAL": ("CITY", "city_code"),
    "HIGH": ("DISTRICT", "district_code"),
    "MEDIUM": ("TOWNSHIP", "township_code"),
    "LOW": ("GRID", "grid_id"),
}


def risk_rank(level: str) -> int:
    """Order of risk levels; a symbol this build does not know (an old reader's UNKNOWN) is -1."""
    return RISK_LEVELS.index(level) if level in RISK_LEVELS else -1


def version_rank(record: Mapping[str, Any]) -> tuple[int, int]:
    """Which record of one incident id stands (the greater): a CONFIRMED or RETRACTED version
    supersedes every PROVISIONAL one whatever the numbers (each status counts its own versions,
    docs/contracts.md "Incident status"); within a status the latest version. A record without
    ``status`` is CONFIRMED (written before the field)."""
    return (0 if record.get("status") == PROVISIONAL else 1, int(record["version"]))


def incident_id(rule_id: str, key: str, first_kind: str, first_event_id: str,
                first_event_time: int) -> str:
    """Deterministic id: same rule, key and first evidence give the same id on every run.

    The first evidence is its kind, id and event time: a device whose event ids start over
    (a counter reset, beyond the dedup retention) must not give a new incident an old one's id.
    """
    digest = hashlib.sha256(f"{rule_id}\x1f{key}\x1f{first_kind}\x1f{first_event_id}\x1f"
                            f"{first_event_time}".encode()).hexdigest()
    return f"inc-{digest[:32]}"


@dataclass(frozen=True, slots=True)
class Evidence:
    """A reference to one event behind an incident: enough to find it again in its topic or file,
    without copying its fields into the incident."""

    kind: str
    event_id: str
    event_time: int

    def to_record(self) -> dict[str, Any]:
        """The reference as an ``Evidence`` Avro record."""
        return {"kind": self.kind, "event_id": self.event_id, "event_time": self.event_time}


@dataclass(frozen=True, slots=True)
class Route:
    """Who must act on an incident: the level and the department's id there."""

    level: str
    department_id: str

    def to_record(self) -> dict[str, Any]:
        """The route as a ``Route`` Avro record."""
        return {"level": self.level, "department_id": self.department_id}


@dataclass(frozen=True, slots=True)
class Incident:
    """One emitted version of an incident.

    ``emitted_time`` is event time (the time of the evidence or deadline that produced this
    version), not wall time, so the same input always yields byte-identical incidents; the Kafka
    record timestamp carries the wall time of publication.
    """

    incident_id: str
    version: int
    rule_id: str
    rule_type: str
    title: str
    risk_level: str
    key: str
    site_id: str
    building_id: str | None
    grid_id: str | None
    first_event_time: int
    last_event_time: int
    evidence: tuple[Evidence, ...]
    route: Route | None
    unrouted: bool
    building: Building | None
    emitted_time: int
    tags: tuple[str, ...] = field(default=())
    status: str = CONFIRMED
    status_reason: str | None = None
    #: How many events the evidence has in all; ``evidence`` lists at most the first and the
    #: last of them (pack limits). 0: as many as listed (records from before the field).
    evidence_count: int = 0

    def __post_init__(self) -> None:
        if self.evidence_count == 0:  # not given: the list is complete
            object.__setattr__(self, "evidence_count", len(self.evidence))

    def to_record(self) -> dict[str, Any]:
        """This version of the incident as an ``Incident`` Avro record."""
        return {
            "incident_id": self.incident_id,
            "version": self.version,
            "rule_id": self.rule_id,
            "rule_type": self.rule_type,
            "title": self.title,
            "risk_level": self.risk_level,
            "key": self.key,
            "site_id": self.site_id,
            "building_id": self.building_id,
            "grid_id": self.grid_id,
            "first_event_time": self.first_event_time,
            "last_event_time": self.last_event_time,
            "evidence": [e.to_record() for e in self.evidence],
            "route": self.route.to_record() if self.route else None,
            "unrouted": self.unrouted,
            "building": self.building.to_record() if self.building else None,
            "emitted_time": self.emitted_time,
            "tags": list(self.tags),
            "status": self.status,
            "status_reason": self.status_reason,
            "evidence_count": self.evidence_count,
        }

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Incident:
        """The inverse of to_record; raises KeyError when a required field is missing."""
        return cls(
            incident_id=r["incident_id"],
            version=int(r["version"]),
            rule_id=r["rule_id"],
            rule_type=r.get("rule_type", ""),
            title=r["title"],
            risk_level=r["risk_level"],
            key=r.get("key", ""),
            site_id=r["site_id"],
            building_id=r.get("building_id"),
            grid_id=r.get("grid_id"),
            first_event_time=int(r["first_event_time"]),
            last_event_time=int(r["last_event_time"]),
            evidence=tuple(
                Evidence(e["kind"], e["event_id"], int(e["event_time"])) for e in r["evidence"]
            ),
            route=Route(**r["route"]) if r.get("route") else None,
            unrouted=bool(r.get("unrouted", r.get("route") is None)),
            building=Building.from_record(r["building"]) if r.get("building") else None,
            emitted_time=int(r["emitted_time"]),
            tags=tuple(r.get("tags") or ()),
            status=r.get("status") or CONFIRMED,
            status_reason=r.get("status_reason"),
            evidence_count=int(r.get("evidence_count") or 0),
        )
