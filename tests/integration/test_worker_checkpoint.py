"""The worker writes its correlation state once its input goes quiet, not only every interval.

A checkpoint commits the correlation topic's offsets with the state that goes with them; until
then a successor would apply those messages again. With ``HUB_CHECKPOINT_SECONDS`` far longer
than the test, the offsets of everything a burst forwarded must still be committed within
seconds of the burst's end: the idle checkpoint (hub/runtime/pipeline.py, IDLE_CHECKPOINT_S).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.contenders import correlate_consumed
from benchmarks.stack import topic_ends
from hub.settings import CORRELATE_TOPIC, Settings
from tests.integration.harness_common import new_app_id, wait_until
from tests.integration.scenarios import fast_rules, write_jsonl
from tests.integration.topic_reset import reset_topics
from tests.integration.worker_harness import WorkerGroup

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T0 = 1_740_960_000_000  # 2025-03-03 08:00 +08:00


def _events(sites: int, per_site: int) -> list[dict[str, Any]]:
    out = []
    for s in range(sites):
        site = f"SITE-CK-{s}"
        for i in range(per_site):
            out.append({
                "kind": "perimeter_alarm", "event_id": f"ck-{s}-{i}", "vendor": "dahua",
                "device_id": f"PA-{site}", "site_id": site, "event_time": T0 + i * 1_000,
                "zone_id": f"Z-{site}", "building_id": None, "alarm_type": "INTRUSION",
                "severity": 4,
            })
    return out


def test_a_quiet_worker_commits_what_it_applied_within_seconds(stack_settings: Settings,
                                                               tmp_path: Path) -> None:
    app_id = new_app_id("checkpoint")
    reset_topics(stack_settings, app_id)
    group = WorkerGroup(stack_settings, tmp_path, app_id, rules_dir=fast_rules(tmp_path / "rules"),
                        extra_env={"HUB_CHECKPOINT_SECONDS": "600"})
    try:
        group.start("w1")
        group.wait_members(1, timeout=60)
        done = group.hub("produce", str(write_jsonl(tmp_path / "burst.jsonl", _events(8, 50))))
        assert done.returncode == 0, done.stdout + done.stderr
        group.wait_lag_zero(timeout=120)
        # every frame the burst caused is on the correlation topic now (ticks come after)
        target = topic_ends(stack_settings, [CORRELATE_TOPIC])
        assert sum(target.values()) > 0
        wait_until(lambda: correlate_consumed(stack_settings, app_id, target), timeout=30,
                   interval=0.5, what="the correlation offsets of the burst committed "
                   "(the checkpoint interval is 600 s)")
        group.assert_alive()
    finally:
        group.stop_all()
