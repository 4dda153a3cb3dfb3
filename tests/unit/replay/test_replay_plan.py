"""The pure planning of hub replay (hub.replay.replay_plan): pacing with an injected clock,
partition merge order, time shifting, and no Kafka client in sight."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from hub.codec import load_codec
from hub.replay import replay_plan
from hub.replay.replay_plan import (
    Pacer,
    merge_partitions,
    shift_offset,
    shift_times,
)
from hub.settings import REGISTRY_TOPIC
from tests.unit.replay.support import T0, FakeClock, msg


def test_pacer_spaces_messages_by_recorded_time_over_speed() -> None:
    clock = FakeClock()
    pacer = Pacer(4.0, clock=clock, sleep=clock.sleep)
    sent_at = []
    for ts in (T0, T0 + 4_000, T0 + 4_000, T0 + 12_000):
        pacer.wait_for(ts)
        sent_at.append(clock.now - 100.0)
    assert sent_at == [0.0, 1.0, 1.0, 3.0]


def test_pacer_never_goes_back_in_time_for_late_stamps() -> None:
    clock = FakeClock()
    pacer = Pacer(1.0, clock=clock, sleep=clock.sleep)
    for ts in (T0, T0 + 10_000, T0 + 2_000, T0 + 11_000):  # out-of-order arrival
        pacer.wait_for(ts)
    assert clock.now - 100.0 == 11.0
    assert clock.sleeps == [10.0, 1.0]  # the late one went straight after its predecessor


def test_pacer_does_not_wait_when_behind_schedule_or_at_max() -> None:
    clock = FakeClock()
    pacer = Pacer(1.0, clock=clock, sleep=clock.sleep)
    pacer.wait_for(T0)
    clock.now += 5.0  # the producer was slow
    pacer.wait_for(T0 + 2_000)
    assert clock.sleeps == []
    fast = Pacer(None, clock=clock, sleep=clock.sleep)
    for ts in (T0, T0 + 86_400_000):
        fast.wait_for(ts)
    assert clock.sleeps == []
    with pytest.raises(ValueError, match="speed"):
        Pacer(0, clock=clock, sleep=clock.sleep)


def test_merge_keeps_partition_order_and_interleaves_by_timestamp() -> None:
    p0 = [msg(T0 + 5, partition=0), msg(T0 + 1, partition=0), msg(T0 + 9, partition=0)]
    p1 = [msg(T0 + 2, partition=1), msg(T0 + 3, partition=1)]
    merged = merge_partitions([*p0, *p1])  # recorded in fetch batches, partition by partition
    assert [m.partition for m in merged] == [1, 1, 0, 0, 0]
    assert [m for m in merged if m.partition == 0] == p0  # offset order, though ts not monotone


def test_merge_puts_a_registry_card_before_events_of_its_millisecond() -> None:
    """The worker reads the registry to its end before each batch: a card stamped with its
    events' millisecond was in force for them online, so a replay (and `hub correlate` of the
    recording, taken topic by topic) must read it first too."""
    events = [msg(T0, "hub.src.access_swipe"), msg(T0 + 1, "hub.src.access_swipe")]
    cards = [msg(T0 - 1, REGISTRY_TOPIC), msg(T0, REGISTRY_TOPIC)]
    merged = merge_partitions([*events, *cards])
    assert merged == [cards[0], cards[1], events[0], events[1]]


def test_shift_offset_never_stamps_ahead_of_the_wall_clock() -> None:
    first, last, now = T0, T0 + 3_600_000, T0 + 10**9
    assert shift_offset(first, last, now, None) == now - last  # --max: ends at now
    assert shift_offset(first, last, now, 1.0) == now - first  # real time: starts at now
    assert shift_offset(first, last, now, 0.5) == now - first
    off = shift_offset(first, last, now, 4.0)
    assert last + off == now + 900_000  # the last one is sent 15 min from now, stamped so
    for ts in (first, first + 1_000_000, last):  # stamped <= when it is sent
        assert ts + off <= now + (ts - first) / 4.0


def test_shift_times_moves_every_timestamp_field_including_nested() -> None:
    codec = load_codec()
    swipe = {"event_id": "e", "event_time": T0, "site_id": "s", "door_id": "d"}
    assert shift_times(codec.schema("access_swipe"), swipe, 1000)["event_time"] == T0 + 1000
    assert swipe["event_time"] == T0  # not mutated
    building = {"building_id": "b", "updated_time": T0, "households": 3}
    assert shift_times(codec.schema("building_identity"), building, -5)["updated_time"] == T0 - 5
    incident = {
        "incident_id": "i",
        "first_event_time": T0,
        "last_event_time": T0 + 1,
        "emitted_time": T0 + 2,
        "version": 1,
        "evidence": [{"kind": "access_swipe", "event_id": "e", "event_time": T0 + 1}],
        "building": {"building_id": "b", "updated_time": T0 - 9, "households": 1},
    }
    out = shift_times(codec.schema("incident"), incident, 10)
    assert (out["first_event_time"], out["last_event_time"], out["emitted_time"]) == (
        T0 + 10,
        T0 + 11,
        T0 + 12,
    )
    assert out["evidence"][0]["event_time"] == T0 + 11
    assert out["building"]["updated_time"] == T0 + 1
    assert out["version"] == 1
    assert (
        shift_times(codec.schema("incident"), {**incident, "building": None}, 10)["building"]
        is None
    )


def test_the_plan_imports_no_kafka_client_or_avro_library() -> None:
    """The planning stays usable (hub.offline reads recordings with it) without a broker client."""
    tree = ast.parse(Path(replay_plan.__file__).read_text(encoding="utf-8"))
    runtime = {a.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import)
               for a in node.names}
    runtime |= {node.module.split(".")[0] for node in tree.body
                if isinstance(node, ast.ImportFrom) and node.module}
    assert not runtime & {"confluent_kafka", "fastavro", "aiokafka"}
    assert "hub" in runtime  # the check reads real imports
    hub_modules = {node.module for node in tree.body
                   if isinstance(node, ast.ImportFrom) and node.module
                   and node.module.startswith("hub.")}
    assert not hub_modules & {"hub.adapters.kafka", "hub.adapters.kafka.io", "hub.replay.record",
                              "hub.replay.replay"}
