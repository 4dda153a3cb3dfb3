"""What every gateway route does with the events of one request: collect them, produce them, and
answer only with what Kafka acknowledged.

A route fills an :class:`Intake` (records to produce, per-event rejections, skipped heartbeats,
raw pieces for the dead-letter topic) and hands it to :func:`settle`, which waits for the broker's
answer without blocking the event loop and builds the one answer shape every route shares
(``Result`` in the OpenAPI document)::

    {"accepted": [{"index", "kind", "event_id"}], "rejected": [{"index", "field", "message"}],
     "failed": [{"index", "kind", "event_id", "message"}], "skipped": 0, "error": "..."}

202: every event stored; 200: nothing to store (heartbeats); 400: some events rejected (the
others are stored and listed); 503: Kafka did not store some or all (``failed``: send them again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from connectors.dahua.mapping import OpenEvents
from hub.edge.api_keys import ApiKeys, Caller
from hub.edge.sink import EDGE_DELIVERY_TIMEOUT_MS, Delivery
from hub.model.errors import RecordError
from hub.observability.edge_metrics import EdgeMetrics
from hub.settings import Settings

log = logging.getLogger(__name__)

CHANNEL = "http"


class Sink(Protocol):
    """What the gateway needs of :class:`hub.edge.sink.EdgeSink` (tests pass a fake)."""

    settings: Settings
    metrics: EdgeMetrics

    def validate(self, obj: Mapping[str, Any], *, accept: Collection[str] | None = None
                 ) -> tuple[str, dict[str, Any]]:
        """An interchange object -> (kind, record), personal fields pseudonymized; raises
        RecordError naming the field and the fix."""

    def produce(self, records: Sequence[tuple[str, Mapping[str, Any]]]
                ) -> Future[list[Delivery]]:
        """Queue records on their kinds' topics; the future completes when the broker has answered
        for every one."""

    def dead_letter(self, payload: bytes, error: RecordError, *, channel: str, source: str,
                    source_kind: str | None = None) -> Future[list[Delivery]]:
        """Keep a payload nothing could be made of on the dead-letter topic, sealed, with
        ``error``'s reason; the future completes when the broker has answered."""

    def kafka_problem(self, timeout: float = 2.0) -> str | None:
        """Why Kafka cannot take messages now; None when it can (the gateway answers 503
        otherwise)."""

    def received(self, channel: str, vendor: str, n: int = 1) -> None:
        """Count ``n`` events as they come in, before anything is decided."""

    def outcome(self, channel: str, vendor: str, outcome: str, n: int = 1) -> None:
        """Count what became of ``n`` received events; the two counters must reconcile."""


#: Threads checking API keys, and how many checks may wait for them before a request with a key
#: not seen yet is answered 429 at once (a valid key is cached after its first check).
KEY_CHECK_THREADS = 2
MAX_KEY_CHECKS = 32


@dataclass
class Gateway:
    """The gateway's state, one per process: the sink, the callers, the Dahua pairing state."""

    settings: Settings
    sink: Sink
    keys: ApiKeys
    max_bytes: int
    #: How long a request waits for Kafka's acknowledgements before answering 503.
    delivery_wait_s: float = EDGE_DELIVERY_TIMEOUT_MS / 1000 + 5
    #: How long a body may take to arrive once its headers have (408 after): a client that sends
    #: half a body and stalls held its connection and buffer for as long as it liked.
    body_read_s: float = 30.0
    #: (site_id, device_id) -> the Dahua events whose Start was stored and whose Stop has not come.
    dahua_open: dict[tuple[str, str], OpenEvents] = field(
        default_factory=dict)
    dahua_locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)
    #: Key checks (scrypt, ~50 ms of a core each) run here, apart from the pool that validates
    #: batches and waits on Kafka: 1,500 wrong keys at once held a valid 1,000-event post for
    #: 38 s when they shared it (an outside probe).
    key_checks: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(KEY_CHECK_THREADS, "key-check"))
    #: key checks waiting or running; beyond MAX_KEY_CHECKS a request is answered 429 unchecked
    key_checks_pending: int = 0


GATEWAY_KEY = web.AppKey("gateway", Gateway)


def gateway_of(request: web.Request) -> Gateway:
    """The Gateway the app was built with, typed, for route handlers."""
    return request.app[GATEWAY_KEY]


def caller_of(request: web.Request) -> Caller:
    """The authenticated caller; only valid behind the API key middleware, which sets it."""
    caller: Caller = request["caller"]
    return caller


