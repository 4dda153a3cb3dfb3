"""What every vendor mapping shares: the error type, the site context, times, ids, safe XML.

Pure: no I/O, no settings lookup. The pseudonym key and the site's zone are parameters.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element, ParseError  # parsing itself goes through defusedxml
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from hub.codec.limits import MAX_DEPTH
from hub.core.pseudonym import pseudonymize
from hub.model.errors import RecordError, not_text
from hub.model.events import MAX_TIME_MS, MIN_TIME_MS

#: The zone of a site whose devices send local times without an offset, unless configured.
DEFAULT_ZONE = "Asia/Shanghai"
#: Largest vendor payload a mapping reads (an ISAPI alert without its picture is a few KiB).
MAX_PAYLOAD_BYTES = 1 << 20

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class MappingError(RecordError):
    """A vendor payload that cannot become an interchange record.

    ``field`` names the vendor's field (e.g. ``AccessControllerEvent.serialNo``), ``detail`` what
    is wrong and how to fix it. ``reason`` is the dead-letter reason: DECODE_ERROR when the payload
    cannot be read at all (not XML/JSON, truncated, forbidden entities), VALIDATION_ERROR otherwise.
    """

    def __init__(self, field: str, detail: str, *, reason: str = "VALIDATION_ERROR") -> None:
        super().__init__(detail, field=field, reason=reason)


@dataclass(frozen=True)
class Site:
    """Configuration of the site (小区) a device belongs to: what the payload does not say.

    ``zone``: the IANA zone of the devices' local clocks, used for times sent without an offset.
    ``building_id``: the registry building of the device (required for access_swipe records).
    """

    site_id: str
    zone: str = DEFAULT_ZONE
    building_id: str | None = None

    def tzinfo(self) -> ZoneInfo:
        """The site's zone as a ``ZoneInfo``; raises MappingError (field ``site.zone``) when it is
        not an IANA name, so a misconfigured site dead-letters its events instead of guessing a
        zone."""
        try:
            return ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise MappingError(
                "site.zone", f"{self.zone!r} is not an IANA time zone; configure e.g. "
                f"{DEFAULT_ZONE!r}") from None


@dataclass(frozen=True)
class Mapped:
    """One interchange record: ``kind`` and the record's fields (times in epoch milliseconds,
    personal values already pseudonymized), ready for ``hub.codec.interchange.parse_object``.

    ``retransmission``: the device marked the payload as a re-send of stored data; the record is
    the same (same ``event_id``), so the hub's deduplication drops it if the original arrived.
    """

    kind: str
    record: dict[str, Any]
    retransmission: bool = field(default=False)

    def line(self) -> dict[str, Any]:
        """``{"kind": ..., **record}``: the interchange object."""
        return {"kind": self.kind, **self.record}


# -- times -----------------------------------------------------------------------------------------

_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{3})?$")


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch (UTC) of an aware ``moment``: the hub's only time unit."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def parse_time(value: Any, vendor_field: str, site: Site) -> int:
    """Epoch milliseconds from a vendor time string.

    Accepted: ISO-8601 with an offset (``2024-05-01T08:00:00+08:00``, ``...Z``), ISO-8601 or
    ``YYYY-MM-DD HH:MM:SS`` without one, and the GA/T 1400 compact form ``YYYYMMDDhhmmss[fff]``.
    A time without an offset is the site's local time (``site.zone``).
    """
    if not isinstance(value, str) or not value.strip():
        raise MappingError(vendor_field, f"expected a time, got {value!r}; send the device's "
                           "time, e.g. 2024-05-01T08:00:00+08:00")
    text = value.strip()
    compact = _COMPACT.match(text)
    try:
        if compact:
            y, mo, d, h, mi, s, ms = compact.groups()
            parsed = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s),  # noqa: DTZ001
                              int(ms or 0) * 1000)
        else:
            parsed = datetime.fromisoformat(text)
    except ValueError:
        raise MappingError(vendor_field, f"{text!r} is not a time this mapping reads; use "
                           "ISO-8601 (2024-05-01T08:00:00+08:00) or YYYYMMDDhhmmss") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        parsed = parsed.replace(tzinfo=site.tzinfo())
    return plausible(epoch_ms(parsed), vendor_field, text)


def plausible(ms: int, vendor_field: str, sent: object) -> int:
    """``ms`` when it lies in 2000-2100 (the contracts' bounds); else an error naming the vendor's
    field: a camera with an unset clock sends 1970, and "event_time: 0 is not a plausible time"
    named a field the vendor never wrote."""
    if MIN_TIME_MS <= ms < MAX_TIME_MS:
        return ms
    raise MappingError(vendor_field, f"{str(sent)[:40]} is not a plausible time (2000-2100): is "
                       "the device's clock set? Set it (NTP) and send the time it shows")


# -- ids and personal values -----------------------------------------------------------------------


def stable_id(prefix: str, *parts: object) -> str:
    """A deterministic event id from the parts that identify an event: the same parts (a
    retransmission, a replay) give the same id, so the hub's deduplication catches repeats."""
    # "surrogatepass": a vendor's string holding a lone surrogate still gives an id (the
    # fields it fills are refused by validation, naming them); it raised UnicodeEncodeError
    text = "\x1f".join(str(p) for p in parts)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{prefix}-{digest[:20]}"


def perimeter_alarm(*, event_id: str, vendor: str, device_id: str, site: Site, event_time: int,
                    zone_id: str, alarm_type: str, severity: int,
                    description: str | None) -> dict[str, Any]:
    """A perimeter_alarm interchange record: every vendor's alarm ends in the same shape."""
    return {"event_id": event_id, "vendor": vendor, "device_id": device_id,
            "site_id": site.site_id, "event_time": event_time, "zone_id": zone_id,
            "building_id": site.building_id, "alarm_type": alarm_type, "severity": severity,
            "description": description}


def hash_personal(value: Any, key: bytes | str, vendor_field: str) -> str | None:
    """The pseudonym of a raw personal value (card number, face or person id); None when absent.
    The raw value never leaves this function."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise MappingError(vendor_field, f"expected text, got {type(value).__name__}")
    if not value.strip():
        return None
    why = not_text(value)
    if why is not None:
        raise MappingError(vendor_field, why)
    return pseudonymize(value, key)


def text(obj: Mapping[str, Any], name: str, path: str, *, required: bool = True) -> str | None:
    """A non-empty string field of ``obj`` (numbers as their digits); ``path`` names it in
    errors."""
    value = obj.get(name)
    if isinstance(value, bool):
        value = None
    if isinstance(value, (int, float)):
        value = str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    if value is not None and not isinstance(value, str):
        raise MappingError(path, f"expected text, got {type(value).__name__}")
    if required:
        raise MappingError(path, "missing or empty; the device must send it (check the "
                           "device's event/upload settings)")
    return None


def need(obj: Mapping[str, Any], name: str, path: str) -> str:
    """Like :func:`text`, for a field the mapping cannot do without."""
    value = text(obj, name, path, required=True)
    if value is None:  # pragma: no cover - text() raises first
        raise MappingError(path, "missing or empty")
    return value


def integer(obj: Mapping[str, Any], name: str, path: str) -> int | None:
    """An integer field (XML text or a JSON number); None when absent; an error when it is not
    a number."""
    value = obj.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MappingError(path, f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip(), 0) if value.strip().lower().startswith("0x") \
                else int(value.strip())
        except ValueError:
            pass
    raise MappingError(path, f"expected an integer, got {value!r}")


def as_mapping(value: Any, path: str) -> Mapping[str, Any]:
    """``value`` itself when it is a JSON object; raises MappingError at ``path`` otherwise, so
    mappings can index it without type checks."""
    if not isinstance(value, Mapping):
        raise MappingError(path, f"expected an object, got {type(value).__name__}")
    return value


# -- XML -------------------------------------------------------------------------------------------


def check_size(payload: bytes | str, path: str) -> None:
    """Raise MappingError (DECODE_ERROR) when ``payload`` exceeds MAX_PAYLOAD_BYTES, before any
    parsing: vendors embed pictures, and an oversized body must not reach Kafka."""
    size = len(payload.encode("utf-8") if isinstance(payload, str) else payload)
    if size > MAX_PAYLOAD_BYTES:
        raise MappingError(path, f"payload of {size} bytes is over the {MAX_PAYLOAD_BYTES}-byte "
                           "limit; send the event without its picture", reason="DECODE_ERROR")


def parse_xml(payload: bytes | str, root: str) -> dict[str, Any]:
    """Parse an XML payload safely into nested dicts and return the ``root`` element's content.

    defusedxml with ``forbid_dtd``: a DOCTYPE (and with it every entity definition, the
    billion-laughs and external-entity attacks) is refused before anything is expanded.
    Namespaces are dropped from tag names; repeated child elements become lists; an element
    without children is its stripped text.
    """
    check_size(payload, root)
    try:
        element = SafeET.fromstring(payload, forbid_dtd=True, forbid_entities=True,
                                    forbid_external=True)
    except DefusedXmlException as exc:
        raise MappingError(root, f"XML with a DTD or entities is refused ({type(exc).__name__}); "
                           "send the plain event XML", reason="DECODE_ERROR") from None
    except ParseError as exc:
        raise MappingError(root, f"not well-formed XML ({exc}); send the complete event",
                           reason="DECODE_ERROR") from None
    except (ValueError, TypeError) as exc:  # e.g. an encoding the parser cannot read
        raise MappingError(root, f"unreadable XML ({exc})", reason="DECODE_ERROR") from None
    name = local_name(element.tag)
    if name != root:
        raise MappingError(root, f"the root element is <{name}>, expected <{root}>; this "
                           "endpoint takes only that document", reason="DECODE_ERROR")
    content = element_to_dict(element)
    return content if isinstance(content, dict) else {}


def local_name(tag: str) -> str:
    """``tag`` without its ``{namespace}`` prefix: vendors disagree on ISAPI/GA/T namespaces, so
    mappings match local names only."""
    return tag.rsplit("}", 1)[-1]


def element_to_dict(element: Element, depth: int = 0) -> dict[str, Any] | str:
    """An XML element as JSON-like data, so XML and JSON bodies share one mapping path.

    Leaves become their stripped text; repeated child names become lists; namespaces and attributes
    are dropped. Deeper than MAX_DEPTH is refused: 50,000 nested elements (an outside probe) ran
    this into Python's recursion limit, a 500 at the gateway.
    """
    children = list(element)
    if not children:
        return (element.text or "").strip()
    if depth >= MAX_DEPTH:
        raise MappingError(local_name(element.tag), f"XML nested deeper than {MAX_DEPTH} "
                           "levels; vendor documents are a few levels deep: send the event "
                           "document alone", reason="DECODE_ERROR")
    out: dict[str, Any] = {}
    for child in children:
        name = local_name(child.tag)
        value = element_to_dict(child, depth + 1)
        if name in out:
            previous = out[name]
            out[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[name] = value
    return out
