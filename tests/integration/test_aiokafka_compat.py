"""Faust's transport (aiokafka) talks to our Kafka 4.x broker: produce, group consume, commit.

Kafka 4.0 dropped old protocol versions (KIP-896); this is the quick, direct check that the
aiokafka we pin still speaks the versions it accepts, for the calls Faust makes for the hub's two
Faust apps (hub/casework, hub/online/analytics_app.py). It does not stand in for them: the hub's
own use (topic creation, tables with changelogs, commits, a kill) is tests/integration/
test_casework.py and test_analytics_live.py. Neither app runs Faust's exactly_once guarantee nor
aiokafka's admin client (Faust creates topics with its own CreateTopics request), so aiokafka's
transactions and AIOKafkaAdminClient are not checked here.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from hub.settings import Settings

pytestmark = pytest.mark.integration


async def _round_trip(bootstrap: str, topic: str) -> tuple[int, dict[int, int]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(12):
            await producer.send_and_wait(topic, f"v{i}".encode(), key=f"site-{i % 4}".encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{topic}-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    got = 0
    try:
        async with asyncio.timeout(30):
            while got < 12:
                batch = await consumer.getmany(timeout_ms=1000)
                got += sum(len(msgs) for msgs in batch.values())
        await consumer.commit()
        committed = {
            tp.partition: (await consumer.committed(tp)) or 0 for tp in consumer.assignment()
        }
    finally:
        await consumer.stop()
    return got, committed


def test_aiokafka_produce_consume_commit(stack_settings: Settings, fresh_topics) -> None:
    (topic,) = fresh_topics("aiokafka")
    got, committed = asyncio.run(_round_trip(stack_settings.bootstrap, topic))
    assert got == 12
    assert sum(committed.values()) == 12
