"""A fake EdgeSink (the real validator, no Kafka) and a client for the gateway app."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from concurrent.futures import Future
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from hub.codec import Codec, load_codec, parse_object
from hub.edge.api_keys import ApiKeys, add_key, load_keys
from hub.edge.gateway import building_lookup_plugin, make_app
from hub.edge.sink import Delivery
from hub.model.errors import RecordError
from hub.model.events import SOURCE_KINDS
from hub.observability.edge_metrics import EdgeMetrics, create_edge
from hub.settings import Settings

KEY = "unit-pseudonym-key"
ROLES = ("POLICE", "GRID_WORKER", "PROPERTY", "RESIDENT", "VISITOR", "SYSTEM", "UNKNOWN")
T = TypeVar("T")


@cache
def codec() -> Codec:
    return load_codec()


class FakeSink:
    """Records what the gateway produces; ``fail``: a delivery error per message (None: stored);
    ``problem``: what kafka_problem() says."""

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        self.settings = settings
        self.codec = codec()
        self.metrics: EdgeMetrics = create_edge(registry)
        self.produced: list[tuple[str, dict[str, Any]]] = []
        self.dead: list[tuple[bytes, RecordError, str, str | None]] = []
        self.problem: str | None = None
        self.fail: Callable[[str, Mapping[str, Any]], str | None] = lambda kind, rec: None
        #: the dead-letter topic's delivery error (None: kept)
        self.dead_fail: str | None = None
        self.counts: dict[tuple[str, str, str], int] = {}

    def validate(self, obj: Mapping[str, Any], *, accept: Collection[str] | None = None
                 ) -> tuple[str, dict[str, Any]]:
        return parse_object(obj, pseudonym_key=self.settings.pseudonym_key, codec=codec(),
                            accept=accept)

    def produce(self, records: Sequence[tuple[str, Mapping[str, Any]]]
                ) -> Future[list[Delivery]]:
        out = []
        for kind, record in records:
            error = self.fail(kind, record)
            if error is None:
                self.produced.append((kind, dict(record)))
            out.append(Delivery(f"hub.src.{kind}", error))
        done: Future[list[Delivery]] = Future()
        done.set_result(out)
        return done

    def dead_letter(self, payload: bytes, error: RecordError, *, channel: str, source: str,
                    source_kind: str | None = None) -> Future[list[Delivery]]:
        if self.dead_fail is None:
            self.dead.append((payload, error, f"{channel}:{source}", source_kind))
        done: Future[list[Delivery]] = Future()
        done.set_result([Delivery("hub.deadletter", self.dead_fail)])
        return done

    def kafka_problem(self, timeout: float = 2.0) -> str | None:
        return self.problem

    def received(self, channel: str, vendor: str, n: int = 1) -> None:
        if n > 0:
            self.counts[(channel, vendor, "received")] = self.counts.get(
                (channel, vendor, "received"), 0) + n
            self.metrics.received.labels(channel, vendor).inc(n)

    def outcome(self, channel: str, vendor: str, outcome: str, n: int = 1) -> None:
        if n > 0:
            self.counts[(channel, vendor, outcome)] = self.counts.get(
                (channel, vendor, outcome), 0) + n
            self.metrics.events.labels(channel, vendor, outcome).inc(n)

    def reconciles(self, vendor: str) -> bool:
        got = {o: self.counts.get(("http", vendor, o), 0)
               for o in ("received", "produced", "rejected", "skipped", "failed")}
        return got["received"] == sum(v for k, v in got.items() if k != "received")


_KEYS: dict[str, tuple[Path, dict[str, str]]] = {}


def keys(tmp: Path) -> tuple[ApiKeys, dict[str, str]]:
    """Keys: all (everything), cams (perimeter_alarm via hikvision/dahua), interchange-only
    perimeter_alarm (pa), gat (face_match via gat1400)."""
    path = tmp / "keys.yaml"
    made = {
        "all": add_key(path, "all", role="SYSTEM", kinds=["*"], vendors=["*"], roles=ROLES,
                       known_kinds=SOURCE_KINDS),
        "cams": add_key(path, "cams", role="SYSTEM", kinds=["perimeter_alarm"],
                        vendors=["hikvision", "dahua"], roles=ROLES, known_kinds=SOURCE_KINDS),
        "pa": add_key(path, "pa", role="PROPERTY", kinds=["perimeter_alarm"],
                      vendors=["interchange"], roles=ROLES, known_kinds=SOURCE_KINDS),
    }
    return load_keys(path, ROLES, SOURCE_KINDS), made


def gateway_run(tmp: Path, test: Callable[[TestClient[Any, Any], FakeSink, dict[str, str]],
                                          Awaitable[T]], *, plugins: bool = False,
                **settings: Any) -> T:
    """Run ``test(client, sink, keys)`` against a gateway app with a fake sink."""
    conf = dataclasses.replace(Settings(pseudonym_key=KEY), **settings)
    registry = CollectorRegistry()
    sink = FakeSink(conf, registry)
    api_keys, made = keys(tmp)

    async def main() -> T:
        extra = [building_lookup_plugin(conf, sink)] if plugins else []
        app = make_app(conf, sink, api_keys, registry=registry, codec=codec(),
                       plugins=[p for p in extra if p is not None])
        async with TestClient(TestServer(app)) as client:
            return await test(client, sink, made)

    return asyncio.run(main())


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
