"""``GET /v1/buildings/{building_id}``: answer a building identity card (楼宇身份证) lookup.

The card comes from Redis (``hub:building:{id}``, written by ``hub buildings load`` and by every
worker's registry mirror), as the JSON stored there, byte for byte. Each answered lookup also
becomes a BuildingLookup event on hub.src.building_lookup (the ``lookup_spike`` rule reads it),
with the caller's name pseudonymized and the caller's role.

Why the answer does not wait for Kafka: the card must come fast (goal p99 <= 5 ms; a scan at a
door is a person waiting), while Kafka's acknowledgement of an idempotent acks=all message takes
milliseconds and, when a broker is down, up to the sink's delivery timeout. The lookup event is
an audit record, not what the caller asked for, so it is queued on the edge's producer and its
delivery counted when the broker answers: ``hub_edge_events_total{channel="http",
vendor="hub-gateway",outcome="produced"|"failed"|"rejected"}`` beside
``hub_edge_received_total``, and a warning logged per failure. A process that dies before
delivery loses those few events; the card itself was never at risk.

Answers (JSON; docs/buildings.md, "The lookup API"):

- 200 the card; 404 no card under that id (no event: it has no site to key it by);
- 400 a ``channel`` parameter that is not QR_SCAN, APP or API (the answer names them);
- 401 no authenticated caller: the route relies on ``hub gateway``'s API-key middleware to set
  ``request["caller"]`` (anything with ``name`` and ``role``), and refuses rather than serve
  cards to nobody in particular;
- 403 a caller whose ``may_send("building_lookup")`` is False (hub/edge/api_keys.py ``Caller``):
  every lookup is recorded as a building_lookup event, so a key must be allowed that kind;
- 503 Redis does not answer within ``REDIS_TIMEOUT_S`` (the card cannot be read; try again).

Lookups are counted by outcome (found, unknown, unavailable) in ``hub_buildings_lookups_total``.

The gateway mounts the route with :func:`setup` (before the app starts).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Collection
from concurrent.futures import Future
from typing import Any

from aiohttp import web

from hub.buildings.mirror import card_key
from hub.core.pseudonym import pseudonymize
from hub.edge.sink import Delivery, EdgeSink
from hub.model.errors import RecordError
from hub.settings import Settings

log = logging.getLogger(__name__)

ROUTE = "/v1/buildings/{building_id}"
#: The BuildingLookup events' vendor and device: the lookup came through the gateway.
VENDOR = "hub-gateway"
DEVICE_ID = "gateway"
#: hub_edge_* metrics' channel label for these events
EDGE_CHANNEL = "http"
#: Where the gateway's API-key middleware puts the authenticated caller.
CALLER_KEY = "caller"
#: Socket timeout for Redis: a card is a GET of ~500 bytes on the same network (~0.2 ms); a
#: Redis that has not answered in this time is treated as down, so a caller is told 503 quickly.
REDIS_TIMEOUT_S = 0.25
DEFAULT_CHANNEL = "API"
_KIND = "building_lookup"


def _enum_symbols(schema: dict[str, Any], field: str) -> tuple[str, ...]:
    for fld in schema["fields"]:
        if fld["name"] == field:
            return tuple(fld["type"]["symbols"])
    raise KeyError(field)


def requester_role(role: object, allowed: Collection[str]) -> str:
    """The RequesterRole symbol of a caller's role: an Enum or a string in any case, with '-'
    or '_' ("grid-worker" -> GRID_WORKER); UNKNOWN for anything the schema does not name."""
    value = getattr(role, "value", role)
    if not isinstance(value, str):
        return "UNKNOWN"
    text = value.strip().upper().replace("-", "_").replace(" ", "_")
    return text if text in allowed else "UNKNOWN"


def _json(status: int, body: dict[str, Any], **headers: str) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False),
                             headers={"Cache-Control": "no-store", **headers})


class BuildingLookupRoute:
    """The handler and its Redis client; one per app."""

    def __init__(self, settings: Settings, sink: EdgeSink, *, redis: Any = None,
                 redis_url: str | None = None) -> None:
        self.settings, self.sink = settings, sink
        self._redis = redis
        self._owns_redis = redis is None
        self._redis_url = redis_url or settings.redis_url
        schema = sink.codec.schema(_KIND)
        self.roles = _enum_symbols(schema, "requester_role")
        #: UNKNOWN is the readers' fallback for symbols they do not know, not a caller's choice
        self.channels = tuple(c for c in _enum_symbols(schema, "channel") if c != "UNKNOWN")

    def _redis_client(self) -> Any:
        if self._redis is None:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            # No retries: redis-py's default retries a refused connection for seconds, and the
            # caller is better served by a 503 now.
            self._redis = Redis.from_url(
                self._redis_url, socket_timeout=REDIS_TIMEOUT_S,
                socket_connect_timeout=REDIS_TIMEOUT_S, retry=Retry(NoBackoff(), 0))
        return self._redis

    async def close(self) -> None:
        """Close the Redis client if this route created it; one passed in belongs to the caller."""
        if self._redis is not None and self._owns_redis:
            await self._redis.aclose()
            self._redis = None

    async def handle(self, request: web.Request) -> web.Response:
        """GET a building's card: 401 without a caller, 403 unless its key may send the lookup kind
        (every lookup is recorded as one), 400 for an unknown ``channel``; answers are never
        cached."""
        caller = request.get(CALLER_KEY)
        name = getattr(caller, "name", None)
        if not isinstance(name, str) or not name.strip():
            return _json(401, {"error": "no authenticated caller: send your API key (the "
                               "gateway's X-API-Key header)"})
        may_send = getattr(caller, "may_send", None)
        if callable(may_send) and not may_send(_KIND):
            return _json(403, {"error": f"caller {name!r} may not look up building cards: its "
                               f"API key needs the kind {_KIND} (every lookup is recorded as "
                               "one); ask the gateway's operator"})
        given = request.query.get("channel", DEFAULT_CHANNEL)
        channel = given.strip().upper()
        if channel not in self.channels:
            return _json(400, {"error": f"channel={given!r} is not a lookup channel; use one "
                               f"of {', '.join(self.channels)} (default {DEFAULT_CHANNEL})",
                               "parameter": "channel", "allowed": list(self.channels)})
        building_id = request.match_info["building_id"]
        try:
            raw = await self._redis_client().get(card_key(building_id))
        except Exception as exc:  # redis.RedisError, OSError, timeouts: the card cannot be read
            return self._unavailable(building_id, exc)
        if raw is None:
            self.sink.metrics.lookups.labels("unknown").inc()
            return _json(404, {"error": f"no building identity card for {building_id!r}; check "
                               "the id on the plate, or load the card (`hub buildings load`)",
                               "building_id": building_id})
        try:
            site_id = json.loads(raw)["site_id"]
        except (ValueError, KeyError, TypeError) as exc:
            return self._unavailable(building_id, exc, what="is unreadable")
        self.sink.metrics.lookups.labels("found").inc()
        self._record_lookup(building_id, str(site_id), name, getattr(caller, "role", None),
                            channel)
        return web.Response(body=raw, content_type="application/json", charset="utf-8",
                            headers={"Cache-Control": "no-store"})

    def _unavailable(self, building_id: str, exc: BaseException,
                     what: str = "cannot be read now") -> web.Response:
        self.sink.metrics.lookups.labels("unavailable").inc()
        log.warning("building card %s %s: %s", building_id, what, exc,
                    extra={"building_id": building_id})
        return _json(503, {"error": f"the building registry {what} (Redis does not answer); "
                           "try again shortly", "building_id": building_id},
                     **{"Retry-After": "1"})

    # -- the lookup event ------------------------------------------------------------------

    def _record_lookup(self, building_id: str, site_id: str, name: str, role: object,
                       channel: str) -> None:
        """Queue the BuildingLookup event; never raises, never waits for the broker."""
        self.sink.received(EDGE_CHANNEL, VENDOR)
        obj = {
            "kind": _KIND,
            "event_id": uuid.uuid4().hex,
            "vendor": VENDOR,
            "device_id": DEVICE_ID,
            "site_id": site_id,
            "event_time": time.time_ns() // 1_000_000,
            "building_id": building_id,
            "requester_hash": pseudonymize(name, self.settings.pseudonym_key),
            "requester_role": requester_role(role, self.roles),
            "channel": channel,
        }
        try:
            record = self.sink.validate(obj, accept=(_KIND,))[1]
            future = self.sink.produce([(_KIND, record)])
        except (RecordError, ValueError) as exc:  # e.g. an id over the length limit
            self.sink.outcome(EDGE_CHANNEL, VENDOR, "rejected")
            log.warning("building lookup event not produced: %s", exc,
                        extra={"building_id": building_id})
            return
        future.add_done_callback(self._delivered)

    def _delivered(self, future: Future[list[Delivery]]) -> None:
        """Runs on the sink's producer thread once the broker has answered."""
        for delivery in future.result():
            if delivery.error is None:
                self.sink.outcome(EDGE_CHANNEL, VENDOR, "produced")
            else:
                self.sink.outcome(EDGE_CHANNEL, VENDOR, "failed")
                log.warning("building lookup event not stored on %s: %s", delivery.topic,
                            delivery.error)


def setup(app: web.Application, settings: Settings, sink: EdgeSink, *, redis: Any = None
          ) -> BuildingLookupRoute:
    """Mount ``GET /v1/buildings/{building_id}`` on ``app`` (before it starts) and close the
    route's Redis client when the app cleans up. ``redis``: an async client to use instead of
    one made from ``settings.redis_url`` (tests; a gateway that shares one)."""
    route = BuildingLookupRoute(settings, sink, redis=redis)
    app.router.add_get(ROUTE, route.handle)

    async def close(_: web.Application) -> None:
        await route.close()

    app.on_cleanup.append(close)
    return route
