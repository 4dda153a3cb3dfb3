"""One engine, two drivers, same answer (issue 3 §7), through the real broker.

A simulated city of more than 10,000 events that exercises every default rule is produced to the
source topics (4 partitions each) and consumed by two ``hub worker`` processes in one group; after
``hub flush`` the last version of every incident must equal ``hub correlate --final`` on the same
file: ids, versions, risk levels, evidence and routes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hub.core.rules import load_rules
from hub.settings import Settings
from tests.integration.worker_harness import (
    Scenario,
    WorkerGroup,
    assert_same_incidents,
    dead_letter_summary,
    flush_and_collect,
    make_scenario,
    new_app_id,
    produce_file,
    reset_topics,
    rules_without,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


#: The cross-site rule: its lane is keyed by credential_hash, so one correlate partition merges
#: access_swipe events from all 4 source partitions, ingested at different paces (by different
#: workers). Each engine keeps one watermark per kind, so the fastest source partition pushes it
#: past the others: in a fast replay thousands of swipes go to hub.deadletter as LATE (8,206 of
#: 12,675 in the run that found it) and cloned_credential incidents are missing. Needs watermarks
#: per (kind, source partition) in that lane (the lead's engine work); until then the full pack is
#: an expected failure (strict: it will say so when fixed) and the rest of the pack must match.
CROSS_PARTITION_RULES = ("cloned_credential",)
LANE_BUG = ("credential lane: one watermark per kind across 4 upstream source partitions turns "
            "a fast replay into LATE dead letters; cloned_credential incidents missing")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return make_scenario(tmp_path_factory.mktemp("scenario"), seed=11, buildings=20, days=2,
                         situations_per_rule=3)


@pytest.fixture(scope="module")
def site_lane_scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scenario, Path]:
    rules = rules_without(tmp_path_factory.mktemp("rules"), CROSS_PARTITION_RULES)
    return make_scenario(tmp_path_factory.mktemp("scenario-site"), seed=11, buildings=20,
                         days=2, situations_per_rule=3, rules_dir=rules), rules


def _group(settings: Settings, tmp: Path, rules_dir: Path | None) -> WorkerGroup:
    app_id = new_app_id("online")
    reset_topics(settings, app_id)
    return WorkerGroup(settings, tmp, app_id, rules_dir=rules_dir)


def test_scenario_exercises_every_rule(scenario: Scenario, stack_settings: Settings) -> None:
    rules = {r.id for r in load_rules(stack_settings.rules_dir).rules}
    assert scenario.events_count >= 10_000
    assert scenario.labelled_rules == rules
    assert {inc["rule_id"] for inc in scenario.offline.values()} == rules


def run_two_workers(group: WorkerGroup, scenario: Scenario) -> None:
    produce_file(group, scenario.registry)
    group.start("w1")
    group.start("w2")
    group.wait_members(2, timeout=90)
    started = time.monotonic()
    produce_file(group, scenario.events)
    group.wait_lag_zero(timeout=240)
    consumed = time.monotonic() - started
    incidents, dead = flush_and_collect(group)
    print(f"\n{scenario.events_count} events consumed by 2 workers in {consumed:.1f}s "
          f"({scenario.events_count / consumed:.0f} ev/s incl. produce); "
          f"{len(incidents)} incident versions, dead letters {dead_letter_summary(dead)}")
    assert_same_incidents(incidents, scenario, dead)
    assert dead_letter_summary(dead) == {}  # offline rejected none


@pytest.mark.xfail(strict=True, reason=LANE_BUG)
def test_two_workers_yield_the_offline_incidents(scenario: Scenario, stack_settings: Settings,
                                                 tmp_path: Path) -> None:
    group = _group(stack_settings, tmp_path, None)
    try:
        run_two_workers(group, scenario)
    finally:
        group.stop_all()


def test_two_workers_yield_the_offline_incidents_of_the_site_lane(
        site_lane_scenario: tuple[Scenario, Path], stack_settings: Settings,
        tmp_path: Path) -> None:
    """Every default rule but the cross-partition one: must match exactly today."""
    scenario, rules = site_lane_scenario
    assert scenario.events_count >= 10_000
    assert len(scenario.offline) >= 20
    group = _group(stack_settings, tmp_path, rules)
    try:
        run_two_workers(group, scenario)
    finally:
        group.stop_all()
