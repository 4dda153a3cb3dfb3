"""The worker's consumer settings that decide whether a backlog is read without pauses."""

from hub.adapters.kafka.clients import worker_clients
from hub.runtime.pipeline import BATCH_MAX, BATCH_WAIT_S


def _consumer() -> dict[str, object]:
    return worker_clients("127.0.0.1:9092", "hub", "w1", max_record_bytes=1_000_000
                          ).consumer_config


def test_a_full_fetch_queue_postpones_the_next_fetch_for_less_than_a_batch_wait() -> None:
    # librdkafka's default (1,000 ms) left the loop polling an empty queue for up to 0.45 s
    # every few batches of a replayed backlog (BENCHMARKS.md §3, run U).
    backoff = _consumer().get("fetch.queue.backoff.ms")
    assert isinstance(backoff, int), "set fetch.queue.backoff.ms: librdkafka's default is 1 s"
    assert backoff < BATCH_WAIT_S * 1000


def test_a_partition_queue_holds_more_than_one_batch() -> None:
    # Below one batch, every consume would cross the threshold and wait on a fetch.
    queued = _consumer()["queued.min.messages"]
    assert isinstance(queued, int) and queued >= BATCH_MAX
