"""``hub gateway``: the HTTP edge where devices and vendor platforms deliver events.

Routes (the OpenAPI document at ``GET /openapi.json`` describes each one):

- ``POST /v1/events/{kind}``: interchange JSON, one event or an array of up to 1,000;
- ``POST /v1/vendors/hikvision/isapi``, ``/v1/vendors/dahua/events``,
  ``/v1/vendors/gat1400/[VIID/]DispositionNotifications``: vendor payloads (vendor_routes.py);
- ``GET /openapi.json``, ``GET /metrics``, ``GET /healthz``, ``GET /readyz``: open, no key.

Every ``/v1/`` route needs an API key (api_keys.py); the caller is put on the request as
``request["caller"]`` (a frozen :class:`~hub.edge.api_keys.Caller`), so that routes added by
others (``extra_routes``, ``plugins`` of :func:`make_app`) can decide by it. An answer is 202 only
once Kafka acknowledged every stored event (intake.py).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from hub.adapters.http_server import serve_until_stopped
from hub.codec import Codec, json_names, load_codec
from hub.edge import openapi
from hub.edge.api_keys import INTERCHANGE, ApiKeys, Caller
from hub.edge.intake import (
    CHANNEL,
    GATEWAY_KEY,
    MAX_KEY_CHECKS,
    BodyTooLarge,
    BodyTooSlow,
    Gateway,
    Intake,
    QueryError,
    Sink,
    caller_of,
    error_response,
    gateway_of,
    read_body,
    request_rejected,
    settle,
    too_large,
    too_slow,
)
from hub.edge.vendor_routes import VENDOR_OF_PATH
from hub.edge.vendor_routes import routes as vendor_routes
from hub.model.errors import RecordError, quoted
from hub.model.events import SOURCE_KINDS
from hub.settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: A plugin gets the app before it starts: it may add routes, read ``app[GATEWAY_KEY]`` (settings,
#: sink, keys) and add its paths to ``app[OPENAPI_KEY]`` with :func:`hub.edge.openapi.extend`.
Plugin = Callable[[web.Application], None]

OPENAPI_KEY = web.AppKey("openapi", dict[str, Any])
REGISTRY_KEY = web.AppKey("registry", CollectorRegistry)
EVENTS_PREFIX = "/v1/events/"
#: The routes a key's ``vendors`` allow or refuse (docs/gateway.md, "Keys").
ROUTE_VENDORS = frozenset({INTERCHANGE, *VENDOR_OF_PATH.values()})
#: Paths anyone may read.
OPEN_PATHS = frozenset({"/openapi.json", "/metrics", "/healthz", "/readyz"})


def route_vendor(request: web.Request) -> str | None:
    """The vendor label of a /v1/ request (metrics, key permissions); a plugin route may set
    ``request["metrics_vendor"]``."""
    path = request.path
    if path.startswith(EVENTS_PREFIX):
        return INTERCHANGE
    found = VENDOR_OF_PATH.get(path)
    if found is not None:
        return found
    named = request.get("metrics_vendor")
    if isinstance(named, str):
        return named
    return "other" if path.startswith("/v1/") else None


# -- middlewares -----------------------------------------------------------------------------------


@web.middleware
async def answers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """JSON for every error, and the response counters (hub_gateway_responses_total)."""
    started = time.monotonic()
    gw = gateway_of(request)
    try:
        response = await handler(request)
    except BodyTooLarge:
        response = too_large(gw)
    except BodyTooSlow:
        response = too_slow(gw)
    except ConnectionResetError:  # the client left mid-request: nothing to answer, no traceback
        log.info("%s %s: the client closed the connection before the request was read",
                 request.method, request.path)
        response = error_response(400, "the connection was closed before the body arrived")
    except QueryError as exc:
        response = request_rejected(gw, route_vendor(request) or "other", exc.field,
                                    exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(exc.status, exc.text or exc.reason)
        if exc.status == 405:
            response.headers["Allow"] = exc.headers.get("Allow", "")
    except Exception:  # a bug of ours: still a JSON answer, counted (aiohttp's is plain text)
        log.exception("%s %s failed", request.method, request.path)
        response = error_response(500, "the gateway failed on this request (a bug, logged); "
                                  "retry later, and report it if it persists")
    vendor = route_vendor(request)
    if vendor is not None:
        metrics = gw.sink.metrics
        metrics.responses.labels(vendor, str(response.status)).inc()
        metrics.request_seconds.labels(vendor).observe(time.monotonic() - started)
    return response


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 without a valid key, 403 for a vendor route the key does not allow; the caller on the
    request for everything under /v1/ that exists (an unknown path stays a 404)."""
    if not request.path.startswith("/v1/") or request.match_info.http_exception is not None:
        return await handler(request)
    gw = gateway_of(request)
    key = presented_key(request)
    caller = None
    if key:
        caller = gw.keys.cached(key)
        if caller is None:  # scrypt takes tens of ms: off the event loop, in its own threads
            if gw.key_checks_pending >= MAX_KEY_CHECKS:
                response = error_response(429, f"{gw.key_checks_pending} API keys are being "
                                          "checked; try again in a second")
                response.headers["Retry-After"] = "1"
                return response
            gw.key_checks_pending += 1
            try:
                caller = await asyncio.get_running_loop().run_in_executor(
                    gw.key_checks, gw.keys.check, key)
            finally:
                gw.key_checks_pending -= 1
    if caller is None:
        response = error_response(
            401, "a valid API key is needed: send 'Authorization: Bearer <key>' or "
            "'X-API-Key: <key>' (keys come from `hub gateway --add-key`)" if not key else
            "the API key is not known or wrong; check it, or ask for a new one")
        response.headers["WWW-Authenticate"] = 'Bearer realm="hub gateway"'
        return response
    with warnings.catch_warnings():  # a str key on purpose: routes of others read "caller"
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        request["caller"] = caller
    vendor = route_vendor(request)
    if vendor in ROUTE_VENDORS and not caller.may_use(vendor):
        return error_response(403, f"caller {caller.name!r} may not use the {vendor} route "
                              f"({request.path}); ask for a key with vendors [{vendor}]")
    return await handler(request)


