"""Faults of the infrastructure while workers consume (docs/operations.md, "Faults and recovery").

* Redis goes down mid-stream: ingest keeps going (dedup says "not a duplicate", counts
  ``hub_redis_errors_total``; the engine's own buffer still drops repeats within the allowed
  lateness), the lag reaches 0 with Redis still down, and after Redis is back and ``hub flush``
  the final incidents equal ``hub correlate --final``. Dedup works again once Redis is back.
* The broker restarts mid-stream (``hub.stack.restart_kafka``): whatever the workers do (recover
  by themselves, or exit 70 so a supervisor restarts them: the test plays the supervisor and
  reports which happened), the final incidents equal the offline run, with no dead letters.

Both take the shared stack away for a few seconds: other sessions' tests see it too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub import stack
from hub.adapters.kafka.admin import admin_client, partition_count
from hub.settings import CORRELATE_TOPIC, SOURCE_TOPICS, Settings
from tests.integration.harness_common import new_app_id, wait_until
from tests.integration.incident_compare import (
    assert_no_version_differs,
    assert_same_incidents,
    dead_letter_summary,
)
from tests.integration.scenarios import Scenario, make_scenario, write_jsonl
from tests.integration.topic_reset import exclusive_topics, reset_topics
from tests.integration.worker_harness import (
    BackgroundProduce,
    WorkerGroup,
    flush_and_collect,
    metric_total,
    produce_file,
    redis_down,
    supervise_until_caught_up,
    wait_lag_zero_or_explain,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return make_scenario(tmp_path_factory.mktemp("scenario"), seed=31, buildings=20, days=2,
                         situations_per_rule=3)


@pytest.fixture
def group(request: pytest.FixtureRequest, stack_settings: Settings,
          tmp_path: Path) -> Iterator[WorkerGroup]:
    app_id = new_app_id(request.node.name.split("_")[1])
    with exclusive_topics(stack_settings):
        reset_topics(stack_settings, app_id)
        g = WorkerGroup(stack_settings, tmp_path, app_id)
        try:
            yield g
        finally:
            g.stop_all()


def start_two(group: WorkerGroup, scenario: Scenario) -> None:
    produce_file(group, scenario.registry)
    group.start("w1")
    group.start("w2")
    group.wait_members(2, timeout=90)


def ingested(group: WorkerGroup) -> float:
    return metric_total(group, "hub_ingest_events_total")


def test_redis_down_mid_stream(scenario: Scenario, group: WorkerGroup) -> None:
    assert scenario.events_count >= 10_000
    start_two(group, scenario)
    with BackgroundProduce(group, scenario.events) as producing:
        wait_until(lambda: ingested(group) >= 2_000, timeout=120,
                   what="2,000 events ingested before Redis stops")
        with redis_down(group.settings):
            at_stop = ingested(group)
            stopped = time.monotonic()
            producing.wait()
            # restarts a worker that exits 70, like a supervisor; on timeout, says what is stuck
            wait_lag_zero_or_explain(group, timeout=240)
            errors = metric_total(group, "hub_redis_errors_total", operation="dedup")
            during = ingested(group) - at_stop
            down_for = time.monotonic() - stopped
    print(f"\nRedis down {down_for:.1f}s; {during:.0f} events ingested meanwhile "
          f"({at_stop:.0f} before), redis errors counted {errors:.0f}")
    assert errors > 0
    assert during >= scenario.events_count - at_stop - 100  # the rest went through while down
    incidents, dead = flush_and_collect(group)
    assert_same_incidents(incidents, scenario, dead)
    # Repeats the Redis dedup missed were dropped by the engines' buffers: none came out LATE.
    assert dead_letter_summary(dead) == {}

    # Redis is back: exact duplicates are dropped at ingest again. 50 events new to the hub (so
    # certainly not in Redis yet), each sent twice: the second copies are counted as duplicates.
    fresh = [json.loads(line) for line in scenario.events.read_text().splitlines()[:50]]
    for rec in fresh:
        rec["event_id"] += "-after-redis"
    before = metric_total(group, "hub_dedup_duplicates_total")
    produce_file(group, write_jsonl(group.tmp / "twice.jsonl", fresh + fresh))
    wait_until(lambda: metric_total(group, "hub_dedup_duplicates_total") >= before + 50,
               timeout=60, what="50 second copies counted as duplicates at ingest")
    group.assert_alive()


def test_broker_restart_mid_stream(scenario: Scenario, group: WorkerGroup) -> None:
    assert scenario.events_count >= 10_000
    start_two(group, scenario)
    with BackgroundProduce(group, scenario.events, delivery_timeout=180) as producing:
        wait_until(lambda: ingested(group) >= 3_000, timeout=120,
                   what="3,000 events ingested before the broker restarts")
        lag_before = group.lag()
        began = time.monotonic()
        stack.restart_kafka(group.settings)
        broker_back = time.monotonic() - began
        producing.wait(timeout=300)
    restarts = supervise_until_caught_up(group, timeout=240)
    caught_up = time.monotonic() - began
    incidents, dead = flush_and_collect(group, restarts=restarts)
    print(f"\nbroker restarted in {broker_back:.1f}s with source lag {lag_before}; caught up "
          f"{caught_up:.1f}s after the restart began; supervisor restarts: "
          + ("none (the workers recovered by themselves)" if not restarts else
             "; ".join(f"{r.worker_id} exit {r.returncode}: {r.reason[-160:]}"
                       for r in restarts)))
    assert_same_incidents(incidents, scenario, dead)
    assert dead_letter_summary(dead) == {}


def test_a_worker_joining_and_leaving_mid_stream(scenario: Scenario, group: WorkerGroup) -> None:
    """A rebalance both ways while events flow: a second worker joins, takes partitions with
    their state, and leaves again (SIGTERM): the incidents are exactly the offline ones, and no
    version is published twice (each gives its partitions up after a checkpoint). The events
    go in three parts: before w2 joins, while both run, and after w2 has left."""
    lines = scenario.events.read_text().splitlines()
    third = len(lines) // 3
    parts = [write_jsonl(group.tmp / f"part{i}.jsonl",
                         [json.loads(line) for line in lines[i * third:(i + 1) * third
                                                              if i < 2 else None]])
             for i in range(3)]
    produce_file(group, scenario.registry)
    group.start("w1")
    group.wait_members(1, timeout=90)
    produce_file(group, parts[0])
    wait_until(lambda: ingested(group) >= 1_000, timeout=120,
               what="1,000 events ingested before w2 joins")
    w2 = group.start("w2")
    group.wait_members(2, timeout=90)
    produce_file(group, parts[1])
    wait_until(lambda: w2.metric_sum("hub_ingest_events_total") > 0, timeout=90,
               what="w2 ingesting its share")
    with BackgroundProduce(group, parts[2]) as producing:
        w2.stop()
        assert w2.proc is not None and w2.proc.returncode == 0, group.logs()
        w2.killed = True  # stopped on purpose
        producing.wait()
    group.wait_members(1, timeout=90)
    wait_lag_zero_or_explain(group, timeout=240)
    incidents, dead = flush_and_collect(group)
    assert_same_incidents(incidents, scenario, dead)
    assert dead_letter_summary(dead) == {}
    # w2 checkpointed its partitions when it gave them up: nothing needed applying again.
    assert assert_no_version_differs(incidents) == 0


def test_a_joining_worker_takes_a_share_of_every_topic(
        scenario: Scenario, group: WorkerGroup) -> None:
    """Scaling out while one worker runs: the newcomer must take half of the correlation
    partitions and half of each source topic's, or one process keeps the engines (the heavy
    part) and the second adds nothing. A topic-blind assignment (cooperative-sticky) handed it
    three whole source topics and kept every correlation partition on the first worker."""
    produce_file(group, scenario.registry)
    group.start("w1")
    group.wait_members(1, timeout=90)
    produce_file(group, scenario.events)
    wait_until(lambda: ingested(group) >= 1_000, timeout=120,
               what="1,000 events ingested before w2 joins")
    group.start("w2")
    topics = [*SOURCE_TOPICS.values(), CORRELATE_TOPIC]
    partitions = {t: partition_count(admin_client(group.settings.bootstrap), t) for t in topics}
    seen: list[list[dict[str, list[int]]]] = []

    def settled() -> bool:
        group.assert_alive()
        members = group.assignments()
        seen.append(members)
        return len(members) == 2 and all(
            sum(len(m.get(t, [])) for m in members) == partitions[t] for t in topics)

    wait_until(settled, timeout=90, interval=0.5, what="two members sharing every partition")
    members = seen[-1]
    print(f"\nassignment after w2 joined: {members}")
    for topic in topics:
        counts = sorted(len(m.get(topic, [])) for m in members)
        assert counts[1] - counts[0] <= partitions[topic] % 2, (topic, members)


def test_sigterm_stops_a_worker_within_5s_with_the_broker_down(
        scenario: Scenario, group: WorkerGroup) -> None:
    produce_file(group, scenario.registry)
    worker = group.start("w1")
    group.wait_members(1, timeout=90)
    stack.stop_kafka(group.settings)
    try:
        time.sleep(3)  # the worker notices: its fetches and commits now fail
        assert worker.alive, group.logs()
        assert worker.proc is not None
        began = time.monotonic()
        worker.proc.send_signal(15)
        worker.proc.wait(timeout=30)
        took = time.monotonic() - began
        worker.killed = True
    finally:
        stack.start_kafka(group.settings)
    print(f"\nSIGTERM with the broker down: exit {worker.proc.returncode} after {took:.1f}s")
    assert took <= 5.0, group.logs()
    assert worker.proc.returncode == 0, group.logs()


def test_a_worker_started_while_the_broker_is_away_waits_then_works(
        scenario: Scenario, group: WorkerGroup) -> None:
    produce_file(group, scenario.registry)
    stack.stop_kafka(group.settings)
    try:
        worker = group.start("w1")
        time.sleep(12)
        assert worker.alive, group.logs()
    finally:
        stack.start_kafka(group.settings)
    log_text = worker.log_path.read_text(errors="replace")
    waits = log_text.count("waiting for Kafka") + log_text.count("not available yet")
    assert 1 <= waits <= 3, f"said {waits} times in 12 s that it waits:\n{group.logs()}"
    group.wait_members(1, timeout=90)
    fresh = [json.loads(line) for line in scenario.events.read_text().splitlines()[:200]]
    produce_file(group, write_jsonl(group.tmp / "after.jsonl", fresh))
    wait_until(lambda: ingested(group) >= 200, timeout=120,
               what="the worker ingesting once the broker is back")
