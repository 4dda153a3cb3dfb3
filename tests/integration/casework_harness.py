"""Helpers for the casework and console tests: a real ``hub casework`` against the real broker.

Incidents and actions are produced as the worker and the console would (Avro single-object,
keyed by incident id, murmur2 partitioner); the casework's clock is driven by the test
(``--clock driven`` and :func:`send_ticks`), so no test sleeps through a deadline.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from hub.casework.service import clock_topic, ensure_clock_topic
from hub.codec import load_codec
from hub.model.cases import Department, IncidentAction
from hub.model.events import Building
from hub.model.incidents import Evidence, Incident, Route
from hub.settings import Settings
from tests.integration.worker_harness import REPO, new_app_id, wait_until

CODEC = load_codec()
MIN = 60_000


def building(bid: str, township: str, district: str = "D-CW-1", grid: str = "G-CW-1",
             city: str = "C-CW") -> Building:
    return Building.from_record({
        "building_id": bid, "name": f"{township} 幸福小区 3 号楼", "site_id": f"S-{bid}",
        "address": "幸福路 1 号", "grid_id": grid, "township_code": township,
        "district_code": district, "city_code": city, "police_station_id": "PS-1",
        "grid_worker_id": "pseudo:5f2a9c", "households": 48, "rental_units": 6,
        "risk_tags": ["rental_dense"], "updated_time": 1_700_000_000_000,
    })


def incident(iid: str, *, risk: str = "HIGH", level: str = "TOWNSHIP", township: str = "T-CW-1",
             emitted: int, version: int = 1, status: str = "CONFIRMED") -> Incident:
    b = building(f"B-{iid[-6:]}", township)
    code = {"GRID": b.grid_id, "TOWNSHIP": township, "DISTRICT": b.district_code,
            "CITY": b.city_code}[level]
    return Incident(iid, version, "perimeter_breach_entry", "sequence", "周界入侵 breach", risk,
                    b.site_id, b.site_id, b.building_id, b.grid_id, emitted - 60_000,
                    emitted - 1_000, (Evidence("perimeter_alarm", f"pa-{iid}", emitted - 60_000),),
                    Route(level, code), False, b, emitted, status=status)


def action(iid: str, what: str, level: str, code: str, t: int, **kw: Any) -> IncidentAction:
    return IncidentAction(f"act-{uuid.uuid4().hex[:12]}", iid, what, "op-test",
                          Department(level, code), t, **kw)


def producer(settings: Settings) -> Producer:
    return Producer({"bootstrap.servers": settings.bootstrap, "partitioner": "murmur2_random",
                     "enable.idempotence": True, "acks": "all"})


def send(settings: Settings, topic: str, items: list[tuple[str | None, bytes]],
         partition: int | None = None) -> None:
    p = producer(settings)
    for key, value in items:
        kw: dict[str, Any] = {} if partition is None else {"partition": partition}
        p.produce(topic, key=None if key is None else key.encode(), value=value, **kw)
    assert p.flush(30) == 0, f"could not deliver to {topic}"


def send_incident(settings: Settings, inc: Incident, topic: str = "hub.incidents") -> bytes:
    value = CODEC.encode("incident", inc.to_record())
    send(settings, topic, [(inc.incident_id, value)])
    return value


def send_action(settings: Settings, act: IncidentAction) -> bytes:
    value = CODEC.encode("incident_action", act.to_record())
    send(settings, "hub.incident.actions", [(act.incident_id, value)])
    return value


def send_ticks(settings: Settings, app_id: str, now_ms: int, partitions: int = 4) -> None:
    """Move the driven clock of casework ``app_id`` to ``now_ms`` on every partition."""
    p = producer(settings)
    for part in range(partitions):
        p.produce(clock_topic(app_id), value=str(now_ms).encode(), partition=part)
    assert p.flush(30) == 0


class TopicReader:
    """Everything on a topic from its start; decoded records accumulate in ``records``."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.consumer = Consumer({"bootstrap.servers": settings.bootstrap,
                                  "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                                  "enable.auto.commit": False})
        parts = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        self.records: list[dict[str, Any]] = []
        self.raw: list[tuple[bytes | None, bytes]] = []

    def poll(self) -> list[dict[str, Any]]:
        for msg in self.consumer.consume(500, timeout=0.5):
            if msg.error() is None and msg.value():
                self.raw.append((msg.key(), msg.value()))
                self.records.append(CODEC.decode(msg.value())[1])
        return self.records

    def wait_for(self, what: str, timeout: float = 60.0, **match: Any) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for r in self.poll():
                if all(r.get(k) == v for k, v in match.items()):
                    return r
            return None
        return wait_until(found, timeout=timeout, what=what)  # type: ignore[no-any-return]

    def matching(self, **match: Any) -> list[dict[str, Any]]:
        return [r for r in self.poll() if all(r.get(k) == v for k, v in match.items())]

    def close(self) -> None:
        self.consumer.close()


@contextmanager
def casework(settings: Settings, tmp: Path, app_id: str | None = None
             ) -> Iterator[dict[str, Any]]:
    """A running ``hub casework --clock driven``; yields {"proc", "app_id", "start"}."""
    app_id = app_id or new_app_id("cw")
    ensure_clock_topic(dataclasses.replace(settings, app_id=app_id))
    env = {**os.environ, "HUB_APP_ID": app_id, "HUB_STATE_DIR": str(tmp / app_id),
           "HUB_BOOTSTRAP": settings.bootstrap}
    log = (tmp / f"{app_id}.log").open("ab")

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "hub", "casework", "--clock", "driven",
                                 "--loglevel", "info"], cwd=REPO, env=env, stdout=log,
                                stderr=subprocess.STDOUT)

    state: dict[str, Any] = {"proc": start(), "app_id": app_id, "start": start,
                             "log": tmp / f"{app_id}.log"}
    try:
        yield state
    finally:
        proc = state["proc"]
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