def presented_key(request: web.Request) -> str | None:
    """The key of ``X-API-Key``, ``Authorization: Bearer``, or the password of
    ``Authorization: Basic`` (for devices that can only be given a user and password)."""
    direct = request.headers.get("X-API-Key", "").strip()
    if direct:
        return direct
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


# -- interchange -----------------------------------------------------------------------------------


async def post_events(request: web.Request) -> web.Response:
    """One interchange event or an array of up to 1,000 (``hub produce`` line fields)."""
    gw = gateway_of(request)
    kind = request.match_info["kind"]
    if kind not in SOURCE_KINDS:
        return error_response(404, f"no event kind {kind!r}; use one of "
                              f"{', '.join(SOURCE_KINDS)}")
    caller = caller_of(request)
    if not caller.may_send(kind):
        return error_response(403, f"caller {caller.name!r} may not send {kind}; ask for a key "
                              f"with kinds [{kind}]")
    body = await read_body(gw, request)
    try:
        obj = json_names.loads(body)
    except (ValueError, RecursionError) as exc:
        return request_rejected(gw, INTERCHANGE, "body", f"not valid JSON ({exc}); send one "
                                "event object or an array of them")
    items = obj if isinstance(obj, list) else [obj]
    if not isinstance(obj, (list, dict)) or not items:
        return request_rejected(gw, INTERCHANGE, "body", "expected an event object or a "
                                "non-empty array of them")
    if len(items) > openapi.MAX_EVENTS:
        return request_rejected(gw, INTERCHANGE, "body", f"{len(items)} events; at most "
                                f"{openapi.MAX_EVENTS} per request, split the array")
    gw.sink.received(CHANNEL, INTERCHANGE, len(items))
    intake = Intake(INTERCHANGE, request.path)
    # Validation of a large batch costs milliseconds: off the event loop.
    if len(items) > 20:
        await asyncio.get_running_loop().run_in_executor(None, _validate, gw, kind, items,
                                                         intake)
    else:
        _validate(gw, kind, items, intake)
    return (await settle(gw, intake)).response


def _validate(gw: Gateway, kind: str, items: list[Any], intake: Intake) -> None:
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            intake.reject(index, RecordError(f"expected an event object, got "
                                             f"{type(item).__name__}", field="body"))
            continue
        given = item.get("kind", kind)
        if given != kind:
            path = f"/v1/events/{given if given in SOURCE_KINDS else '<kind>'}"
            intake.reject(index, RecordError(f"{quoted(given)} does not match the path's "
                                             f"kind {kind!r}; leave kind out or post to {path}",
                                             field="kind"))
            continue
        try:
            found, record = gw.sink.validate(json_names.with_fields(item, kind=kind),
                                             accept=[kind])
        except RecordError as exc:
            intake.reject(index, exc)
            continue
        intake.accept(index, found, record)


# -- service routes --------------------------------------------------------------------------------


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI_KEY])


async def get_metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(request.app[REGISTRY_KEY]),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


