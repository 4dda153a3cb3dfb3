"""The range reader (hub.adapters.range_reader) against the real broker: it is what fills the
holes Faust leaves, so it must return exactly the records of [start, end), in order, with their
bytes, headers and timestamps, and skip offsets that hold no record (transaction markers)."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from hub.adapters.range_reader import RangeReader
from hub.settings import Settings
from tests.integration.conftest import FreshTopics

pytestmark = pytest.mark.integration


def test_reads_exactly_the_range_with_bytes_headers_and_timestamps(
        stack_settings: Settings, fresh_topics: FreshTopics) -> None:
    [topic] = fresh_topics("range", partitions=2)
    producer = Producer({"bootstrap.servers": stack_settings.bootstrap})
    for i in range(50):
        producer.produce(topic, key=b"k%d" % i, value=b"v%d" % i, partition=1,
                         headers=[("h", b"%d" % i)], timestamp=1_700_000_000_000 + i)
    assert producer.flush(30) == 0
    reader = RangeReader(stack_settings.bootstrap, timeout=30)
    got = reader.read(topic, 1, 7, 19)
    assert [m.offset for m in got] == list(range(7, 19))
    assert [m.value for m in got] == [b"v%d" % i for i in range(7, 19)]
    assert got[0].key == b"k7" and got[0].headers == [("h", b"7")]
    assert got[0].timestamp == pytest.approx(1_700_000_000.007)
    assert reader.read(topic, 0, 0, 5) == []  # an empty partition ends the read, no hang
    assert [m.offset for m in reader.read(topic, 1, 45, 50)] == [45, 46, 47, 48, 49]
    assert reader.ends([(topic, 0), (topic, 1)]) == {(topic, 0): 0, (topic, 1): 50}
    # Where a group starts: its commit, else the log's first offset.
    group = f"{topic}-group"
    committer = Consumer({"bootstrap.servers": stack_settings.bootstrap, "group.id": group,
                          "enable.auto.commit": False})
    try:
        committer.commit(offsets=[TopicPartition(topic, 1, 30)], asynchronous=False)
    finally:
        committer.close()
    assert reader.starts(group, [(topic, 0), (topic, 1)]) == {(topic, 0): 0, (topic, 1): 30}


def test_offsets_of_transaction_markers_hold_no_record_and_are_skipped(
        stack_settings: Settings, fresh_topics: FreshTopics) -> None:
    [topic] = fresh_topics("range-tx", partitions=1)
    producer = Producer({"bootstrap.servers": stack_settings.bootstrap,
                         "transactional.id": f"{topic}-tx"})
    producer.init_transactions(30)
    for batch in range(3):
        producer.begin_transaction()
        for i in range(3):
            producer.produce(topic, value=b"%d-%d" % (batch, i), partition=0)
        producer.commit_transaction(30)
    got = RangeReader(stack_settings.bootstrap, timeout=30).read(topic, 0, 0, 12)
    # 3 records then a commit marker, three times: offsets 3, 7 and 11 hold markers.
    assert [m.offset for m in got] == [0, 1, 2, 4, 5, 6, 8, 9, 10]
    assert [m.value for m in got][3] == b"1-0"
