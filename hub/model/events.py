"""Value types for source events and the building registry.

An ``Event`` keeps the whole decoded record in ``fields`` so that rules can filter on any field,
while the few fields every source shares are lifted out for speed. Event time is int milliseconds
since the Unix epoch, UTC, everywhere in the hub.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Interchange ``kind`` values of the source streams, in a fixed order (used for tie-breaks).
SOURCE_KINDS: tuple[str, ...] = (
    "perimeter_alarm",
    "access_swipe",
    "face_match",
    "building_lookup",
    "grid_report",
)
_KIND_RANK = {kind: i for i, kind in enumerate(SOURCE_KINDS)}
#: Times before this (2000-01-01T00:00:00Z) or from 2100 on are not plausible: the codec rejects
#: such event times, and the clock rule takes no such record timestamp for an arrival.
MIN_TIME_MS = 946_684_800_000
MAX_TIME_MS = 4_102_444_800_000
REGISTRY_KIND = "building_identity"
INCIDENT_KIND = "incident"
ALL_KINDS: tuple[str, ...] = (*SOURCE_KINDS, REGISTRY_KIND)

#: Avro record name for each interchange kind.
RECORD_NAMES: dict[str, str] = {
    "perimeter_alarm": "PerimeterAlarm",
    "access_swipe": "AccessSwipe",
    "face_match": "FaceMatch",
    "building_lookup": "BuildingLookup",
    "grid_report": "GridReport",
    "building_identity": "BuildingIdentity",
    "incident": "Incident",
    "dead_letter": "DeadLetter",
    "incident_action": "IncidentAction",
    "case_change": "CaseChange",
    "dispute_funnel": "DisputeFunnel",
    "risk_warning": "RiskWarning",
    "safety_index": "SafetyIndex",
}

_intern = sys.intern
#: Strings up to this length are shared between events (sys.intern); longer ones are free text.
_SHARED_LEN = 64

#: Fields every source event carries (the public contract).
COMMON_FIELDS: tuple[str, ...] = ("event_id", "vendor", "device_id", "site_id", "event_time")


@dataclass(frozen=True, slots=True)
class Event:
    """One decoded, validated source event.

    ``fields`` holds every field of the record (the common ones included), enums as their symbol
    strings and times as int ms; it must not be mutated.
    """

    kind: str
    event_id: str
    event_time: int
    site_id: str
    fields: Mapping[str, Any]
    #: Total order used by the engine: event time, then kind, then id (arrival never counts).
    order_key: tuple[int, int, str] = field(init=False, repr=False, compare=False)
    #: The event as JSON, made once on first use (hub.core.snapshot): a key's state is written
    #: after every batch that changes it, with the same buffered events each time.
    json_cache: str | None = field(default=None, init=False, repr=False, compare=False)
    #: When the event reached Kafka (its record timestamp, ms), if known. A device's clock may
    #: run ahead; the watermark never trusts an event time past this (hub.core.clock_skew).
    arrived: int | None = field(default=None, repr=False, compare=False)
    #: False when ``event_time`` is an estimate (the arrival) that replaced a device's stamp too
    #: far ahead: such an event is processed but does not move its source's clock.
    trusted_time: bool = field(default=True, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "order_key", _order_key(self.kind, self.event_time,
                                                         self.event_id))

    def get(self, name: str, default: Any = None) -> Any:
        """Field ``name`` of the event, or ``default`` when absent: kind-specific fields live in
        ``fields``, not as attributes."""
        return self.fields.get(name, default)

    @classmethod
    def from_record(cls, kind: str, record: Mapping[str, Any], *, shared: bool = True,
                    arrived: int | None = None) -> Event:
        """The event of a decoded record, its field names and short strings ``shared``.

        A worker keeps hundreds of thousands of events in its windows (10 minutes of a city's
        traffic), each decoded on its own: without sharing, every one held its own copy of each
        field name and of values such as the vendor, the site or the door (BENCHMARKS.md §4).
        ``shared=False`` copies the record as it is: for one whose strings are shared already,
        as `hub.codec` decodes them (ingest's), where the lookups cost ~3 µs an event.
        """
        fields = shared_strings(record) if shared else dict(record)
        kind, event_id = _intern(kind), str(fields["event_id"])
        event_time, site_id = int(fields["event_time"]), str(fields["site_id"])
        if cls is not Event:
            return cls(kind=kind, event_id=event_id, event_time=event_time, site_id=site_id,
                       fields=fields, arrived=arrived)
        return _built(kind, event_id, event_time, site_id, fields, arrived)


def shared_strings(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` with its field names and short strings shared (sys.intern).

    Thousands of events in a window hold the same vendor, site and door: one copy each, not one
    per event (BENCHMARKS.md §4). hub.codec decodes records this way (its generated readers share
    as they read, hub.codec.fast_reader), so an event built from one need not do it again.
    """
    return {_intern(k): _intern(v) if type(v) is str and len(v) <= _SHARED_LEN else v
            for k, v in record.items()}


def _order_key(kind: str, event_time: int, event_id: str) -> tuple[int, int, str]:
    """``Event.order_key``: event time, then the kind's rank, then the id."""
    return (event_time, _KIND_RANK.get(kind, len(_KIND_RANK)), event_id)


_new = object.__new__
(_set_kind, _set_id, _set_time, _set_site, _set_fields, _set_order, _set_json, _set_arrived,
 _set_trusted) = (Event.__dict__[name].__set__ for name in (
    "kind", "event_id", "event_time", "site_id", "fields", "order_key", "json_cache", "arrived",
    "trusted_time"))


def _built(kind: str, event_id: str, event_time: int, site_id: str, fields: Mapping[str, Any],
           arrived: int | None) -> Event:
    """``Event(...)`` for from_record, each slot set directly.

    A frozen dataclass's ``__init__`` sets every field through ``object.__setattr__`` and then
    calls ``__post_init__``: 2.3-4.5 us per event, against 1.1-1.9 us here, and ingest builds one
    per source event. tests/unit/model/test_events.py checks that both build the same event.
    """
    event = _new(Event)
    _set_kind(event, kind)
    _set_id(event, event_id)
    _set_time(event, event_time)
    _set_site(event, site_id)
    _set_fields(event, fields)
    _set_order(event, _order_key(kind, event_time, event_id))
    _set_json(event, None)
    _set_arrived(event, arrived)
    _set_trusted(event, True)
    return event


@dataclass(frozen=True, slots=True)
class Building:
    """A 楼宇身份证 (building identity card) record from the registry."""

    building_id: str
    name: str
    address: str
    site_id: str
    grid_id: str
    township_code: str
    district_code: str
    city_code: str
    police_station_id: str | None
    grid_worker_id: str | None
    households: int
    rental_units: int
    risk_tags: tuple[str, ...]
    updated_time: int

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Building:
        """A Building from a registry record; missing optional text fields become "", so readers of
        older records need no None checks."""
        return cls(
            building_id=str(record["building_id"]),
            name=str(record.get("name") or ""),
            address=str(record.get("address") or ""),
            site_id=str(record.get("site_id") or ""),
            grid_id=str(record.get("grid_id") or ""),
            township_code=str(record.get("township_code") or ""),
            district_code=str(record.get("district_code") or ""),
            city_code=str(record.get("city_code") or ""),
            police_station_id=record.get("police_station_id"),
            grid_worker_id=record.get("grid_worker_id"),
            households=int(record.get("households") or 0),
            rental_units=int(record.get("rental_units") or 0),
            risk_tags=tuple(record.get("risk_tags") or ()),
            updated_time=int(record.get("updated_time") or 0),
        )

    def to_record(self) -> dict[str, Any]:
        """The building as a ``Building`` Avro record (the registry topic's value)."""
        return {
            "building_id": self.building_id,
            "name": self.name,
            "address": self.address,
            "site_id": self.site_id,
            "grid_id": self.grid_id,
            "township_code": self.township_code,
            "district_code": self.district_code,
            "city_code": self.city_code,
            "police_station_id": self.police_station_id,
            "grid_worker_id": self.grid_worker_id,
            "households": self.households,
            "rental_units": self.rental_units,
            "risk_tags": list(self.risk_tags),
            "updated_time": self.updated_time,
        }
