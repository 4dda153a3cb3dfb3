"""``hub gateway`` against the real broker: what is answered is what is on the topics.

The gateway runs in this process (a thread with its own event loop, a real EdgeSink) on a free
port; one more runs against a port where no broker listens, for the 503s (the shared broker is
never stopped). The schemathesis test drives every documented operation with generated requests
and checks each answer against /openapi.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from prometheus_client import CollectorRegistry
from schemathesis import GenerationMode
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from hub.adapters.kafka import Consumer, TopicPartition
from hub.codec import load_codec
from hub.codec.seal import unseal
from hub.edge.api_keys import add_key, load_keys
from hub.edge.gateway import building_lookup_plugin, make_app
from hub.edge.sink import EdgeSink
from hub.model.events import SOURCE_KINDS
from hub.observability.edge_metrics import create_edge
from hub.settings import DEADLETTER_TOPIC, SOURCE_TOPICS, Settings

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "connectors"
ROLES = ("POLICE", "GRID_WORKER", "PROPERTY", "RESIDENT", "VISITOR", "SYSTEM", "UNKNOWN")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    url: str
    sink: EdgeSink
    keys: dict[str, str]
    stop: Any


def start_gateway(settings: Settings, keys_path: Path, made: dict[str, str]) -> Running:
    registry = CollectorRegistry()
    sink = EdgeSink(settings, metrics=create_edge(registry))
    lookup = building_lookup_plugin(settings, sink)  # as `hub gateway` wires it
    app = make_app(settings, sink, load_keys(keys_path, ROLES, SOURCE_KINDS), registry=registry,
                   codec=sink.codec, plugins=[lookup] if lookup is not None else [])
    port = free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    from aiohttp import web

    runner = web.AppRunner(app)

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)

    def stop() -> None:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        sink.close(5)

    return Running(f"http://127.0.0.1:{port}", sink, made, stop)


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("gateway") / "keys.yaml"
    made = {
        "all": add_key(path, "all", role="SYSTEM", kinds=["*"], vendors=["*"], roles=ROLES,
                       known_kinds=SOURCE_KINDS),
        "cams": add_key(path, "cams", role="SYSTEM", kinds=["perimeter_alarm"],
                        vendors=["hikvision", "dahua"], roles=ROLES, known_kinds=SOURCE_KINDS),
    }
    return path, made


@pytest.fixture(scope="module")
def gateway(stack_settings: Settings, keys_file: tuple[Path, dict[str, str]]
            ) -> Iterator[Running]:
    running = start_gateway(replace(stack_settings, gateway_max_bytes=64 * 1024), *keys_file)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def no_broker_gateway(stack_settings: Settings, keys_file: tuple[Path, dict[str, str]]
                      ) -> Iterator[Running]:
    settings = replace(stack_settings, bootstrap=f"127.0.0.1:{free_port()}")
    running = start_gateway(settings, *keys_file)
    yield running
    running.stop()


# -- reading back ----------------------------------------------------------------------------------


def marks(settings: Settings, topic: str) -> list[TopicPartition]:
    """Each partition's end offset now: what a test produces comes after."""
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": "unused",
                        "enable.auto.commit": False})
    try:
        meta = consumer.list_topics(topic, timeout=10)
        out = []
        for p in meta.topics[topic].partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            out.append(TopicPartition(topic, p, high))
        return out
    finally:
        consumer.close()


