"""楼宇身份证 against the real Kafka and Redis of ``hub stack up``: ``hub buildings load`` puts
the good rows on hub.registry.building and in Redis, the lookup route answers them and records
each lookup on hub.src.building_lookup with the caller pseudonymized.

Ids are unique per run; the cards are removed afterwards (Redis keys deleted, tombstones on the
compacted registry topic, which every registry reader treats as "left the registry"). Redis
"down" is a URL at a port nothing listens on: the shared Redis is never stopped.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hub.adapters.kafka import Consumer, Producer, TopicPartition
from hub.buildings.mirror import card_json, card_key
from hub.cli import main
from hub.codec import load_codec
from hub.core.pseudonym import pseudonymize
from hub.edge import lookup
from hub.edge.sink import EdgeSink
from hub.settings import REGISTRY_TOPIC, SOURCE_TOPICS, Settings

pytestmark = [pytest.mark.integration,
              pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")]

LOOKUP_TOPIC = SOURCE_TOPICS["building_lookup"]
HEADER = ("building_id,name,address,site_id,grid_id,township_code,district_code,city_code,"
          "police_station_id,grid_worker_id,households,rental_units,risk_tags,updated_time")


@dataclass(frozen=True)
class Caller:
    name: str
    role: str


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ends(settings: Settings, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": "test-buildings"})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10,
                                                  cached=False)[1] for p in parts}
    finally:
        consumer.close()


def read_between(settings: Settings, topic: str, start: dict[int, int],
                 end: dict[int, int]) -> list[Any]:
    """Every message of ``topic`` from ``start`` up to ``end`` (offsets per partition)."""
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": "test-buildings",
                         "enable.auto.commit": False, "enable.partition.eof": False})
    wanted = {p: e for p, e in end.items() if e > start.get(p, 0)}
    consumer.assign([TopicPartition(topic, p, start.get(p, 0)) for p in wanted])
    got: list[Any] = []
    reached: dict[int, int] = {}
    try:
        for _ in range(200):
            if all(reached.get(p, 0) >= e for p, e in wanted.items()):
                break
            for msg in consumer.consume(500, timeout=0.2):
                if msg.error() is None and (msg.offset() or 0) < wanted[msg.partition() or 0]:
                    got.append(msg)
                    reached[msg.partition() or 0] = (msg.offset() or 0) + 1
        return got
    finally:
        consumer.close()


@pytest.fixture
def ids(stack_settings: Settings) -> Iterator[list[str]]:
    run = uuid.uuid4().hex[:8]
    made = [f"TEST-BLDG-{run}-{i}" for i in range(3)]
    yield made
    client = redis.Redis.from_url(stack_settings.redis_url)
    client.delete(*(card_key(b) for b in made))
    client.close()
    producer = Producer({"bootstrap.servers": stack_settings.bootstrap})
    for b in made:
        producer.produce(REGISTRY_TOPIC, key=b, value=None)
    producer.flush(10)


def write_csv(path: Path, ids: list[str]) -> None:
    path.write_text("\n".join([
        HEADER,
        f'{ids[0]},3号楼,"杭州市西湖区 1号, 2单元",SITE-T,GRID-T,330106001,330106,3301,,GW-1,24,3,'
        "group_rental;elderly_alone,2025-05-01T08:00:00+08:00",
        f"{ids[1]},4号楼,addr,SITE-T,GRID-T,330106001,330106,3301,PS-1,,many,0,,",
        f"{ids[2]},5号楼,addr,SITE-T,GRID-T,330106001,330106,3301,PS-1,,12,0,,",
    ]) + "\n", encoding="utf-8")


def test_load_publishes_good_rows_to_kafka_and_redis(stack_settings: Settings, ids: list[str],
                                                     tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cards.csv"
    write_csv(path, ids)
    before = ends(stack_settings, REGISTRY_TOPIC)
    assert main(["buildings", "load", str(path)]) == 1
    out, err = capsys.readouterr()
    assert f"{path}:3: households: 'many' is not a whole number" in err
    assert out.strip() == "published 2, rejected 1, redis: 2 written"

    codec = load_codec(stack_settings.schemas_dir)
    mine = {m.key().decode(): m for m in read_between(
        stack_settings, REGISTRY_TOPIC, before, ends(stack_settings, REGISTRY_TOPIC))
        if m.key() and m.key().decode() in ids}
    assert sorted(mine) == [ids[0], ids[2]]
    client = redis.Redis.from_url(stack_settings.redis_url)
    try:
        for b, msg in mine.items():
            assert dict(msg.headers())["kind"] == b"building_identity"
            kind, record = codec.decode(msg.value())
            assert kind == "building_identity" and record["building_id"] == b
            assert client.get(card_key(b)) == card_json(record).encode()
        assert client.get(card_key(ids[1])) is None
    finally:
        client.close()
    record = codec.decode(mine[ids[0]].value())[1]
    assert record["risk_tags"] == ["group_rental", "elderly_alone"]
    assert record["updated_time"] == 1_746_057_600_000


def test_redis_down_while_loading_is_a_warning(stack_settings: Settings, ids: list[str],
                                              tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cards.jsonl"
    card = {"building_id": ids[0], "name": "n", "address": "a", "site_id": "SITE-T",
            "grid_id": "G", "township_code": "T", "district_code": "D", "city_code": "C",
            "households": 1, "rental_units": 0, "updated_time": 1746057600000}
    path.write_text(json.dumps(card) + "\n", encoding="utf-8")
    url = f"redis://127.0.0.1:{unused_port()}/0"
    assert main(["buildings", "load", str(path), "--redis-url", url]) == 0
    out, err = capsys.readouterr()
    assert "warning: Redis did not take the cards" in err
    assert out.strip() == "published 1, rejected 0, redis: not written"


def lookup_app(settings: Settings, sink: EdgeSink, caller: Caller) -> web.Application:
    @web.middleware
    async def authenticate(request: web.Request, handler: Any) -> web.StreamResponse:
        request["caller"] = caller
        return await handler(request)

    app = web.Application(middlewares=[authenticate])
    lookup.setup(app, settings, sink)
    return app


def test_lookup_answers_the_card_and_records_the_lookup(stack_settings: Settings, ids: list[str],
                                                        tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    path = tmp_path / "cards.csv"
    write_csv(path, ids)
    assert main(["buildings", "load", str(path)]) == 1
    capsys.readouterr()
    caller = Caller(f"王警官-{ids[0]}", "POLICE")
    before = ends(stack_settings, LOOKUP_TOPIC)
    sink = EdgeSink(stack_settings)
    answers: dict[str, Any] = {}

    async def scenario() -> None:
        async with TestClient(TestServer(lookup_app(stack_settings, sink, caller))) as client:
            resp = await client.get(f"/v1/buildings/{ids[0]}", params={"channel": "QR_SCAN"})
            answers["found"] = (resp.status, await resp.json())
            resp = await client.get(f"/v1/buildings/{ids[1]}")
            answers["unknown"] = (resp.status, await resp.json())

    try:
        asyncio.run(scenario())
    finally:
        assert sink.close(timeout=15) == 0
    status, card = answers["found"]
    assert status == 200 and card["building_id"] == ids[0] and card["name"] == "3号楼"
    assert card["risk_tags"] == ["group_rental", "elderly_alone"]
    status, body = answers["unknown"]
    assert status == 404 and ids[1] in body["error"]
    assert sink.metrics.lookups.labels("found")._value.get() == 1  # type: ignore[attr-defined]
    assert sink.metrics.lookups.labels("unknown")._value.get() == 1  # type: ignore[attr-defined]

    codec = load_codec(stack_settings.schemas_dir)
    events = [m for m in read_between(stack_settings, LOOKUP_TOPIC, before,
                                      ends(stack_settings, LOOKUP_TOPIC))
              if ids[0].encode() in m.value()]
    assert len(events) == 1
    assert events[0].key() == b"SITE-T"
    assert caller.name.encode() not in events[0].value()
    kind, event = codec.decode(events[0].value())
    assert kind == "building_lookup"
    assert event["requester_hash"] == pseudonymize(caller.name, stack_settings.pseudonym_key)
    assert (event["channel"], event["requester_role"], event["vendor"]) == (
        "QR_SCAN", "POLICE", "hub-gateway")


def test_lookup_with_redis_down_is_503(stack_settings: Settings) -> None:
    settings = Settings(bootstrap=stack_settings.bootstrap,
                        redis_url=f"redis://127.0.0.1:{unused_port()}/0")
    sink = EdgeSink(settings)
    answers: dict[str, Any] = {}

    async def scenario() -> None:
        app = lookup_app(settings, sink, Caller("someone", "RESIDENT"))
        async with TestClient(TestServer(app)) as client:
            resp = await client.get("/v1/buildings/ANY")
            answers["down"] = (resp.status, await resp.json())

    try:
        asyncio.run(scenario())
    finally:
        sink.close(timeout=5)
    status, body = answers["down"]
    assert status == 503 and "Redis does not answer" in body["error"]
    assert sink.metrics.lookups.labels("unavailable")._value.get() == 1  # type: ignore[attr-defined]