async def get_healthz(request: web.Request) -> web.Response:
    """Liveness: 200 while the process serves, whatever Kafka does (a probe restarting the
    gateway when Kafka is away would help nobody); ``kafka`` says how Kafka is."""
    problem = await asyncio.get_running_loop().run_in_executor(
        None, gateway_of(request).sink.kafka_problem)
    return web.json_response({"status": "ok", "kafka": problem or "ok"})


async def get_readyz(request: web.Request) -> web.Response:
    """Readiness: 503 while Kafka does not answer, so that a load balancer sends devices to
    another gateway instead of to one that can only answer 503."""
    problem = await asyncio.get_running_loop().run_in_executor(
        None, gateway_of(request).sink.kafka_problem)
    if problem:
        return web.json_response({"status": "not ready", "kafka": problem}, status=503)
    return web.json_response({"status": "ready"})


# -- the app ---------------------------------------------------------------------------------------


def make_app(settings: Settings, sink: Sink, keys: ApiKeys, *, registry: CollectorRegistry,
             codec: Codec | None = None, extra_routes: Iterable[web.RouteDef] = (),
             plugins: Iterable[Plugin] = ()) -> web.Application:
    """The gateway's aiohttp app.

    ``registry``: the one the sink's metrics were created in (served at /metrics).
    ``extra_routes``: more routes (e.g. ``GET /v1/buildings/{building_id}``); under /v1/ they are
    behind the API key like the others and find the caller in ``request["caller"]``.
    ``plugins``: called with the app, for routes that need setup (app keys, cleanup contexts,
    their OpenAPI paths via ``openapi.extend(app[OPENAPI_KEY], ...)``).
    """
    app = web.Application(middlewares=[answers, authenticate],
                          client_max_size=settings.gateway_max_bytes)
    app[GATEWAY_KEY] = Gateway(settings, sink, keys, settings.gateway_max_bytes)
    app[REGISTRY_KEY] = registry
    app[OPENAPI_KEY] = openapi.document(codec or load_codec(settings.schemas_dir))
    app.add_routes([
        web.post(EVENTS_PREFIX + "{kind}", post_events),
        *vendor_routes(),
        web.get("/openapi.json", get_openapi),
        web.get("/metrics", get_metrics),
        web.get("/healthz", get_healthz), web.get("/readyz", get_readyz),
    ])
    app.add_routes(list(extra_routes))
    for plugin in plugins:
        plugin(app)
    return app


def building_lookup_plugin(settings: Settings, sink: Any) -> Plugin | None:
    """``GET /v1/buildings/{building_id}`` (hub/edge/lookup.py) as a plugin, with its OpenAPI
    path; None when that module is not there. ``sink``: the process's EdgeSink."""
    try:
        from hub.edge import lookup
    except ModuleNotFoundError as exc:
        if exc.name != "hub.edge.lookup":
            raise
        return None

    def plugin(app: web.Application) -> None:
        lookup.setup(app, settings, sink)
        openapi.extend(app[OPENAPI_KEY], {"/v1/buildings/{building_id}": {"get": {
            "operationId": "get_building_card", "tags": ["buildings"],
            "summary": "A building identity card (楼宇身份证); recorded as a building_lookup "
            "event (the key needs that kind). docs/buildings.md",
            "parameters": [
                {"name": "building_id", "in": "path", "required": True,
                 "schema": {"type": "string", "minLength": 1}},
                {"name": "channel", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": ["QR_SCAN", "APP", "API"],
                            "default": "API"}}],
            "responses": {
                "200": {"description": "The card, as the registry stores it",
                        "content": {"application/json": {"schema": {"type": "object"}}}},
                "400": {"description": "A channel that is not a lookup channel",
                        "content": {"application/json": {"schema": {"$ref": _ERROR}}}},
                "401": {"$ref": "#/components/responses/Unauthorized"},
                "403": {"$ref": "#/components/responses/Forbidden"},
                "404": {"$ref": "#/components/responses/NotFound"},
                "503": {"description": "The registry (Redis) does not answer",
                        "content": {"application/json": {"schema": {"$ref": _ERROR}}}}},
        }}})

    return plugin


_ERROR = "#/components/schemas/Error"


def serve(app: web.Application, host: str, port: int, *, on_stop: Callable[[], Any],
          verbose: bool = False) -> int:
    """Run the gateway until SIGTERM/SIGINT; ``on_stop`` (closing the sink: what is queued is
    delivered) runs after the last request was answered."""
    return serve_until_stopped(app, host, port, name="gateway",
                               summary=f"{len(app[GATEWAY_KEY].keys)} API keys",
                               on_stop=on_stop, verbose=verbose)


__all__ = ["OPENAPI_KEY", "REGISTRY_KEY", "Caller", "Plugin", "make_app", "presented_key",
           "route_vendor", "serve"]