def read_since(settings: Settings, since: list[TopicPartition], want: int,
               timeout: float = 20.0) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(kind, record, headers) of every message after ``since``, until ``want`` were read."""
    codec = load_codec(settings.schemas_dir)
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": "unused",
                        "enable.auto.commit": False, "isolation.level": "read_committed"})
    consumer.assign(since)
    out: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < want and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            kind, record = codec.decode(msg.value())
            out.append((kind, record, {"key": msg.key(), "headers": dict(msg.headers() or [])}))
        # anything more that arrived right behind would be a surprise: look briefly
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                out.append((*codec.decode(msg.value()), {"key": msg.key()}))
    finally:
        consumer.close()
    return out


def alarm(event_id: str, **over: Any) -> dict[str, Any]:
    return {"event_id": event_id, "vendor": "acme", "device_id": "fence-7",
            "site_id": "SITE-GW-TEST", "event_time": "2024-05-01T22:40:12+08:00",
            "zone_id": "Z1", "alarm_type": "INTRUSION", "severity": 4, **over}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def mine(rows: list[tuple[str, dict[str, Any], dict[str, Any]]], tag: str
         ) -> list[dict[str, Any]]:
    return [r for _, r, _ in rows if tag in str(r.get("event_id", "")) + str(
        r.get("site_id", ""))]


# -- interchange -----------------------------------------------------------------------------------


def test_202_means_on_the_topic_and_400_keeps_the_valid_ones(
        gateway: Running, stack_settings: Settings) -> None:
    tag = uuid.uuid4().hex[:10]
    topic = SOURCE_TOPICS["perimeter_alarm"]
    since = marks(stack_settings, topic)
    r = requests.post(f"{gateway.url}/v1/events/perimeter_alarm", json=alarm(f"{tag}-a"),
                      headers=bearer(gateway.keys["all"]), timeout=30)
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == [{"index": 0, "kind": "perimeter_alarm",
                                     "event_id": f"{tag}-a"}]
    r = requests.post(f"{gateway.url}/v1/events/perimeter_alarm",
                      json=[alarm(f"{tag}-b"), alarm(f"{tag}-bad", alarm_type="FIRE"),
                            alarm(f"{tag}-c")],
                      headers={"X-API-Key": gateway.keys["all"]}, timeout=30)
    assert r.status_code == 400
    body = r.json()
    assert [a["event_id"] for a in body["accepted"]] == [f"{tag}-b", f"{tag}-c"]
    assert [(x["index"], x["field"]) for x in body["rejected"]] == [(1, "alarm_type")]
    rows = read_since(stack_settings, since, 3)
    got = mine(rows, tag)
    assert sorted(r["event_id"] for r in got) == [f"{tag}-a", f"{tag}-b", f"{tag}-c"]
    assert all(r["event_time"] == 1714574412000 and r["site_id"] == "SITE-GW-TEST"
               for r in got)
    ours = [extra for kind, rec, extra in rows if tag in rec["event_id"]]
    assert all(e["key"] == b"SITE-GW-TEST" and e["headers"]["kind"] == b"perimeter_alarm"
               for e in ours)


def test_401_403_413_store_nothing(gateway: Running, stack_settings: Settings) -> None:
    tag = uuid.uuid4().hex[:10]
    since = marks(stack_settings, SOURCE_TOPICS["face_match"])
    url = f"{gateway.url}/v1/events/face_match"
    match = {"event_id": f"{tag}-f", "vendor": "v", "device_id": "d", "site_id": tag,
             "event_time": 1714574412000, "watchlist_id": "w", "person_id": "P-1",
             "similarity": 0.9}
    assert requests.post(url, json=match, timeout=30).status_code == 401
    assert requests.post(url, json=match, headers=bearer(gateway.keys["all"] + "0"),
                         timeout=30).status_code == 401
    r = requests.post(url, json=match, headers=bearer(gateway.keys["cams"]), timeout=30)
    assert r.status_code == 403 and "face_match" in r.json()["error"]
    big = [dict(match, event_id=f"{tag}-{i}") for i in range(600)]
    r = requests.post(url, json=big, headers=bearer(gateway.keys["all"]), timeout=30)
    assert r.status_code == 413 and "65536" in r.json()["error"]
    assert mine(read_since(stack_settings, since, 1, timeout=3), tag) == []


def test_503_when_no_broker_answers(no_broker_gateway: Running) -> None:
    r = requests.post(f"{no_broker_gateway.url}/v1/events/perimeter_alarm",
                      json=[alarm("x-1"), alarm("x-2")],
                      headers=bearer(no_broker_gateway.keys["all"]), timeout=30)
    assert r.status_code == 503
    body = r.json()
    assert "Kafka" in body["error"] and body["accepted"] == []
    assert [f["event_id"] for f in body["failed"]] == ["x-1", "x-2"]
    health = requests.get(f"{no_broker_gateway.url}/healthz", timeout=30).json()
    assert health["kafka"] != "ok"


# -- vendors ---------------------------------------------------------------------------------------


def test_vendor_payloads_reach_their_topics(gateway: Running, stack_settings: Settings) -> None:
    site = f"SITE-{uuid.uuid4().hex[:10]}"
    topic = SOURCE_TOPICS["perimeter_alarm"]
    since = marks(stack_settings, topic)
    h = bearer(gateway.keys["cams"])
    xml = (FIXTURES / "hikvision_isapi/fixtures/linedetection.xml").read_bytes()
    r = requests.post(f"{gateway.url}/v1/vendors/hikvision/isapi",
                      params={"site_id": site, "building_id": "B-7"},
                      files={"linedetection": ("a.xml", xml, "application/xml"),
                             "linedetectionImage": ("a.jpg", b"\xff\xd8JPEG" * 500,
                                                    "image/jpeg")},
                      headers=h, timeout=30)
    assert r.status_code == 202, r.text
    dahua = ('Code=CrossRegionDetection;action=Start;index=1;data={"EventID":7,"UTC":1714574500,'
             '"Name":"Gate"}\nCode=CrossRegionDetection;action=Stop;index=1;data={"EventID":7,'
             '"UTC":1714574510}')
    r = requests.post(f"{gateway.url}/v1/vendors/dahua/events",
                      params={"site_id": site, "device_id": "dh-cam-1"}, data=dahua,
                      headers=h, timeout=30)
    assert r.status_code == 202, r.text
    assert r.json()["skipped"] == 1 and len(r.json()["accepted"]) == 1
    got = {rec["vendor"]: rec for rec in mine(read_since(stack_settings, since, 2), site)}
    assert set(got) == {"hikvision", "dahua"}
    assert got["hikvision"]["building_id"] == "B-7"
    assert got["hikvision"]["alarm_type"] == "LINE_CROSSING"
    assert got["dahua"]["device_id"] == "dh-cam-1" and got["dahua"]["alarm_type"] == "INTRUSION"

    fm_since = marks(stack_settings, SOURCE_TOPICS["face_match"])
    r = requests.post(f"{gateway.url}/v1/vendors/gat1400/DispositionNotifications",
                      params={"site_id": site},
                      data=(FIXTURES / "gat1400/fixtures/disposition_face_hits.json"
                            ).read_bytes(), headers=bearer(gateway.keys["all"]), timeout=30)
    assert r.status_code == 202, r.text
    n = len(r.json()["accepted"])
    matches = mine(read_since(stack_settings, fm_since, n), site)
    assert len(matches) == n >= 2
    assert all(m["person_hash"].startswith("p1:") for m in matches)
    assert "330102199001011234" not in json.dumps(matches)


def test_billion_laughs_is_400_and_kept_sealed_on_the_dead_letter_topic(
        gateway: Running, stack_settings: Settings) -> None:
    since = marks(stack_settings, DEADLETTER_TOPIC)
    payload = (FIXTURES / "hikvision_isapi/fixtures/billion_laughs.xml").read_bytes()
    started = time.perf_counter()
    r = requests.post(f"{gateway.url}/v1/vendors/hikvision/isapi", params={"site_id": "S"},
                      data=payload, headers=bearer(gateway.keys["cams"]), timeout=30)
    elapsed = time.perf_counter() - started
    assert r.status_code == 400 and elapsed < 1.0  # includes the dead letter's acknowledgement
    assert r.json()["rejected"][0]["field"] == "EventNotificationAlert"
    letters = [rec for kind, rec, _ in read_since(stack_settings, since, 1)
               if rec.get("source_topic") == "http:/v1/vendors/hikvision/isapi"]
    assert letters, "no dead letter from the gateway"
    letter = letters[-1]
    assert letter["reason"] == "DECODE_ERROR" and letter["original_sealed"]
    assert payload not in letter["original_value"]
    assert unseal(letter["original_value"], stack_settings.deadletter_key) == payload


# -- the command -----------------------------------------------------------------------------------


def test_hub_gateway_command_serves(stack_settings: Settings,
                                    keys_file: tuple[Path, dict[str, str]]) -> None:
    path, made = keys_file
    port = free_port()
    env = {**os.environ, "HUB_GATEWAY_KEYS": str(path), "HUB_BOOTSTRAP": stack_settings.bootstrap}
    proc = subprocess.Popen([sys.executable, "-m", "hub", "gateway", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert json.loads(line) == {"gateway": f"http://127.0.0.1:{port}"}, proc.stderr
        url = f"http://127.0.0.1:{port}"
        assert requests.get(f"{url}/healthz", timeout=30).json()["status"] == "ok"
        r = requests.post(f"{url}/v1/events/perimeter_alarm",
                          json=alarm(f"cmd-{uuid.uuid4().hex[:8]}"),
                          headers=bearer(made["all"]), timeout=30)
        assert r.status_code == 202, r.text
        text = requests.get(f"{url}/metrics", timeout=30).text
        assert 'hub_gateway_responses_total{status="202",vendor="interchange"} 1.0' in text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)  # waits, and closes both pipes
        assert proc.returncode == 0


# -- the contract, property-based ------------------------------------------------------------------


def operation_labels() -> list[str]:
    from hub.edge.openapi import document

    doc = document(load_codec())
    if building_lookup_plugin(Settings(), None) is not None:
        doc["paths"]["/v1/buildings/{building_id}"] = {"get": {}}
    # schemathesis leaves out the route that serves the document itself (the unit tests read it)
    return [f"{m.upper()} {p}" for p, item in doc["paths"].items() for m in item
            if p != "/openapi.json"]


@pytest.mark.parametrize("label", operation_labels())
def test_every_answer_matches_the_openapi_document(gateway: Running, label: str) -> None:
    """Generated requests (valid and invalid, GenerationMode.all) for each documented operation:
    no server error, every answer's status and body as the served /openapi.json documents them.
    Bounded: 20 examples per operation and mode, derandomized (the same run every time)."""
    schema = schemathesis.openapi.from_url(f"{gateway.url}/openapi.json")
    operation = next(r.ok() for r in schema.get_all_operations() if r.ok().label == label)
    headers = bearer(gateway.keys["all"])

    # A GET without parameters has nothing to make invalid: positive requests only.
    modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if label.startswith("POST")
                                         else [])
    for mode in modes:
        @given(operation.as_strategy(generation_mode=mode))
        @settings(max_examples=20, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(
                base_url=gateway.url, headers=headers, timeout=30,
                checks=[not_a_server_error, status_code_conformance,
                        response_schema_conformance])

        check()
