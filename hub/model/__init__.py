"""Frozen value types shared by every layer: events, buildings, incidents, errors."""

from hub.model.errors import (
    ConfigError,
    DecodeError,
    HubError,
    RecordError,
    UnknownSchemaError,
    ValidationError,
)
from hub.model.events import ALL_KINDS, REGISTRY_KIND, SOURCE_KINDS, Building, Event
from hub.model.incidents import Evidence, Incident, Route, incident_id

__all__ = [
    "ALL_KINDS",
    "REGISTRY_KIND",
    "SOURCE_KINDS",
    "Building",
    "ConfigError",
    "DecodeError",
    "Event",
    "Evidence",
    "HubError",
    "Incident",
    "RecordError",
    "Route",
    "UnknownSchemaError",
    "ValidationError",
    "incident_id",
]
