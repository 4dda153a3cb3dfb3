"""Devices to incident, end to end, as a city would run it.

`hub gateway`, `hub mqtt-bridge` and `hub worker` run as their commands, against the real broker,
Redis and Mosquitto, on freshly reset hub.* topics. A Hikvision line-crossing alarm, then a denied
card swipe at the same 小区 (site), both with event time = now, make a perimeter_breach_entry
incident whether they come over HTTP or over MQTT. The edge's counts reconcile on its /metrics
(received = produced + rejected + skipped + failed, per vendor; answers per status code). Raw card
numbers, id numbers and phone numbers sent through every path, a payload that cannot be read
included, appear on no topic afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.codec.internal import FRAME_HEADER
from hub.runtime.frames import read_frame
from hub.settings import CORRELATE_TOPIC, INCIDENTS_TOPIC, Settings
from tests.integration.harness_common import REPO, free_port, new_app_id, wait_until
from tests.integration.scenarios import write_jsonl
from tests.integration.topic_io import read_to_end, reading
from tests.integration.topic_reset import exclusive_topics, topics_of
from tests.integration.worker_harness import WorkerGroup, single_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HIK = REPO / "connectors" / "hikvision_isapi" / "fixtures"
GAT = REPO / "connectors" / "gat1400" / "fixtures"
RUN = uuid.uuid4().hex[:8]
SITE_HTTP, SITE_MQTT = f"SITE-E2E-H-{RUN}", f"SITE-E2E-M-{RUN}"
CST = timezone(timedelta(hours=8))
FIXTURE_CARD = "3908412345"  # access_denied_invalid_card.xml's cardNo
#: raw personal values that only this run sends (interchange aliases hashed at the edge)
RAW = {"card": f"62220{RUN[:6].encode().hex()[:12]}", "phone": "139" + str(int(RUN, 16))[:8],
       "person": f"ID-RAW-{RUN}", "caller_phone": "137" + str(int(RUN, 16))[-8:]}
GAT_ID_NUMBER = "330102199001011234"  # disposition_face_hits.json's PersonObject.IDNumber


def building(site: str) -> dict[str, Any]:
    return {
        "kind": "building_identity", "building_id": f"B-{site}", "name": f"{site} 1幢",
        "address": "测试路 1 号", "site_id": site, "grid_id": "GRID-330102001-01",
        "township_code": "330102001", "district_code": "330102", "city_code": "330100",
        "police_station_id": "PS-330102001", "grid_worker_id": "GW-330102001-01",
        "households": 40, "rental_units": 4, "risk_tags": [],
        "updated_time": int(time.time() * 1000) - 86_400_000,
    }


def isapi(fixture: str, at: datetime, serial: int | None = None) -> bytes:
    """A fixture alert re-stamped at ``at`` (and a fresh serialNo): a new event each run."""
    text = (HIK / fixture).read_text()
    start = text.index("<dateTime>") + len("<dateTime>")
    end = text.index("</dateTime>")
    text = text[:start] + at.astimezone(CST).isoformat(timespec="seconds") + text[end:]
    if serial is not None:
        start = text.index("<serialNo>") + len("<serialNo>")
        text = text[:start] + str(serial) + text[text.index("</serialNo>"):]
    return text.encode()


@dataclass
class Edge:
    group: WorkerGroup
    gateway_url: str
    gateway_log: Path
    bridge_metrics: str
    bridge_log: Path
    mqtt_port: int
    key: str
    caller_key: str
    prefix: str

    def post(self, path: str, body: bytes, content_type: str, key: str | None = None
             ) -> tuple[int, dict[str, Any]]:
        req = urllib.request.Request(self.gateway_url + path, data=body, method="POST",
                                     headers={"Content-Type": content_type,
                                              "Authorization": f"Bearer {key or self.key}"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def get(self, path: str, key: str | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(self.gateway_url + path,
                                     headers={"Authorization": f"Bearer {key or self.key}"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def publish(self, topic: str, payload: bytes) -> None:
        """QoS 1; returns once Mosquitto acknowledged the PUBLISH."""
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"e2e-pub-{uuid.uuid4().hex[:8]}")
        c.connect("127.0.0.1", self.mqtt_port)
        c.loop_start()
        try:
            info = c.publish(topic, payload, qos=1)
            info.wait_for_publish(timeout=10)
            assert info.is_published()
        finally:
            c.disconnect()
            c.loop_stop()


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", "hub", *args], env=env, cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def edge(stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    tmp = tmp_path_factory.mktemp("edge-e2e")

    def produce_registry(group: WorkerGroup) -> None:
        done = group.hub("produce", str(write_jsonl(
            tmp / "registry.jsonl", [building(SITE_HTTP), building(SITE_MQTT)])))
        assert done.returncode == 0, done.stdout + done.stderr

    keys = tmp / "keys.yaml"
    prefix = f"e2e/{RUN}"
    config = tmp / "mqtt.yaml"
    config.write_text(
        "subscriptions:\n"
        f"  - topic: {prefix}/hikvision/{{site_id}}/{{building_id}}\n    format: hikvision\n"
        f"  - topic: {prefix}/events/{{kind}}/{{site_id}}\n    format: interchange\n")
    with exclusive_topics(stack_settings), \
            single_worker(stack_settings, tmp, new_app_id("edge"),
                          before_start=produce_registry) as group:
        env = {**group.env, "HUB_GATEWAY_KEYS": str(keys),
               "HUB_MQTT_URL": f"mqtt://127.0.0.1:{stack_settings.mqtt_port}"}
        made = {}
        for name, role in (("e2e-devices", "SYSTEM"), (RAW["caller_phone"], "GRID_WORKER")):
            add = subprocess.run([sys.executable, "-m", "hub", "gateway", "--add-key", name,
                                  "--role", role], env=env, cwd=REPO, capture_output=True,
                                 text=True, timeout=60, check=False)
            assert add.returncode == 0, add.stderr
            made[name] = add.stdout.strip().splitlines()[-1]
        port, metrics_port = free_port(), free_port()
        gateway_log, bridge_log = tmp / "gateway.log", tmp / "bridge.log"
        gateway = _start(["gateway", "--port", str(port)], env, gateway_log)
        bridge = _start(["mqtt-bridge", "--config", str(config), "--client-id", f"e2e-{RUN}",
                         "--metrics-port", str(metrics_port)], env, bridge_log)
        try:
            url = f"http://127.0.0.1:{port}"

            def up() -> bool:
                assert gateway.poll() is None, gateway_log.read_text()
                assert bridge.poll() is None, bridge_log.read_text()
                try:
                    urllib.request.urlopen(url + "/healthz", timeout=2).close()
                except OSError:
                    return False
                return "subscribed to" in bridge_log.read_text()
            wait_until(up, timeout=60, what="the gateway answering and the bridge subscribed")
            yield Edge(group, url, gateway_log, f"http://127.0.0.1:{metrics_port}/metrics",
                       bridge_log, stack_settings.mqtt_port, made["e2e-devices"],
                       made[RAW["caller_phone"]], prefix)
        finally:
            _stop(gateway)
            _stop(bridge)


def breach_incident(group: WorkerGroup, site: str, timeout: float = 90) -> dict[str, Any]:
    """The site's CONFIRMED perimeter_breach_entry incident, as the worker published it."""
    def mine(rs: list[Any]) -> list[dict[str, Any]]:
        return [r.record for r in rs if r.record is not None and r.record["site_id"] == site
                and r.record.get("status") == "CONFIRMED"]
    with reading(group.settings, INCIDENTS_TOPIC) as inc:
        got = inc.until(lambda rs: bool(mine(rs)), timeout=timeout,
                        what=f"the perimeter_breach_entry incident of {site}")
    [incident] = mine(got)
    return incident


