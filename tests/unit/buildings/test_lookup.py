"""The lookup route with a fake Redis and a fake producer: answers, events, counts."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hub.adapters.kafka import KafkaError
from hub.buildings.mirror import card_json
from hub.codec import load_codec
from hub.core.pseudonym import pseudonymize
from hub.edge import lookup
from hub.edge.api_keys import Caller as GatewayCaller
from hub.edge.sink import EdgeSink
from hub.settings import Settings

#: the gateway's key middleware sets request["caller"] with a str key, as this test's does
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
SETTINGS = Settings()
CARD = {"building_id": "B1", "name": "3号楼", "address": "a", "site_id": "SITE-9",
        "grid_id": "G", "township_code": "T", "district_code": "D", "city_code": "C",
        "police_station_id": None, "grid_worker_id": None, "households": 1, "rental_units": 0,
        "risk_tags": ["group_rental"], "updated_time": 1_746_057_600_000}


@dataclass(frozen=True)
class Caller:
    name: str
    role: str


class FakeRedis:
    def __init__(self, cards: dict[str, str], down: bool = False) -> None:
        self.cards, self.down = cards, down

    async def get(self, key: str) -> bytes | None:
        if self.down:
            raise ConnectionError("Connection refused")
        value = self.cards.get(key)
        return None if value is None else value.encode()

    async def aclose(self) -> None:
        pass


class FakeProducer:
    """Delivers on poll (the sink's thread); fails every message while ``fail`` is set."""

    def __init__(self) -> None:
        self.fail = False
        self.sent: list[dict[str, Any]] = []
        self._pending: list[Any] = []
        self._lock = threading.Lock()

    def produce(self, topic: str, **kw: Any) -> None:
        with self._lock:
            self.sent.append({"topic": topic, **kw})
            self._pending.append(kw["on_delivery"])

    def poll(self, timeout: float = 0) -> int:
        with self._lock:
            pending, self._pending = self._pending, []
        for callback in pending:
            callback(KafkaError(KafkaError._MSG_TIMED_OUT) if self.fail else None, None)
        time.sleep(0.005)
        return len(pending)

    def flush(self, timeout: float = 0) -> int:
        return 0


@pytest.fixture
def sink() -> Any:
    made = EdgeSink(SETTINGS, codec=load_codec(), producer=FakeProducer())  # type: ignore[arg-type]
    yield made
    made.close(timeout=0)


def run(sink: EdgeSink, redis: FakeRedis, body: Callable[[TestClient], Awaitable[None]],
        caller: Caller | None = Caller("张三", "police")) -> None:
    @web.middleware
    async def authenticate(request: web.Request, handler: Any) -> web.StreamResponse:
        if caller is not None:
            request["caller"] = caller
        return await handler(request)

    async def main() -> None:
        app = web.Application(middlewares=[authenticate])
        lookup.setup(app, SETTINGS, sink, redis=redis)
        async with TestClient(TestServer(app)) as client:
            await body(client)

    asyncio.run(main())


def count(sink: EdgeSink, outcome: str) -> float:
    return sink.metrics.lookups.labels(outcome)._value.get()  # type: ignore[attr-defined]


def edge(sink: EdgeSink, outcome: str) -> float:
    return sink.metrics.events.labels("http", "hub-gateway", outcome)._value.get()  # type: ignore[attr-defined]


def wait_for(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_found_answers_the_stored_card_and_queues_a_lookup_event(sink: EdgeSink) -> None:
    stored = card_json(CARD)
    redis = FakeRedis({"hub:building:B1": stored})

    async def body(client: TestClient) -> None:
        resp = await client.get("/v1/buildings/B1?channel=qr_scan")
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
        assert await resp.read() == stored.encode()

    run(sink, redis, body)
    wait_for(lambda: edge(sink, "produced") == 1)
    [sent] = sink.producer.sent  # type: ignore[attr-defined]
    assert sent["topic"] == "hub.src.building_lookup" and sent["key"] == "SITE-9"
    kind, record = sink.codec.decode(sent["value"])
    assert kind == "building_lookup"
    assert record["requester_hash"] == pseudonymize("张三", SETTINGS.pseudonym_key)
    assert "张三".encode() not in sent["value"]
    assert (record["requester_role"], record["channel"], record["site_id"],
            record["building_id"], record["vendor"]) == ("POLICE", "QR_SCAN", "SITE-9", "B1",
                                                         "hub-gateway")
    assert abs(record["event_time"] - time.time() * 1000) < 10_000
    assert count(sink, "found") == 1


def test_each_lookup_is_its_own_event_and_the_channel_defaults_to_api(sink: EdgeSink) -> None:
    redis = FakeRedis({"hub:building:B1": card_json(CARD)})

    async def body(client: TestClient) -> None:
        for _ in range(2):
            assert (await client.get("/v1/buildings/B1")).status == 200

    run(sink, redis, body, caller=GatewayCaller("x", "no-such-role", frozenset({"*"}),
                                                frozenset({"*"})))
    wait_for(lambda: edge(sink, "produced") == 2)
    records = [sink.codec.decode(m["value"])[1] for m in sink.producer.sent]  # type: ignore[attr-defined]
    assert records[0]["event_id"] != records[1]["event_id"]
    assert {(r["channel"], r["requester_role"]) for r in records} == {("API", "UNKNOWN")}


def test_unknown_bad_channel_and_no_caller(sink: EdgeSink) -> None:
    redis = FakeRedis({})

    async def body(client: TestClient) -> None:
        resp = await client.get("/v1/buildings/NOPE")
        assert resp.status == 404
        assert "NOPE" in (await resp.json())["error"]
        resp = await client.get("/v1/buildings/NOPE?channel=SMS")
        assert resp.status == 400
        answer = await resp.json()
        assert answer["parameter"] == "channel" and answer["allowed"] == ["QR_SCAN", "APP", "API"]
        assert "channel='SMS'" in answer["error"]

    run(sink, redis, body)

    async def anonymous(client: TestClient) -> None:
        assert (await client.get("/v1/buildings/NOPE")).status == 401

    run(sink, redis, anonymous, caller=None)

    async def not_allowed(client: TestClient) -> None:
        resp = await client.get("/v1/buildings/NOPE")
        assert resp.status == 403 and "building_lookup" in (await resp.json())["error"]

    run(sink, redis, not_allowed, caller=GatewayCaller("cams", "SYSTEM", frozenset({
        "perimeter_alarm"}), frozenset({"*"})))
    assert count(sink, "unknown") == 1 and sink.producer.sent == []  # type: ignore[attr-defined]


def test_redis_down_is_503(sink: EdgeSink) -> None:
    async def body(client: TestClient) -> None:
        resp = await client.get("/v1/buildings/B1")
        assert resp.status == 503 and resp.headers["Retry-After"] == "1"
        assert "try again" in (await resp.json())["error"]

    run(sink, FakeRedis({}, down=True), body)
    assert count(sink, "unavailable") == 1


def test_a_failed_delivery_is_counted_and_the_card_still_served(sink: EdgeSink) -> None:
    sink.producer.fail = True  # type: ignore[attr-defined]

    async def body(client: TestClient) -> None:
        assert (await client.get("/v1/buildings/B1")).status == 200

    run(sink, FakeRedis({"hub:building:B1": card_json(CARD)}), body)
    wait_for(lambda: edge(sink, "failed") == 1)
    assert edge(sink, "produced") == 0


@pytest.mark.parametrize(("role", "symbol"), [
    ("police", "POLICE"), ("grid-worker", "GRID_WORKER"), ("Grid Worker", "GRID_WORKER"),
    (None, "UNKNOWN"), (3, "UNKNOWN"), ("admin", "UNKNOWN")])
def test_requester_role(role: object, symbol: str) -> None:
    roles = ("POLICE", "GRID_WORKER", "UNKNOWN")
    assert lookup.requester_role(role, roles) == symbol


def test_answer_json_keeps_chinese() -> None:
    assert "3号楼" in json.loads(card_json(CARD))["name"]


def test_the_plate_url_reaches_ids_with_slashes_and_chinese(sink: EdgeSink) -> None:
    from yarl import URL

    from hub.buildings.qr import lookup_url

    building_id = "西湖/3号楼"
    redis = FakeRedis({f"hub:building:{building_id}": card_json({**CARD,
                                                                 "building_id": building_id})})

    async def body(client: TestClient) -> None:
        path = lookup_url("", building_id)
        resp = await client.get(URL(path, encoded=True))
        assert resp.status == 200 and (await resp.json())["building_id"] == building_id

    run(sink, redis, body)
