"""``hub mqtt-bridge`` against the stack's real Mosquitto and Kafka: vendor and interchange
payloads land on their topics, unmappable ones on hub.deadletter, raw card numbers nowhere, and a
QoS 1 message Kafka did not store is redelivered to the next bridge of the same session."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry

from connectors.common import Site
from connectors.hikvision_isapi import mapping as hikvision
from hub.adapters.kafka import Consumer, TopicPartition
from hub.codec import load_codec
from hub.edge.mqtt_bridge import BrokerAddress, MqttBridge, make_client
from hub.edge.mqtt_subscriptions import parse_subscriptions
from hub.edge.sink import EdgeSink
from hub.observability.edge_metrics import create_edge
from hub.settings import DEADLETTER_TOPIC, SOURCE_TOPICS, Settings

ROOT = Path(__file__).resolve().parents[2]
HIK = ROOT / "connectors" / "hikvision_isapi" / "fixtures"
CARD = b"3908412345"  # the card number in access_granted_card.xml
CODEC = load_codec()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    bridge: MqttBridge
    sink: EdgeSink
    registry: CollectorRegistry

    def sample(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def prefix() -> str:
    return f"test/{uuid.uuid4().hex[:10]}"


@pytest.fixture
def broker(stack_settings: Settings) -> BrokerAddress:
    return BrokerAddress("127.0.0.1", stack_settings.mqtt_port)


@pytest.fixture
def bridges(stack_settings: Settings, prefix: str, broker: BrokerAddress
            ) -> Iterator[Callable[..., Running]]:
    """Factory of bridges on this test's topics; stopped, and their sessions cleared, after."""
    started: list[Running] = []
    ids: set[str] = set()
    subs = parse_subscriptions({"subscriptions": [
        {"topic": f"{prefix}/hikvision/{{site_id}}/{{device_id}}", "format": "hikvision",
         "building_id": "B-MQTT"},
        {"topic": f"{prefix}/events/{{kind}}/{{site_id}}", "format": "interchange"},
    ], "unmatched": f"{prefix}/#"})

    def start(client_id: str, *, bootstrap: str | None = None, **kw: Any) -> Running:
        settings = stack_settings if bootstrap is None else replace(stack_settings,
                                                                    bootstrap=bootstrap)
        registry = CollectorRegistry()
        metrics = create_edge(registry, mqtt=True)
        sink = EdgeSink(settings, metrics=metrics,
                        delivery_timeout_ms=kw.pop("delivery_timeout_ms", 10_000))
        bridge = MqttBridge(settings, subs, sink, client=make_client(client_id, broker),
                            metrics=metrics, **kw)
        bridge.start(broker)
        running = Running(bridge, sink, registry)
        started.append(running)
        ids.add(client_id)
        assert bridge.wait_subscribed(15), "the bridge did not subscribe within 15 s"
        return running

    yield start
    for running in started:
        running.bridge.stop(timeout=1)
        running.sink.close(2)
    for client_id in ids:  # forget the persistent sessions this test made
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        c.connect(broker.host, broker.port)
        c.loop_start()
        c.disconnect()
        c.loop_stop()


