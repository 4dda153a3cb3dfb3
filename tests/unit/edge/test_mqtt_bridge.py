"""``MqttBridge`` with a fake paho client and a sink whose Kafka answers the test controls:
acknowledgements only after Kafka, in arrival order; retries; stop leaves the rest unacked."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.codec import load_codec, parse_object
from hub.edge.mqtt_bridge import BrokerAddress, MqttBridge
from hub.edge.mqtt_subscriptions import parse_subscriptions
from hub.edge.sink import Delivery
from hub.model.errors import ConfigError, RecordError
from hub.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
LINE = (ROOT / "connectors" / "hikvision_isapi" / "fixtures" / "linedetection.xml").read_bytes()
CODEC = load_codec()
SUBS = parse_subscriptions({"subscriptions": [
    {"topic": "t/hik/{site_id}/{device_id}", "format": "hikvision"},
    {"topic": "t/events/{site_id}", "format": "interchange", "kind": "perimeter_alarm"},
]})


class ManualSink:
    """Holds every future until the test answers it; ``auto``: answer at once with ``error``."""

    def __init__(self) -> None:
        self.settings = Settings(pseudonym_key="k")
        self.pending: list[tuple[str, Future[list[Delivery]], int]] = []
        self.auto: str | bool | None = False  # False: manual; None: stored; str: that error
        self.counts: dict[str, int] = {}
        self.produced: list[dict[str, Any]] = []
        self.dead: list[tuple[bytes, RecordError]] = []

    def validate(self, obj: Mapping[str, Any], *, accept: Collection[str] | None = None
                 ) -> tuple[str, dict[str, Any]]:
        return parse_object(obj, pseudonym_key="k", codec=CODEC, accept=accept)

    def _future(self, what: str, n: int) -> Future[list[Delivery]]:
        future: Future[list[Delivery]] = Future()
        if self.auto is False:
            self.pending.append((what, future, n))
        else:
            future.set_result([Delivery(what, self.auto if isinstance(self.auto, str)
                                        else None)] * n)
        return future

    def produce(self, records: Sequence[tuple[str, Mapping[str, Any]]]
                ) -> Future[list[Delivery]]:
        if self.auto is None or self.auto is False:
            self.produced.extend(dict(r) for _, r in records)
        return self._future("records", len(records))

    def dead_letter(self, payload: bytes, error: RecordError, *, channel: str, source: str,
                    source_kind: str | None = None) -> Future[list[Delivery]]:
        assert channel == "mqtt" and source.startswith("t/")
        self.dead.append((payload, error))
        return self._future("dead", 1)

    def answer(self, index: int, error: str | None = None) -> None:
        what, future, n = self.pending.pop(index)
        future.set_result([Delivery(what, error)] * n)

    def received(self, channel: str, vendor: str, n: int = 1) -> None:
        if n > 0:
            self.counts["received"] = self.counts.get("received", 0) + n

    def outcome(self, channel: str, vendor: str, outcome: str, n: int = 1) -> None:
        if n > 0:
            self.counts[outcome] = self.counts.get(outcome, 0) + n

    def reconciles(self) -> bool:
        c = self.counts
        return c.get("received", 0) == sum(c.get(o, 0) for o in
                                           ("produced", "rejected", "skipped", "failed"))


class FakeClient:
    def __init__(self) -> None:
        self.acks: list[tuple[int, int]] = []
        self.disconnected = False
        self.on_connect: Any = None
        self.on_disconnect: Any = None
        self.on_message: Any = None
        self.on_subscribe: Any = None
        self.subscribed: list[Any] = []

    def ack(self, mid: int, qos: int) -> int:
        self.acks.append((mid, qos))
        return 0

    def subscribe(self, topic: Any, qos: int = 0) -> tuple[int, int]:
        self.subscribed.append(topic)
        return 0, 1

    def connect_async(self, host: str, port: int = 1883, keepalive: int = 60) -> None:
        pass

    def loop_start(self) -> None:
        pass

    def loop_stop(self) -> None:
        pass

    def disconnect(self) -> None:
        self.disconnected = True
        self.on_disconnect(self, None, None, 0, None)


@dataclass
class Msg:
    topic: str
    payload: bytes
    mid: int
    qos: int = 1
    retain: bool = False


def bridge(sink: ManualSink, **kw: Any) -> tuple[MqttBridge, FakeClient]:
    client = FakeClient()
    b = MqttBridge(sink.settings, SUBS, sink, client=client, clock=lambda: 1_714_574_500.0,
                   **kw)
    return b, client


def alarm(event_id: str) -> bytes:
    return json.dumps({"event_id": event_id, "vendor": "acme", "device_id": "cam-9",
                       "event_time": 1_714_574_412_000, "zone_id": "z1",
                       "alarm_type": "INTRUSION", "severity": 3}).encode()


def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_subscribes_every_filter_on_connect() -> None:
    _, client = bridge(ManualSink())
    client.on_connect(client, None, None, 0, None)
    assert client.subscribed == [[("t/hik/+/+", 1), ("t/events/+", 1)]]


def test_acknowledged_only_after_kafka_and_in_arrival_order() -> None:
    sink = ManualSink()
    b, client = bridge(sink)
    client.on_message(client, None, Msg("t/hik/S-1/cam-1", LINE, mid=1))
    client.on_message(client, None, Msg("t/events/S-1", alarm("e-2"), mid=2))
    assert client.acks == [] and len(sink.pending) == 2
    sink.answer(1)  # the second message is stored first ...
    assert client.acks == []  # ... but its PUBACK waits for the first
    sink.answer(0)
    assert client.acks == [(1, 1), (2, 1)]
    assert b.metrics.mqtt_acked._value.get() == 2
    assert sink.counts == {"received": 2, "produced": 2}


def test_not_acknowledged_while_kafka_refuses_then_retried() -> None:
    sink = ManualSink()
    sink.auto = "Local: Message timed out"
    b, client = bridge(sink, retry_first_s=0.01, retry_max_s=0.02)
    client.on_message(client, None, Msg("t/events/S-1", alarm("e-3"), mid=7))
    assert wait_for(lambda: b.metrics.mqtt_retries._value.get() >= 3)
    assert client.acks == []
    sink.auto = None  # Kafka is back
    assert wait_for(lambda: client.acks == [(7, 1)])
    assert sink.counts.get("produced") == 1 and "failed" not in sink.counts
    b.stop(timeout=0.1)


def test_stop_leaves_what_kafka_did_not_store_unacknowledged() -> None:
    sink = ManualSink()
    sink.auto = "Local: Message timed out"
    b, client = bridge(sink, retry_first_s=0.01, retry_max_s=0.02)
    client.on_message(client, None, Msg("t/events/S-1", alarm("e-4"), mid=3))
    report = b.stop(timeout=0.2)
    assert client.acks == [] and client.disconnected
    assert (report.unacknowledged, report.unstored_records) == (1, 1)
    assert sink.counts == {"received": 1, "failed": 1}
    client.on_message(client, None, Msg("t/events/S-1", alarm("e-5"), mid=4))  # after stop
    assert sink.counts["received"] == 1 and client.acks == []


def test_stop_waits_for_what_is_in_flight() -> None:
    sink = ManualSink()
    b, client = bridge(sink)
    client.on_message(client, None, Msg("t/events/S-1", alarm("e-6"), mid=5))
    threading.Timer(0.1, sink.answer, args=(0,)).start()
    report = b.stop(timeout=5)
    assert client.acks == [(5, 1)] and report.unacknowledged == 0
    assert sink.reconciles()


def test_unmappable_message_is_acknowledged_once_its_dead_letter_is_stored() -> None:
    sink = ManualSink()
    _, client = bridge(sink)
    client.on_message(client, None, Msg("t/events/S-1", b"{broken", mid=8))
    ((what, _, _),) = sink.pending
    assert what == "dead" and client.acks == []
    sink.answer(0)
    assert client.acks == [(8, 1)]
    ((payload, error),) = sink.dead
    assert payload == b"{broken" and error.reason == "DECODE_ERROR"
    assert sink.counts == {"received": 1, "rejected": 1}


def test_array_stores_the_good_and_dead_letters_the_bad_then_one_ack() -> None:
    sink = ManualSink()
    sink.auto = None
    _, client = bridge(sink)
    payload = b"[" + alarm("e-7") + b", {\"event_id\": \"e-8\"}]"
    client.on_message(client, None, Msg("t/events/S-1", payload, mid=9))
    assert client.acks == [(9, 1)]
    assert [r["event_id"] for r in sink.produced] == ["e-7"]
    assert sink.dead[0][0] == b'{"event_id": "e-8"}'
    assert sink.counts == {"received": 2, "produced": 1, "rejected": 1}


def test_heartbeat_and_qos0_need_no_kafka() -> None:
    sink = ManualSink()
    _, client = bridge(sink)
    beat = (ROOT / "connectors" / "hikvision_isapi" / "fixtures" /
            "videoloss_heartbeat.xml").read_bytes()
    client.on_message(client, None, Msg("t/hik/S-1/cam-1", beat, mid=10))
    assert client.acks == [(10, 1)] and sink.counts == {"received": 1, "skipped": 1}
    client.on_message(client, None, Msg("t/hik/S-1/cam-1", LINE, mid=0, qos=0))
    sink.answer(0)
    assert client.acks == [(10, 1)]  # QoS 0 is never acknowledged


def test_a_retained_copy_is_acknowledged_and_skipped_not_stored_again() -> None:
    """The broker sends a topic's retained message to every new subscription, on every
    reconnect and once per matching filter: an outside probe found one event stored 5 times and
    an unmatched retained status dead-lettered 3 times after two bridge restarts."""
    sink = ManualSink()
    _, client = bridge(sink)
    client.on_message(client, None, Msg("t/events/S-1", alarm("e-r"), mid=21, retain=True))
    assert client.acks == [(21, 1)] and sink.counts == {"received": 1, "skipped": 1}
    client.on_message(client, None, Msg("t/events/S-1", alarm("e-live"), mid=22))
    sink.answer(0)
    assert client.acks == [(21, 1), (22, 1)] and sink.counts["received"] == 2


def test_messages_of_a_lost_connection_are_not_acknowledged_on_the_next() -> None:
    sink = ManualSink()
    _, client = bridge(sink)
    client.on_message(client, None, Msg("t/events/S-1", alarm("e-9"), mid=11))
    client.on_disconnect(client, None, None, 7, None)
    sink.answer(0)
    assert client.acks == []  # the broker resends it; that copy is acknowledged
    assert sink.counts.get("produced") == 1


def test_a_record_kafka_can_never_take_does_not_block_the_rest() -> None:
    sink = ManualSink()
    _, client = bridge(sink)
    client.on_message(client, None, Msg("t/events/S-1", alarm("e-10"), mid=12))
    sink.answer(0, "Broker: Message size too large")
    assert client.acks == [(12, 1)] and sink.counts.get("failed") == 1


@pytest.mark.parametrize(("url", "expect"), [
    ("mqtt://127.0.0.1:1883", ("127.0.0.1", 1883, False, None, None)),
    ("mqtts://u%40x:p%3Aw@broker.example", ("broker.example", 8883, True, "u@x", "p:w")),
    ("tcp://h", ("h", 1883, False, None, None)),
])
def test_broker_urls(url: str, expect: tuple[Any, ...]) -> None:
    a = BrokerAddress.parse(url)
    assert (a.host, a.port, a.tls, a.username, a.password) == expect
    assert "p:w" not in repr(a) and "p:w" not in str(a)


@pytest.mark.parametrize("url", ["http://h", "mqtt://:1883", "mqtt://h:99999"])
def test_bad_broker_urls_name_the_variable(url: str) -> None:
    with pytest.raises(ConfigError, match="HUB_MQTT_URL"):
        BrokerAddress.parse(url)


def test_a_sink_that_raises_neither_kills_the_network_thread_nor_blocks_the_rest() -> None:
    sink = ManualSink()
    sink.auto = None
    _, client = bridge(sink)

    def broken(records: Any) -> Any:
        raise ValueError("cannot encode")

    sink.produce = broken  # type: ignore[method-assign]
    client.on_message(client, None, Msg("t/events/S-1", alarm("e-11"), mid=13))
    assert client.acks == [(13, 1)] and sink.counts == {"received": 1, "failed": 1}


def test_dollar_topics_never_match_a_leading_wildcard() -> None:
    (sub,) = parse_subscriptions({"subscriptions": [{"topic": "#", "format": "interchange"}]})
    assert sub.match("$SYS/broker/uptime") is None
    assert sub.match("a/b") == {}
