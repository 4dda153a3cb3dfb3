"""Replaying a recording at ``--max`` yields the same incidents as the original run.

1. The original run: a simulated city (> 10,000 events, every default rule) is produced to the
   source topics and consumed by two ``hub worker`` processes; after ``hub flush`` its incidents
   equal ``hub correlate --final``.
2. ``hub record`` captures the source topics and the building registry from the beginning.
3. Every hub topic is deleted and re-created; a new app id means a new consumer group, changelog
   and Redis dedup namespace: nothing of the first run is left.
4. Two workers of the new app run while ``hub replay FILE --max`` plays the recording back (the
   registry first: it was produced first); ``hub flush``. Every incident (id, version, rule,
   risk, evidence, route) equals the original run's, the same (id, version) pairs were emitted,
   and both equal the offline run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.settings import REGISTRY_TOPIC, SOURCE_TOPICS, Settings
from tests.integration.harness_common import new_app_id
from tests.integration.incident_compare import (
    assert_same_incidents,
    dead_letter_summary,
    describe_diff,
    final_versions,
    incident_view,
)
from tests.integration.scenarios import Scenario, make_scenario
from tests.integration.topic_io import Received
from tests.integration.topic_reset import exclusive_topics, reset_topics
from tests.integration.worker_harness import WorkerGroup, flush_and_collect, produce_file

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return make_scenario(tmp_path_factory.mktemp("scenario"), seed=41, buildings=20, days=2,
                         situations_per_rule=3)


def run_workers(group: WorkerGroup, feed: Callable[[], None]
                ) -> tuple[list[Received], list[Received]]:
    """Start two workers, ``feed`` the topics while they run, flush; incidents and dead letters."""
    try:
        group.start("w1")
        group.start("w2")
        group.wait_members(2, timeout=90)
        feed()
        group.wait_lag_zero(timeout=300)
        return flush_and_collect(group)
    finally:
        group.stop_all()


def versions_of(incidents: list[Received]) -> set[tuple[str, int]]:
    """The CONFIRMED (id, version) pairs: the provisional ones follow how the events were
    batched on arrival, which a replay at full speed changes."""
    return {(r.record["incident_id"], r.record["version"]) for r in incidents
            if r.record and r.record.get("status", "CONFIRMED") == "CONFIRMED"}


def test_replay_at_max_speed_gives_the_original_incidents(
        scenario: Scenario, stack_settings: Settings, tmp_path: Path) -> None:
    assert scenario.events_count >= 10_000
    recording = tmp_path / "recording.avro"
    with exclusive_topics(stack_settings):
        # 1. The original run.
        first = WorkerGroup(stack_settings, tmp_path / "first", new_app_id("orig"))
        first.tmp.mkdir()
        reset_topics(stack_settings, first.app_id)
        produce_file(first, scenario.registry)
        original, dead = run_workers(first, lambda: produce_file(first, scenario.events))
        assert_same_incidents(original, scenario, dead)
        assert dead_letter_summary(dead) == {}

        # 2. Record what flowed into the hub: the source topics and the registry.
        done = first.hub("record", *SOURCE_TOPICS.values(), REGISTRY_TOPIC, "--from-beginning",
                         "--out", str(recording), "--quiet")
        assert done.returncode == 0, done.stdout + done.stderr
        match = re.search(r"recorded ([\d,]+) messages", done.stdout + done.stderr)
        assert match, done.stdout + done.stderr
        registry_lines = len(scenario.registry.read_text().splitlines())
        assert int(match[1].replace(",", "")) == scenario.events_count + registry_lines

        # 3. A clean slate and a new app; 4. replay at full speed, run, flush.
        second = WorkerGroup(stack_settings, tmp_path / "second", new_app_id("replay"))
        second.tmp.mkdir()
        reset_topics(stack_settings, second.app_id)
        took: list[float] = []

        def replay() -> None:
            began = time.monotonic()
            done = second.hub("replay", str(recording), "--max", "--quiet")
            assert done.returncode == 0, done.stdout + done.stderr
            took.append(time.monotonic() - began)

        replayed, dead = run_workers(second, replay)
        replayed_in = took[0]
    print(f"\nrecorded {scenario.events_count + registry_lines} messages, replayed in "
          f"{replayed_in:.1f}s; {len(original)} incident versions originally, {len(replayed)} "
          "after the replay")
    assert dead_letter_summary(dead) == {}
    before = final_versions(r.record for r in original if r.record)
    after = final_versions(r.record for r in replayed if r.record)
    diff = describe_diff(after, before)
    assert not diff, f"replay != original run:\n{diff}"
    assert {i: incident_view(x) for i, x in after.items()} == {
        i: incident_view(x) for i, x in before.items()}
    assert versions_of(replayed) == versions_of(original)
    assert_same_incidents(replayed, scenario, dead)