def publish(broker: BrokerAddress, topic: str, payload: bytes) -> None:
    """QoS 1, returns once the broker acknowledged the PUBLISH."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        info = c.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=10)
        assert info.is_published()
    finally:
        c.disconnect()
        c.loop_stop()


class Reader:
    """Reads topics from their end offsets as of its creation (what a test publishes after)."""

    def __init__(self, settings: Settings, topics: list[str]) -> None:
        self.consumer = Consumer({"bootstrap.servers": settings.bootstrap,
                                  "group.id": f"test-mqtt-{uuid.uuid4().hex[:8]}",
                                  "enable.auto.commit": False,
                                  "isolation.level": "read_committed"})
        assign = []
        for topic in topics:
            meta = self.consumer.list_topics(topic, timeout=10)
            for p in meta.topics[topic].partitions:
                _, high = self.consumer.get_watermark_offsets(TopicPartition(topic, p),
                                                              timeout=10)
                assign.append(TopicPartition(topic, p, high))
        self.consumer.assign(assign)

    def until(self, found: Callable[[list[tuple[str, bytes, dict[str, Any]]]], bool],
              timeout: float = 30.0) -> list[tuple[str, bytes, dict[str, Any]]]:
        """(topic, raw value, decoded record) until ``found`` says enough."""
        got: list[tuple[str, bytes, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout
        while not found(got) and time.monotonic() < deadline:
            msg = self.consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            raw = msg.value()
            _, record = CODEC.decode(raw)
            got.append((msg.topic(), raw, record))
        return got

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def reader(stack_settings: Settings) -> Iterator[Reader]:
    r = Reader(stack_settings, [SOURCE_TOPICS["perimeter_alarm"],
                                SOURCE_TOPICS["access_swipe"], DEADLETTER_TOPIC])
    yield r
    r.close()


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def alarm_json(event_id: str) -> bytes:
    return (f'{{"event_id": "{event_id}", "vendor": "acme", "device_id": "cam-9", '
            f'"event_time": {int(time.time() * 1000)}, "zone_id": "z1", '
            '"alarm_type": "INTRUSION", "severity": 3}').encode()


def test_events_land_unmappable_ones_are_dead_lettered_and_metrics_reconcile(
        stack_settings: Settings, bridges: Callable[..., Running], broker: BrokerAddress,
        prefix: str, reader: Reader) -> None:
    running = bridges(f"test-bridge-{uuid.uuid4().hex[:8]}")
    site = f"S-{uuid.uuid4().hex[:6]}"
    line = (HIK / "linedetection.xml").read_bytes()
    expected = hikvision.map_alert(line, site=Site(site), pseudonym_key="unused")
    assert expected is not None
    hik_id = expected.record["event_id"]
    json_id = f"mqtt-{uuid.uuid4().hex}"
    publish(broker, f"{prefix}/hikvision/{site}/cam-1", line)
    publish(broker, f"{prefix}/events/perimeter_alarm/{site}", alarm_json(json_id))
    publish(broker, f"{prefix}/hikvision/{site}/cam-1", (HIK / "wrong_root.xml").read_bytes())
    publish(broker, f"{prefix}/hikvision/{site}/cam-1",
            (HIK / "videoloss_heartbeat.xml").read_bytes())

    def ours(got: list[tuple[str, bytes, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
        return [(t, r) for t, _, r in got
                if r.get("site_id") == site or prefix in str(r.get("source_topic"))]

    got = reader.until(lambda g: len(ours(g)) >= 3)
    mine = ours(got)
    alarms = {r["event_id"]: r for t, r in mine if t == SOURCE_TOPICS["perimeter_alarm"]}
    assert set(alarms) == {hik_id, json_id}
    assert alarms[hik_id]["building_id"] == "B-MQTT"
    (dead,) = [r for t, r in mine if t == DEADLETTER_TOPIC]
    assert dead["reason"] == "DECODE_ERROR" and dead["original_sealed"]
    assert dead["source_topic"] == f"mqtt:{prefix}/hikvision/{site}/cam-1"
    assert "EventNotificationAlert" in dead["detail"]

    assert wait_for(lambda: running.sample("hub_mqtt_acked_total") == 4)
    assert running.sample("hub_mqtt_pending_messages") == 0
    received = sum(running.sample("hub_edge_received_total", channel="mqtt", vendor=v)
                   for v in ("hikvision", "interchange"))
    outcomes = sum(running.sample("hub_edge_events_total", channel="mqtt", vendor=v, outcome=o)
                   for v in ("hikvision", "interchange")
                   for o in ("produced", "rejected", "skipped", "failed"))
    assert received == outcomes == 4
    assert running.sample("hub_edge_events_total", channel="mqtt", vendor="hikvision",
                          outcome="skipped") == 1


def test_a_topic_no_subscription_reads_is_a_dead_letter_naming_it(
        stack_settings: Settings, bridges: Callable[..., Running], broker: BrokerAddress,
        prefix: str, reader: Reader) -> None:
    """A device set up with a misspelt topic is told on hub.deadletter (the ``unmatched:``
    filter), with its payload, instead of the broker delivering its messages to nobody."""
    running = bridges(f"test-bridge-{uuid.uuid4().hex[:8]}")
    topic = f"{prefix}/hikvison/S-1/cam-1"  # sic
    publish(broker, topic, (HIK / "linedetection.xml").read_bytes())
    got = reader.until(lambda g: any(r.get("source_topic") == f"mqtt:{topic}" for _, _, r in g))
    (dead,) = [r for t, _, r in got if r.get("source_topic") == f"mqtt:{topic}"]
    assert dead["reason"] == "UNKNOWN_SCHEMA"
    assert f"no subscription of mqtt.yaml matches topic '{topic}'" in dead["detail"]
    assert wait_for(lambda: running.sample("hub_mqtt_acked_total") == 1)
    assert running.sample("hub_edge_events_total", channel="mqtt", vendor="unrouted",
                          outcome="rejected") == 1


def test_raw_card_numbers_never_reach_a_topic(
        stack_settings: Settings, bridges: Callable[..., Running], broker: BrokerAddress,
        prefix: str, reader: Reader) -> None:
    bridges(f"test-bridge-{uuid.uuid4().hex[:8]}")
    site = f"S-{uuid.uuid4().hex[:6]}"
    granted = (HIK / "access_granted_card.xml").read_bytes()
    assert CARD in granted
    broken = granted.replace(b"<dateTime>", b"<notTheTime>").replace(b"</dateTime>",
                                                                     b"</notTheTime>")
    topic = f"{prefix}/hikvision/{site}/door-1"
    publish(broker, topic, granted)
    publish(broker, topic, broken)

    def ours(got: list[tuple[str, bytes, dict[str, Any]]]) -> list[tuple[str, bytes]]:
        return [(t, raw) for t, raw, r in got
                if r.get("site_id") == site or r.get("source_topic") == f"mqtt:{topic}"]

    got = ours(reader.until(lambda g: len(ours(g)) >= 2))
    assert {t for t, _ in got} == {SOURCE_TOPICS["access_swipe"], DEADLETTER_TOPIC}
    for _, raw in got:
        assert CARD not in raw


def test_qos1_is_not_acknowledged_until_kafka_stored_it(
        stack_settings: Settings, bridges: Callable[..., Running], broker: BrokerAddress,
        prefix: str, reader: Reader) -> None:
    client_id = f"test-bridge-{uuid.uuid4().hex[:8]}"
    site = f"S-{uuid.uuid4().hex[:6]}"
    event_id = f"mqtt-{uuid.uuid4().hex}"
    # 1. Kafka is a port where no broker answers: the message is received, never acknowledged.
    away = bridges(client_id, bootstrap=f"127.0.0.1:{free_port()}", delivery_timeout_ms=1000,
                   retry_first_s=0.2, retry_max_s=0.5)
    publish(broker, f"{prefix}/events/perimeter_alarm/{site}", alarm_json(event_id))
    assert wait_for(lambda: away.sample("hub_mqtt_retries_total") >= 2)
    assert away.sample("hub_edge_received_total", channel="mqtt", vendor="interchange") == 1
    assert away.sample("hub_mqtt_acked_total") == 0
    report = away.bridge.stop(timeout=0.5)
    assert report.unacknowledged == 1
    assert away.sample("hub_edge_events_total", channel="mqtt", vendor="interchange",
                       outcome="failed") == 1
    # 2. The same session with Kafka back: the broker redelivers, the event lands, then the ack.
    back = bridges(client_id)
    got = reader.until(lambda g: any(r.get("event_id") == event_id for _, _, r in g))
    assert [r["site_id"] for _, _, r in got if r.get("event_id") == event_id] == [site]
    assert wait_for(lambda: back.sample("hub_mqtt_acked_total") == 1)
    assert back.sample("hub_mqtt_connects_total", session_present="true") == 1


def test_stack_mosquitto_starts_answers_and_stops_on_its_own_port(tmp_path: Path) -> None:
    """``hub stack``'s broker life cycle on a port and state dir of this test's own (the shared
    stack's broker is left alone); ``down`` stops only what ``up`` started."""
    from hub.stack import StackError, mosquitto, procs

    settings = Settings(state_dir=tmp_path / "state", mqtt_port=free_port())
    said: list[str] = []
    pid = mosquitto.start(settings, said.append)
    try:
        st = mosquitto.status(settings)
        assert (st.pid, st.ready, st.port) == (pid, True, settings.mqtt_port)
        assert mosquitto.accepts(settings)
        assert (tmp_path / "state" / "mosquitto" / "mosquitto.conf").exists()
        with pytest.raises(StackError, match="is taken by"):
            mosquitto.start(settings, said.append)  # the port is ours already: refused
    finally:
        assert mosquitto.stop(settings) == pid
    assert not procs.alive(pid)
    assert mosquitto.status(settings).pid is None and not mosquitto.accepts(settings)
    assert mosquitto.stop(settings) is None
    assert (tmp_path / "state" / "mosquitto" / "data" / "mosquitto.db").exists()
