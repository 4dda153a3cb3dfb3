"""`hub demo`, the README's first command, end to end on the real stack.

It recreates the hub's topics, runs a worker over samples/scenario.jsonl and scores the
confirmed incidents against the scenario's labels: every default rule's situation found, nothing
else. It also deletes the state topics a reset leaves meaningless (earlier demos' worker
changelogs, the casework's table and clock of the same app id): a `hub casework` started after a
demo kept cases of incidents no topic held any more.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hub.adapters.kafka.admin import admin_client, create_topics
from hub.adapters.topic_specs import load_topic_specs
from hub.settings import Settings
from tests.integration.harness_common import REPO, new_app_id, running_workers
from tests.integration.topic_reset import exclusive_topics

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_hub_demo_finds_every_situation_and_clears_stale_state(
        stack_settings: Settings) -> None:
    app_id = new_app_id("demo")
    stale = [f"{app_id}-demo-1-engine-state-changelog", f"{app_id}-casework-cases-changelog",
             f"{app_id}-casework-clock"]
    kept = f"{app_id}x-demo-1-engine-state-changelog"  # another app id's: not the demo's to drop
    with exclusive_topics(stack_settings):
        assert not running_workers()
        create_topics(admin_client(stack_settings.bootstrap), [*stale, kept], partitions=1)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "hub", "demo"], cwd=REPO, capture_output=True, text=True,
                timeout=300, check=False, env={**os.environ, "HUB_APP_ID": app_id})
            out = done.stdout + done.stderr
            assert done.returncode == 0, out
            lines = out.splitlines()
            declared = len(load_topic_specs(stack_settings.topics_file))
            assert (f"demo: {declared} topics recreated; 3 state topics of earlier runs deleted"
                    in lines), out
            overall = [line.split() for line in lines if line.startswith("overall")]
            assert overall == [["overall", "9", "9", "9", "1.000", "1.000"]], out
            assert any(line.endswith("PROVISIONAL") for line in lines), out  # early alerts shown
            topics = admin_client(stack_settings.bootstrap).list_topics(timeout=10).topics
            assert not set(stale) & set(topics)
            assert kept in topics
        finally:
            topics = admin_client(stack_settings.bootstrap).list_topics(timeout=10).topics
            mine = [t for t in topics if t.startswith(app_id)]
            if mine:
                admin_client(stack_settings.bootstrap).delete_topics(mine)
