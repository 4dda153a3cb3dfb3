"""The local stack really runs: status, a Kafka round trip, Redis PING, a broker restart."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from hub import stack
from hub.adapters.kafka import Consumer, Producer
from hub.settings import Settings

pytestmark = pytest.mark.integration


def test_status_reports_both_services_ready(stack_settings: Settings) -> None:
    st = stack.status(stack_settings)
    assert st.ready, st.lines()
    assert st.kafka.pid is not None and st.redis.pid is not None
    assert st.kafka.port == stack_settings.kafka_port
    assert str(st.kafka.data_dir).startswith(str(stack_settings.state_dir))


def test_up_is_idempotent(stack_settings: Settings) -> None:
    before = stack.status(stack_settings)
    said: list[str] = []
    after = stack.up(stack_settings, say=said.append)
    assert (after.kafka.pid, after.redis.pid) == (before.kafka.pid, before.redis.pid)
    assert any("already running" in line for line in said), said


def _consume(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> list[tuple]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    got: list[tuple] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            got.append((msg.key(), msg.value(), msg.partition()))
    finally:
        consumer.close()
    return got


def test_produce_consume_round_trip(stack_settings: Settings, fresh_topics) -> None:
    (topic,) = fresh_topics("roundtrip")
    producer = Producer(
        {
            "bootstrap.servers": stack_settings.bootstrap,
            "partitioner": "murmur2_random",  # the partitioner Faust/aiokafka use (docs/faust.md)
            "enable.idempotence": True,
        }
    )
    sent = {(f"site-{i % 3}".encode(), f"v{i}".encode()) for i in range(30)}
    for key, value in sent:
        producer.produce(topic, value=value, key=key)
    assert producer.flush(15) == 0
    got = _consume(stack_settings.bootstrap, topic, len(sent))
    assert {(k, v) for k, v, _ in got} == sent
    # Same key -> same partition: per-site ordering holds.
    by_key: dict[bytes, set[int]] = {}
    for k, _, p in got:
        by_key.setdefault(k, set()).add(p)
    assert all(len(ps) == 1 for ps in by_key.values())


def test_redis_pings(stack_settings: Settings) -> None:
    client = redis.Redis.from_url(stack_settings.redis_url)
    try:
        assert client.ping()
        key = f"test:{uuid.uuid4().hex}"
        client.set(key, "1", ex=30)
        assert client.get(key) == b"1"
    finally:
        client.close()


@pytest.mark.slow
def test_restart_kafka_keeps_data(stack_settings: Settings, fresh_topics) -> None:
    (topic,) = fresh_topics("restart")
    producer = Producer({"bootstrap.servers": stack_settings.bootstrap})
    producer.produce(topic, value=b"before-restart", key=b"k")
    assert producer.flush(15) == 0
    old_pid = stack.status(stack_settings).kafka.pid
    st = stack.restart_kafka(stack_settings)
    assert st.kafka.ready and st.kafka.pid != old_pid
    assert _consume(stack_settings.bootstrap, topic, 1)[0][:2] == (b"k", b"before-restart")
