"""GA/T 1400 face disposition notifications (布控告警) -> face_match (pure).

A view library (视图库) or face platform POSTs ``/VIID/DispositionNotifications`` with::

    {"DispositionNotificationListObject": {"DispositionNotificationObject": [ {...}, ... ]}}

Each notification becomes one face_match record, or one :class:`MappingError` (the others of the
same request are still mapped). Field table, sources and decisions: this folder's README.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from connectors.common import (
    Mapped,
    MappingError,
    Site,
    as_mapping,
    check_size,
    hash_personal,
    need,
    parse_time,
    text,
)
from hub.codec.json_names import loads_once

VENDOR = "gat1400"
LIST = "DispositionNotificationListObject"
ITEM = "DispositionNotificationObject"

#: Where platforms put the match score: GA/T 1400 itself has no similarity field in the
#: notification, so this is the vendors' extensions, first found wins (README.md, "Sources").
SIMILARITY_FIELDS = ("Similarity", "SimilarityDegree", "Similaritydegree", "Score")
#: Where the matched person's identity is, most stable first: the watchlist person's id number,
#: then the person record id, then the face record id. All are pseudonymized.
PERSON_FIELDS = (("PersonObject", "IDNumber"), ("PersonObject", "PersonID"),
                 ("FaceObject", "IDNumber"), ("FaceObject", "FaceID"))


def map_notifications(payload: bytes | str | Mapping[str, Any], *, site: Site,
                      pseudonym_key: bytes | str) -> list[Mapped | MappingError]:
    """Every notification of a ``DispositionNotificationListObject`` request, in order.

    Raises :class:`MappingError` when the envelope itself cannot be read (not JSON, wrong root);
    a notification that cannot be mapped is returned as its error, in its place.
    """
    body = _load(payload)
    envelope = as_mapping(body.get(LIST), LIST) if LIST in body else None
    if envelope is None:
        raise MappingError(LIST, f"missing; the body must be {{\"{LIST}\": {{\"{ITEM}\": "
                           "[...]}}", reason="DECODE_ERROR")
    items = envelope.get(ITEM)
    if isinstance(items, Mapping):  # some platforms send a single object, not a list
        items = [items]
    if not isinstance(items, list):
        raise MappingError(f"{LIST}.{ITEM}", "missing or not a list of notifications",
                           reason="DECODE_ERROR")
    out: list[Mapped | MappingError] = []
    for position, item in enumerate(items):
        try:
            out.append(map_notification(item, site=site, pseudonym_key=pseudonym_key,
                                        path=f"{ITEM}[{position}]"))
        except MappingError as exc:
            out.append(exc)
    return out


def map_notification(item: Any, *, site: Site, pseudonym_key: bytes | str,
                     path: str = ITEM) -> Mapped:
    """One ``DispositionNotificationObject`` -> a face_match record."""
    obj = as_mapping(item, path)
    notification_id = need(obj, "NotificationID", f"{path}.NotificationID")
    watchlist = need(obj, "DispositionID", f"{path}.DispositionID")
    event_time = parse_time(need(obj, "TriggerTime", f"{path}.TriggerTime"),
                            f"{path}.TriggerTime", site)
    person = _sub(obj, "PersonObject", path)
    face = _sub(obj, "FaceObject", path)
    device_id = (text(face, "DeviceID", f"{path}.FaceObject.DeviceID", required=False)
                 or text(person, "DeviceID", f"{path}.PersonObject.DeviceID", required=False)
                 or text(obj, "DeviceID", f"{path}.DeviceID", required=False))
    if device_id is None:
        raise MappingError(f"{path}.FaceObject.DeviceID", "missing (and no PersonObject."
                           "DeviceID): the camera cannot be identified; send the capture's "
                           "DeviceID")
    person_hash = None
    for holder, name in PERSON_FIELDS:
        source = person if holder == "PersonObject" else face
        person_hash = hash_personal(source.get(name), pseudonym_key, f"{path}.{holder}.{name}")
        if person_hash is not None:
            break
    if person_hash is None:
        raise MappingError(f"{path}.PersonObject.PersonID", "no person or face id "
                           "(PersonObject.IDNumber/PersonID, FaceObject.FaceID): the hit "
                           "cannot be correlated; send the matched person's id")
    return Mapped("face_match", {
        "event_id": f"gat1400-{notification_id}",
        "vendor": VENDOR,
        "device_id": device_id,
        "site_id": site.site_id,
        "event_time": event_time,
        "building_id": site.building_id,
        "watchlist_id": watchlist,
        "person_hash": person_hash,
        "similarity": _similarity((obj, face, person), path),
    })


def _load(payload: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(payload, Mapping):
        return payload
    check_size(payload, LIST)
    try:
        body = loads_once(payload)
    except (ValueError, RecursionError) as exc:
        raise MappingError(LIST, f"not valid JSON ({exc}); send the complete notification",
                           reason="DECODE_ERROR") from None
    if not isinstance(body, Mapping):
        raise MappingError(LIST, f"expected a JSON object, got {type(body).__name__}",
                           reason="DECODE_ERROR")
    return body


def _sub(obj: Mapping[str, Any], name: str, path: str) -> Mapping[str, Any]:
    value = obj.get(name)
    return {} if value is None else as_mapping(value, f"{path}.{name}")


def _similarity(sources: tuple[Mapping[str, Any], ...], path: str) -> float:
    """The first score found, as 0..1: values above 1 are percentages (93 -> 0.93)."""
    for source in sources:
        for name in SIMILARITY_FIELDS:
            value = source.get(name)
            if value is None or value == "":
                continue
            if isinstance(value, bool):
                raise MappingError(f"{path}.{name}", f"{value!r} is not a number")
            try:
                score = float(value)
            except (TypeError, ValueError):
                raise MappingError(f"{path}.{name}", f"{value!r} is not a number") from None
            if not math.isfinite(score) or not 0 <= score <= 100:
                raise MappingError(f"{path}.{name}", f"{value!r} is out of range: a score is "
                                   "0..1 or a percentage 0..100")
            return score / 100 if score > 1 else score
    raise MappingError(f"{path}.Similarity", "missing: no match score (Similarity, "
                       "SimilarityDegree or Score) in the notification or its FaceObject; "
                       "enable the score in the platform's notification settings")
