"""The vendor routes of ``hub gateway``: devices' own payloads, mapped by ``connectors/``.

Vendor payloads do not say which site (小区) a device belongs to: each device is configured with
its own callback URL carrying ``site_id`` (and ``building_id``, ``zone``; Dahua also
``device_id``, because its event lines do not name the device). Whatever a device sends that
cannot become a record is kept, sealed, on the dead-letter topic (never a picture).
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import BodyPartReader, hdrs, web

from connectors.common import DEFAULT_ZONE, Mapped, MappingError, Site
from connectors.dahua import mapping as dahua
from hub.edge.intake import (
    CHANNEL,
    BodyTooLarge,
    BodyTooSlow,
    Gateway,
    Intake,
    QueryError,
    caller_of,
    check_length,
    error_response,
    gateway_of,
    read_body,
    settle,
)
from hub.edge.vendor_mapping import MappedPayload, map_payload
from hub.model.errors import RecordError

HIKVISION_PATH = "/v1/vendors/hikvision/isapi"
DAHUA_PATH = "/v1/vendors/dahua/events"
GAT1400_PATHS = ("/v1/vendors/gat1400/DispositionNotifications",
                 "/v1/vendors/gat1400/VIID/DispositionNotifications")
#: route path -> the vendor name of its metrics labels and of API key permissions
VENDOR_OF_PATH = {HIKVISION_PATH: "hikvision", DAHUA_PATH: "dahua",
                  **dict.fromkeys(GAT1400_PATHS, "gat1400")}


def site_from_query(request: web.Request) -> Site:
    """The device's site from its callback URL's query: ``site_id`` (required), ``building_id``,
    ``zone`` (IANA, default Asia/Shanghai)."""
    query = request.query
    site_id = query.get("site_id", "").strip()
    if not site_id:
        raise QueryError("site_id", "missing; configure the device's callback URL with "
                         "?site_id=<the hub's site id> (vendor payloads do not carry it)")
    building = query.get("building_id", "").strip() or None
    site = Site(site_id, query.get("zone", "").strip() or DEFAULT_ZONE, building)
    try:
        site.tzinfo()
    except MappingError as exc:
        raise QueryError("zone", exc.detail) from None
    return site


def _forbidden(gw: Gateway, request: web.Request, intake: Intake) -> web.Response | None:
    """403 when the mapped events include a kind the caller may not send (nothing produced)."""
    caller = caller_of(request)
    denied = sorted(k for k in intake.kinds() if not caller.may_send(k))
    if not denied:
        return None
    count = len(intake.pending) + len(intake.rejected) + intake.skipped
    gw.sink.outcome(CHANNEL, intake.vendor, "rejected", count)
    return error_response(403, f"caller {caller.name!r} may not send {', '.join(denied)} "
                          f"(this payload maps to it); ask for a key with kinds "
                          f"[{', '.join(denied)}]")


def _take(gw: Gateway, intake: Intake, mapped: MappedPayload) -> None:
    """Queue each piece of a mapped payload: rejected with its bytes, skipped, or validated for
    producing. (Counting the pieces as received is the route's: Hikvision counts its one event
    before it reads the body.)"""
    for index, piece in enumerate(mapped.pieces):
        if piece.error is not None:
            intake.reject(index, piece.error, raw=piece.raw)
        elif piece.mapped is None:
            intake.skipped += 1  # heartbeat, an alarm's end, a Dahua Stop or repeated Start
        else:
            _accept(gw, intake, index, piece.mapped, piece.raw)


def _accept(gw: Gateway, intake: Intake, index: int, mapped: Mapped, raw: bytes) -> None:
    """The hub's own validator has the last word on a mapped record too."""
    try:
        kind, record = gw.sink.validate(mapped.line(), accept=[mapped.kind])
    except RecordError as exc:
        intake.reject(index, exc, raw=raw, kind=mapped.kind)
        return
    intake.accept(index, kind, record)


# -- Hikvision ISAPI -------------------------------------------------------------------------------


async def hikvision_isapi(request: web.Request) -> web.Response:
    """One ``EventNotificationAlert``: XML, the JSON form, or multipart with a picture."""
    gw = gateway_of(request)
    site = site_from_query(request)
    intake = Intake("hikvision", request.path)
    # Counted once the body is read, as the other routes do: a 413 or 408 answers a request
    # nothing was read from, and an event counted received must have an outcome.
    try:
        payload = await _alert_part(gw, request)
    except MappingError as exc:  # no readable part: nothing to keep (never the picture)
        gw.sink.received(CHANNEL, intake.vendor)
        intake.reject(0, exc)
        return (await settle(gw, intake)).response
    gw.sink.received(CHANNEL, intake.vendor)
    _take(gw, intake, map_payload("hikvision", payload, site=site,
                                  pseudonym_key=gw.settings.pseudonym_key))
    return _forbidden(gw, request, intake) or (await settle(gw, intake)).response