def test_isapi_alarm_then_denied_swipe_over_http_make_the_incident(edge: Edge) -> None:
    now = datetime.now(UTC)
    query = f"?site_id={SITE_HTTP}&building_id=B-{SITE_HTTP}"
    status, body = edge.post("/v1/vendors/hikvision/isapi" + query,
                             isapi("linedetection.xml", now - timedelta(seconds=20)),
                             "application/xml")
    assert status == 202, body
    status, body = edge.post("/v1/vendors/hikvision/isapi" + query,
                             isapi("access_denied_invalid_card.xml",
                                   now - timedelta(seconds=10), serial=int(RUN, 16) % 100_000),
                             "application/xml")
    assert status == 202, body
    [swipe_id] = [a["event_id"] for a in body["accepted"]]
    incident = breach_incident(edge.group, SITE_HTTP)
    assert incident["rule_id"] == "perimeter_breach_entry"
    assert [e["kind"] for e in incident["evidence"]] == ["perimeter_alarm", "access_swipe"]
    assert incident["evidence"][1]["event_id"] == swipe_id
    assert incident["building_id"] == f"B-{SITE_HTTP}"


def test_the_same_over_mqtt(edge: Edge) -> None:
    now = datetime.now(UTC)
    topic = f"{edge.prefix}/hikvision/{SITE_MQTT}/B-{SITE_MQTT}"
    edge.publish(topic, isapi("linedetection.xml", now - timedelta(seconds=20)))
    edge.publish(topic, isapi("access_denied_invalid_card.xml", now - timedelta(seconds=10),
                              serial=int(RUN, 16) % 100_000 + 1))
    incident = breach_incident(edge.group, SITE_MQTT)
    assert [e["kind"] for e in incident["evidence"]] == ["perimeter_alarm", "access_swipe"]
    assert incident["building_id"] == f"B-{SITE_MQTT}"