# -- answers ---------------------------------------------------------------------------------------


def error_response(status: int, message: str, **extra: Any) -> web.Response:
    """``{"error": message}``: 401, 403, 404, 413 (``Error`` in the OpenAPI document)."""
    return web.json_response({"error": message, **extra}, status=status)


def request_rejected(gw: Gateway, vendor: str, field_name: str, message: str) -> web.Response:
    """400 for a request nothing could be taken from (a missing query parameter, a body that is
    not JSON): counted as one received, rejected event."""
    gw.sink.received(CHANNEL, vendor)
    gw.sink.outcome(CHANNEL, vendor, "rejected")
    body = _result([], [Rejected(None, field_name, message)], [], 0,
                   error=f"{field_name}: {message}")
    return web.json_response(body, status=400)


@dataclass(frozen=True)
class Rejected:
    """One rejected event in a response; ``index`` is its position in the request, None when the
    whole request was refused."""

    index: int | None  # None: the request as a whole
    field: str
    message: str


@dataclass
class Intake:
    """The events of one request, as the route read them."""

    vendor: str
    source: str  # the route's path, for the dead-letter record's source
    pending: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    dead: list[tuple[bytes, RecordError, str | None]] = field(default_factory=list)
    skipped: int = 0
    _ids: set[tuple[str, str]] = field(default_factory=set)

    def accept(self, index: int, kind: str, record: dict[str, Any]) -> None:
        """Queue event ``index`` of the request, already validated, for producing; an event
        whose kind and id this request gave before is skipped: the worker's dedup would drop
        it, and a 1 MiB Dahua body of 20,000 identical blocks made 20,000 Kafka records."""
        ident = (kind, str(record.get("event_id")))
        if ident in self._ids:
            self.skipped += 1
            return
        self._ids.add(ident)
        self.pending.append((index, kind, record))

    def reject(self, index: int | None, error: RecordError, *, raw: bytes | None = None,
               kind: str | None = None) -> None:
        """A per-event error; ``raw``: the vendor's bytes of that event, kept (sealed) on the
        dead-letter topic so that nothing a device sent is lost."""
        self.rejected.append(Rejected(index, error.field or "body", error.detail))
        if raw is not None:
            self.dead.append((raw, error, kind))

    def kinds(self) -> set[str]:
        """The kinds of the accepted events, for checking the caller may send them all."""
        return {kind for _, kind, _ in self.pending}


@dataclass(frozen=True)
class Settled:
    """What became of a request's events; ``delivered``: indexes Kafka acknowledged."""

    response: web.Response
    delivered: frozenset[int]


async def settle(gw: Gateway, intake: Intake) -> Settled:
    """Produce the accepted events, dead-letter the unreadable pieces, wait for Kafka, answer."""
    sink, vendor = gw.sink, intake.vendor
    loop = asyncio.get_running_loop()
    accepted: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    problem = None
    if intake.pending or intake.dead:
        # list_topics blocks for up to its timeout when the broker is away: off the loop.
        problem = await loop.run_in_executor(None, sink.kafka_problem)
    dead_futures = []
    if intake.dead and problem is None:
        for raw, cause, kind in intake.dead:
            dead_futures.append(asyncio.wrap_future(sink.dead_letter(
                raw, cause, channel=CHANNEL, source=intake.source, source_kind=kind)))
    if intake.pending:
        if problem is not None:
            why = f"Kafka is unavailable ({problem}); nothing was stored, send again later"
            failed = [_failed(i, kind, rec, why) for i, kind, rec in intake.pending]
        else:
            deliveries = await _deliver(gw, [(kind, rec) for _, kind, rec in intake.pending])
            for (i, kind, rec), delivery in zip(intake.pending, deliveries, strict=True):
                if delivery.error is None:
                    accepted.append({"index": i, "kind": kind, "event_id": rec.get("event_id")})
                else:
                    failed.append(_failed(i, kind, rec, f"not stored: {delivery.error}"))
    # A rejected payload the dead-letter topic did not take is answered 503, not 400: told
    # "rejected", a device never sends it again, and its bytes would be lost.
    lost = 0
    if dead_futures:
        done, waiting = await asyncio.wait(dead_futures, timeout=gw.delivery_wait_s)
        lost = len(waiting) + sum(1 for f in done if any(d.error for d in f.result()))
        if lost:
            log.warning("%d rejected %s payload(s) not kept on the dead-letter topic; "
                        "answered 503 so the device sends them again", lost, vendor)
    elif intake.dead:
        lost = len(intake.dead)
        log.warning("%d rejected %s payload(s) not kept on the dead-letter topic (%s); "
                    "answered 503 so the device sends them again", lost, vendor, problem)
    sink.outcome(CHANNEL, vendor, "produced", len(accepted))
    sink.outcome(CHANNEL, vendor, "failed", len(failed))
    sink.outcome(CHANNEL, vendor, "rejected", len(intake.rejected))
    sink.outcome(CHANNEL, vendor, "skipped", intake.skipped)
    error: str | None = None
    if failed:
        status = 503
        error = (f"{len(failed)} event(s) not stored: {failed[0]['message']}" if problem is None
                 else f"Kafka is unavailable ({problem}); nothing was stored, send again later")
    elif lost:
        status = 503
        why = f"Kafka is unavailable ({problem})" if problem is not None else (
            f"no acknowledgement from Kafka within {gw.delivery_wait_s:g} s")
        error = (f"{why}: {lost} rejected payload(s) could not be kept on the dead-letter "
                 f"topic; send again later")
    elif intake.rejected:
        status = 400
        first = intake.rejected[0]
        error = (f"{len(intake.rejected)} event(s) rejected, {len(accepted)} stored; first: "
                 f"{first.field}: {first.message}")
    else:
        status = 202 if accepted else 200
    body = _result(accepted, intake.rejected, failed, intake.skipped, error=error)
    return Settled(web.json_response(body, status=status),
                   frozenset(a["index"] for a in accepted))