async def _multipart_alert(gw: Gateway, request: web.Request) -> bytes | None:
    """The XML/JSON part of a multipart body (None: none), the other parts read through."""
    found: bytes | None = None
    total = 0
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise MappingError("multipart", "nested multipart is not an ISAPI upload")
            ctype = part.headers.get(hdrs.CONTENT_TYPE, "").lower()
            keep = found is None and not ctype.startswith(("image/", "video/",
                                                            "application/octet-stream"))
            data = bytearray()
            while chunk := await part.read_chunk(1 << 16):
                total += len(chunk)
                if total > gw.max_bytes:
                    raise BodyTooLarge()
                if keep:
                    data += chunk
            looks = bytes(data[:64]).lstrip()[:1] in (b"<", b"{")
            if keep and ("xml" in ctype or "json" in ctype or looks):
                found = bytes(data)
    except (BodyTooLarge, MappingError):
        raise
    except Exception as exc:  # aiohttp's multipart reader: ValueError, AssertionError, ...
        raise MappingError("multipart", f"unreadable multipart body ({exc}); send the alert "
                           "XML as its own part", reason="DECODE_ERROR") from None
    return found


async def _alert_part(gw: Gateway, request: web.Request) -> bytes:
    """The alert's bytes: the body, or of a multipart body the XML/JSON part.

    Other parts (the picture) are read through in chunks and dropped: they are never kept, in
    memory beyond a chunk, on a topic or in a dead letter. The size limit counts every part."""
    if not request.content_type.startswith("multipart/"):
        return await read_body(gw, request)
    check_length(gw, request)
    try:
        async with asyncio.timeout(gw.body_read_s):
            found = await _multipart_alert(gw, request)
    except TimeoutError:
        raise BodyTooSlow() from None
    if found is None:
        raise MappingError("multipart", "no XML or JSON part (EventNotificationAlert) in the "
                           "multipart body; the picture alone is not an event",
                           reason="DECODE_ERROR")
    return found


# -- Dahua -----------------------------------------------------------------------------------------


async def dahua_events(request: web.Request) -> web.Response:
    """Event-manager blocks; a Start and its Stop are one event (pairing per device, in this
    process: a Start's pairing is committed only once Kafka stored it, so a retried Start after a
    503 is not mistaken for a repeat)."""
    gw = gateway_of(request)
    site = site_from_query(request)
    device_id = request.query.get("device_id", "").strip()
    if not device_id:
        raise QueryError("device_id", "missing; Dahua event lines do not name the device, "
                         "configure its callback URL with ?device_id=<its id>")
    body = await read_body(gw, request)
    received_ms = int(time.time() * 1000)
    intake = Intake("dahua", request.path)
    key = (site.site_id, device_id)
    lock = gw.dahua_locks.setdefault(key, asyncio.Lock())
    async with lock:
        before = gw.dahua_open.get(key, frozenset())
        mapped = map_payload("dahua", body, site=site, pseudonym_key=gw.settings.pseudonym_key,
                             device_id=device_id, received_ms=received_ms, dahua_open=before)
        gw.sink.received(CHANNEL, intake.vendor, len(mapped.pieces))
        _take(gw, intake, mapped)
        denied = _forbidden(gw, request, intake)
        if denied is not None:
            return denied
        settled = await settle(gw, intake)
        # Replay the pairing over what was stored: a Start Kafka did not take stays closed.
        state = before
        for index, piece in enumerate(mapped.pieces):
            if piece.dahua_event is None:
                continue  # not parsed: it never moved the state
            if piece.mapped is not None and index not in settled.delivered:
                continue
            state, _ = dahua.pair(state, device_id, piece.dahua_event, piece.dahua_at)
        if state:
            gw.dahua_open[key] = state
        else:
            gw.dahua_open.pop(key, None)
    return settled.response


# -- GA/T 1400 -------------------------------------------------------------------------------------


async def gat1400_notifications(request: web.Request) -> web.Response:
    """A ``DispositionNotificationListObject``: one face_match per notification."""
    gw = gateway_of(request)
    site = site_from_query(request)
    body = await read_body(gw, request)
    intake = Intake("gat1400", request.path)
    mapped = map_payload("gat1400", body, site=site, pseudonym_key=gw.settings.pseudonym_key)
    gw.sink.received(CHANNEL, intake.vendor, len(mapped.pieces))
    _take(gw, intake, mapped)
    return _forbidden(gw, request, intake) or (await settle(gw, intake)).response


def routes() -> list[web.RouteDef]:
    """The vendor routes (Hikvision ISAPI, Dahua, GA/T 1400) to add to the gateway app."""
    out = [web.post(HIKVISION_PATH, hikvision_isapi), web.post(DAHUA_PATH, dahua_events)]
    out += [web.post(path, gat1400_notifications) for path in GAT1400_PATHS]
    return out
