"""The local stack really runs: status, idempotent up, the Redis the hub is pointed at, a broker
restart. (A Kafka round trip through ``hub produce``/``hub consume``, keys on their murmur2
partitions, is test_produce_consume.py::test_produce_then_consume.)"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

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


def test_the_redis_status_reports_is_the_one_the_hub_uses(stack_settings: Settings) -> None:
    """``hub stack status`` names the Redis that HUB_REDIS_URL reaches: same pid, on redis_port,
    loopback only, its data (AOF on) in the state dir, as ``hub stack up`` configured it."""
    done = subprocess.run([sys.executable, "-m", "hub", "stack", "status"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("redis "))
    name, state, _, pid, address, data_dir = line.split()
    assert (name, state) == ("redis", "ready"), line
    assert address == f"127.0.0.1:{stack_settings.redis_port}", line
    assert Path(data_dir) == stack_settings.state_dir / "redis" / "data", line
    client = redis.Redis.from_url(stack_settings.redis_url, decode_responses=True)
    try:
        server = client.info("server")
        assert (server["process_id"], server["tcp_port"]) == (int(pid), stack_settings.redis_port)
        config = {**client.config_get("dir"), **client.config_get("bind"),
                  **client.config_get("appendonly")}
        assert config == {"dir": data_dir, "bind": "127.0.0.1", "appendonly": "yes"}
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