def test_raw_personal_values_reach_no_topic_by_any_path(edge: Edge) -> None:
    """Every way in, each with a raw value; then every topic is read to its end and searched."""
    now_ms = int(time.time() * 1000)
    swipe = {"event_id": f"e2e-pii-swipe-{RUN}", "vendor": "e2e", "device_id": "AC-1",
             "site_id": SITE_HTTP, "event_time": now_ms - 5_000,
             "building_id": f"B-{SITE_HTTP}", "door_id": "D-1", "card_no": RAW["card"],
             "method": "CARD", "result": "GRANTED", "direction": "IN"}
    face = {"event_id": f"e2e-pii-face-{RUN}", "vendor": "e2e", "device_id": "CAM-1",
            "site_id": SITE_HTTP, "event_time": now_ms - 5_000, "building_id": None,
            "watchlist_id": "WL-1", "person_id": RAW["person"], "similarity": 0.5}
    status, body = edge.post("/v1/events/access_swipe", json.dumps(swipe).encode(),
                             "application/json")
    assert status == 202, body
    status, body = edge.post("/v1/events/face_match", json.dumps(face).encode(),
                             "application/json")
    assert status == 202, body
    status, body = edge.post(f"/v1/vendors/gat1400/DispositionNotifications?site_id={SITE_HTTP}",
                             (GAT / "disposition_face_hits.json").read_bytes(),
                             "application/json")
    assert status in (202, 400) and body["accepted"], body
    # unreadable, with a raw card number inside: kept sealed on hub.deadletter
    truncated = isapi("access_denied_invalid_card.xml", datetime.now(UTC))[:-40]
    status, body = edge.post(f"/v1/vendors/hikvision/isapi?site_id={SITE_HTTP}", truncated,
                             "application/xml")
    assert status == 400, body
    # a lookup by a caller whose name is a phone number: the requester is pseudonymized
    status, card = edge.get(f"/v1/buildings/B-{SITE_HTTP}?channel=QR_SCAN", edge.caller_key)
    assert status == 200 and json.loads(card)["site_id"] == SITE_HTTP, card
    # over MQTT: an interchange swipe with a raw card, and the ISAPI one again
    mqtt_swipe = {**swipe, "event_id": f"e2e-pii-mqtt-{RUN}", "site_id": SITE_MQTT,
                  "building_id": f"B-{SITE_MQTT}"}
    edge.publish(f"{edge.prefix}/events/access_swipe/{SITE_MQTT}", json.dumps(mqtt_swipe).encode())
    edge.publish(f"{edge.prefix}/hikvision/{SITE_MQTT}/B-{SITE_MQTT}", truncated)

    settings = edge.group.settings

    def stored() -> bool:
        ids = {r.record.get("event_id") for r in read_to_end(
            settings, ["hub.src.access_swipe"]) if r.record}
        return {swipe["event_id"], mqtt_swipe["event_id"]} <= ids
    wait_until(stored, timeout=30, what="both raw-card swipes stored")
    edge.group.wait_lag_zero(timeout=120)  # the worker forwarded them too

    everything = read_to_end(settings, topics_of(settings, edge.group.app_id))
    assert {r.topic for r in everything} >= {"hub.src.access_swipe", "hub.src.face_match",
                                             "hub.src.building_lookup", "hub.deadletter",
                                             CORRELATE_TOPIC}
    needles = {name: value.encode() for name, value in
               {**RAW, "fixture card": FIXTURE_CARD, "GA/T 1400 id": GAT_ID_NUMBER}.items()}

    def texts(r: Any) -> list[bytes]:
        out = [r.value or b"", r.key or b"", *(v or b"" for v in r.headers.values())]
        if r.topic == CORRELATE_TOPIC and FRAME_HEADER in r.headers:  # compressed frames
            out += [json.dumps(e.fields, ensure_ascii=False).encode()
                    for e in read_frame(r.value)]
        return out
    # The search sees what it searches: the runs' own event ids are found where they travel,
    # the correlation topic's compressed frames included.
    seen = {r.topic for r in everything for blob in texts(r)
            if swipe["event_id"].encode() in blob or mqtt_swipe["event_id"].encode() in blob}
    assert {"hub.src.access_swipe", CORRELATE_TOPIC} <= seen, seen
    leaks = sorted({(name, r.topic) for r in everything for blob in texts(r)
                    for name, needle in needles.items() if needle in blob})
    assert not leaks, f"raw personal values found: {leaks}"
    dead = [r.record for r in everything if r.topic == "hub.deadletter" and r.record
            and str(r.record.get("source_topic", "")).startswith(("http:", "mqtt:"))]
    assert len(dead) >= 2 and all(d["original_sealed"] for d in dead), dead


