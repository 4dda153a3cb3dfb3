"""Registry records produced together with events, to a running worker, enrich them as offline.

The worker starts with an empty registry; then one file holding the 楼宇身份证 records followed by
the events is produced, and the routed incidents must equal `hub correlate`'s. Before each batch
the agents wait until every registry record already on the topic is applied
(RegistryReader.sync), so this holds by construction; without that barrier it held here only by
timing (the engines' start-up hold gives the reader time), which this test cannot distinguish.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.settings import Settings
from tests.integration.harness_common import new_app_id
from tests.integration.incident_compare import assert_same_incidents, dead_letter_summary
from tests.integration.scenarios import make_scenario
from tests.integration.topic_reset import reset_topics
from tests.integration.worker_harness import WorkerGroup, flush_and_collect, produce_file

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_registry_and_events_produced_together_route_as_offline(
        stack_settings: Settings, tmp_path: Path) -> None:
    scenario = make_scenario(tmp_path / "scenario", seed=41, buildings=8, days=1,
                             situations_per_rule=2)
    routed = [i for i in scenario.offline.values() if i.get("route")]
    assert len(routed) >= 10  # the property is about routing: most incidents must be routed
    app_id = new_app_id("registry")
    reset_topics(stack_settings, app_id)
    group = WorkerGroup(stack_settings, tmp_path, app_id)
    try:
        group.start("w1")
        group.wait_members(1, timeout=90)
        combined = tmp_path / "combined.jsonl"
        combined.write_text(scenario.registry.read_text() + scenario.events.read_text())
        produce_file(group, combined)
        group.wait_lag_zero(timeout=180)
        incidents, dead = flush_and_collect(group)
        assert_same_incidents(incidents, scenario, dead)
        assert dead_letter_summary(dead) == {}
    finally:
        group.stop_all()
