"""`hub analytics --live` publishes the records `hub analytics` computes over files.

A simulated city's building records and grid reports go to their topics, `hub correlate`'s
incidents to hub.incidents; the live driver (a Faust agent, hub/online/analytics_app.py) publishes
on hub.analytics.*; every period, week and day its watermark closed equals the offline driver's
record for it (final warnings only: early ones depend on arrival order by design).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.codec import load_codec, read_jsonl
from hub.core.analytics import load_analytics
from hub.model.events import REGISTRY_KIND
from hub.model.incidents import CONFIRMED, Incident
from hub.offline.analytics import analyse
from hub.offline.inputs import read_input
from hub.settings import ANALYTICS_TOPICS, DEADLETTER_TOPIC, INCIDENTS_TOPIC, Settings
from tests.integration.casework_harness import TopicReader, producer
from tests.integration.harness_common import REPO, wait_until
from tests.integration.topic_reset import exclusive_topics, reset_topics

pytestmark = pytest.mark.timeout(420)
CODEC = load_codec()


def hub(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env=env)


def end_of(rec: dict[str, Any]) -> int:
    return int(rec.get("period_end") or rec.get("day_end") or rec["week_end"])


def comparable(rec: dict[str, Any]) -> tuple[Any, ...]:
    rec = {k: v for k, v in rec.items() if k not in ("emitted_time", "kind")}
    return tuple(sorted((k, str(v)) for k, v in rec.items()))


@pytest.fixture
def own_topics(stack_settings: Settings) -> Iterator[Settings]:
    """reset_topics deletes every hub.* topic: one test at a time on them (topic_reset)."""
    with exclusive_topics(stack_settings):
        reset_topics(stack_settings)
        yield stack_settings


def test_live_equals_offline_on_a_simulated_city(own_topics: Settings, tmp_path: Path) -> None:
    s = own_topics
    env = {**os.environ, "HUB_BOOTSTRAP": s.bootstrap}
    events, incidents = tmp_path / "events.jsonl", tmp_path / "incidents.jsonl"
    assert hub("simulate", "--buildings", "12", "--days", "40", "--seed", "4", "--out",
               str(events)).returncode == 0
    assert hub("correlate", "--in", str(events), "--out", str(incidents)).returncode == 0
    inputs = tmp_path / "inputs.jsonl"  # only what the analytics read, so producing is quick
    with events.open(encoding="utf-8") as fh:
        inputs.write_text("".join(line for line in fh
                                  if '"grid_report"' in line or f'"{REGISTRY_KIND}"' in line))
    done = hub("produce", str(inputs), env=env)
    assert done.returncode == 0, done.stderr
    found = [Incident.from_record(x.record) for x in read_jsonl(
        incidents, pseudonym_key="k", codec=CODEC, accept={"incident"}) if x.record]
    p = producer(s)
    for inc in found:
        p.produce(INCIDENTS_TOPIC, key=inc.incident_id.encode(),
                  value=CODEC.encode("incident", inc.to_record()))
    assert p.flush(30) == 0

    readers = {kind: TopicReader(s, topic) for kind, topic in ANALYTICS_TOPICS.items()}
    dead = TopicReader(s, DEADLETTER_TOPIC)
    live = subprocess.Popen([sys.executable, "-m", "hub", "analytics", "--live"], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        counts: list[int] = []

        def settled() -> bool:
            counts.append(sum(len(r.poll()) for r in readers.values()))
            return len(counts) > 12 and counts[-1] > 0 and counts[-1] == counts[-12]
        wait_until(settled, timeout=240, interval=0.5, what="the live records to settle")
        # A dispute reported now for the city's first day: its periods were published long
        # ago. It must reach hub.deadletter (reason LATE, its coordinates), not only a log line.
        first = next(x.record for x in read_jsonl(inputs, pseudonym_key="k", codec=CODEC,
                                                   accept={"grid_report"}) if x.record)
        late_line = {**first, "kind": "grid_report", "event_id": "late-probe-1",
                     "report_id": "LATE-PROBE-1", "category": "DISPUTE", "status": "REPORTED"}
        late_file = tmp_path / "late.jsonl"
        late_file.write_text(json.dumps(late_line) + "\n")
        assert hub("produce", str(late_file), env=env).returncode == 0
        letter = dead.wait_for("the late report's dead letter", timeout=60,
                               source_topic="hub.src.grid_report", reason="LATE")
        assert letter["source_offset"] >= 0 and b"LATE-PROBE-1" in letter["original_value"]
    finally:
        live.send_signal(signal.SIGTERM)
        out, _ = live.communicate(timeout=30)
    assert live.returncode == 0, out
    assert b"hub analytics --live: stopped after publishing" in out, out

    config = load_analytics(REPO / "topology" / "analytics.yaml")
    offline = analyse(read_input(inputs, pseudonym_key="k", codec=CODEC), found, config)
    newest = max([int(x.record["event_time"]) for x in read_jsonl(
        inputs, pseudonym_key="k", codec=CODEC, accept={"grid_report"}) if x.record]
        + [i.first_event_time for i in found if i.status == CONFIRMED])
    closed = newest - config.lateness_ms
    for kind, records in (("dispute_funnel", offline.disputes), ("risk_warning", [
            w for w in offline.warnings if w.final]), ("safety_index", offline.safety)):
        want = {comparable(r.to_record()) for r in records if end_of(r.to_record()) <= closed}
        got = {comparable(r) for r in readers[kind].records
               if end_of(r) <= closed and r.get("final", True)}
        assert want, f"the offline driver closed no {kind} (the test proves nothing)"
        assert got == want, (kind, len(got), len(want), sorted(got ^ want)[:3])
        print(f"{kind}: {len(want)} records equal online and offline")
    for reader in (*readers.values(), dead):
        reader.close()