async def _deliver(gw: Gateway, records: list[tuple[str, dict[str, Any]]]) -> list[Delivery]:
    """The broker's answer per record; those it did not answer in time count as failed.

    ``asyncio.wait`` rather than ``wait_for``: a timeout must not cancel the sink's future."""
    future = asyncio.wrap_future(gw.sink.produce(records))
    done, _ = await asyncio.wait({future}, timeout=gw.delivery_wait_s)
    if done:
        return future.result()
    why = f"no acknowledgement from Kafka within {gw.delivery_wait_s:g} s"
    return [Delivery("", why) for _ in records]


def _failed(index: int, kind: str, record: Mapping[str, Any], message: str) -> dict[str, Any]:
    return {"index": index, "kind": kind, "event_id": record.get("event_id"), "message": message}


def _result(accepted: list[dict[str, Any]], rejected: Sequence[Rejected],
            failed: list[dict[str, Any]], skipped: int, *, error: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "accepted": accepted,
        "rejected": [{"index": r.index, "field": r.field, "message": r.message}
                     for r in rejected],
        "failed": failed,
        "skipped": skipped,
    }
    if error is not None:
        body["error"] = error
    return body


# -- bodies ----------------------------------------------------------------------------------------


class BodyTooLarge(Exception):
    """The request body is over ``Gateway.max_bytes``."""


class BodyTooSlow(Exception):
    """The request body did not arrive within ``Gateway.body_read_s``."""


def too_slow(gw: Gateway) -> web.Response:
    """The 408 answer for a body that stalled."""
    return error_response(408, f"the body did not arrive within {gw.body_read_s:g} s of the "
                          "headers; send the whole request at once")


def too_large(gw: Gateway) -> web.Response:
    """The 413 answer for a body over HUB_GATEWAY_MAX_BYTES, telling the sender how to fit."""
    return error_response(413, f"the body is over the gateway's limit of {gw.max_bytes} bytes "
                          "(HUB_GATEWAY_MAX_BYTES); send fewer events per request, or events "
                          "without pictures")


def check_length(gw: Gateway, request: web.Request) -> None:
    """Refuse a declared Content-Length over the limit before reading anything."""
    if request.content_length is not None and request.content_length > gw.max_bytes:
        raise BodyTooLarge()


async def read_body(gw: Gateway, request: web.Request) -> bytes:
    """The body, at most ``max_bytes`` and within ``body_read_s``: a chunked body is cut off as
    soon as it passes the size."""
    check_length(gw, request)
    buf = bytearray()
    try:
        async with asyncio.timeout(gw.body_read_s):
            while True:
                chunk = await request.content.read(1 << 16)
                if not chunk:
                    return bytes(buf)
                buf += chunk
                if len(buf) > gw.max_bytes:
                    raise BodyTooLarge()
    except TimeoutError:
        raise BodyTooSlow() from None


class QueryError(Exception):
    """A query parameter a vendor route needs is missing or wrong: 400 naming it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message