def test_edge_counts_reconcile_per_vendor_and_status(edge: Edge) -> None:
    # its own traffic, so that it does not lean on the tests before it: a stored alarm, a
    # heartbeat (nothing to store) and an unreadable alert, over HTTP and over MQTT
    alarm = isapi("linedetection.xml", datetime.now(UTC) - timedelta(hours=1))
    heartbeat = (HIK / "videoloss_heartbeat.xml").read_bytes()
    broken = alarm[:-40]
    query = f"?site_id={SITE_HTTP}"
    answers = [edge.post("/v1/vendors/hikvision/isapi" + query, body, "application/xml")[0]
               for body in (alarm, heartbeat, broken)]
    assert answers == [202, 200, 400], answers
    for body in (alarm, heartbeat, broken):
        edge.publish(f"{edge.prefix}/hikvision/{SITE_MQTT}/B-{SITE_MQTT}", body)

    def counts(samples: dict[str, float], channel: str) -> dict[str, tuple[float, float]]:
        """vendor -> (received, outcomes) on ``channel``."""
        received = {k.split('vendor="')[1].split('"')[0]: v for k, v in samples.items()
                    if k.startswith("hub_edge_received_total{") and f'channel="{channel}"' in k}
        return {vendor: (n, sum(v for k, v in samples.items()
                                if k.startswith("hub_edge_events_total{")
                                and f'channel="{channel}"' in k and f'vendor="{vendor}"' in k))
                for vendor, n in received.items()}

    def settled() -> bool:
        """The bridge has counted the three alerts, and each has its outcome: an MQTT
        message's outcome is counted when Kafka acknowledges it, a moment after its receipt."""
        got = counts(scrape(edge.bridge_metrics), "mqtt")
        return got.get("hikvision", (0, 0))[0] >= 3 and all(r == o for r, o in got.values())
    wait_until(settled, timeout=30, what="the bridge counting the three alerts and outcomes")
    gateway = scrape(edge.gateway_url + "/metrics")
    bridge = scrape(edge.bridge_metrics)
    for samples, channel in ((gateway, "http"), (bridge, "mqtt")):
        got = counts(samples, channel)
        assert got.get("hikvision", (0, 0))[0] >= 3, (channel, got)
        for vendor, (n, outcomes) in got.items():
            assert outcomes == n, (channel, vendor, n, outcomes)
        rejected = sum(v for k, v in samples.items() if k.startswith("hub_edge_events_total{")
                       and f'channel="{channel}"' in k and 'vendor="hikvision"' in k
                       and 'outcome="rejected"' in k)
        assert rejected >= 1, (channel, "the truncated alert counts as rejected")
    statuses = {k.split('status="')[1].split('"')[0]: v for k, v in gateway.items()
                if k.startswith("hub_gateway_responses_total{") and 'vendor="hikvision"' in k}
    assert statuses.get("202", 0) >= 2 and statuses.get("400", 0) >= 1, statuses

