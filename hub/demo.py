"""The main job in one command: the whole hub running on this machine, with a bundled scenario.

Brings the local stack up, makes the topics fresh, starts a worker, replays the scenario into the
source topics, prints each incident version as it is published, then ends the input (``hub
flush``) and scores what came out against the scenario's labels. Meant for the local stack only:
it deletes and recreates the hub's topics.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from hub import stack
from hub.adapters.kafka import make_viewer_consumer
from hub.adapters.kafka.admin import admin_client, apply_topics
from hub.adapters.topic_specs import load_topic_specs
from hub.codec import incident_to_json, load_codec
from hub.model.incidents import CONFIRMED, Incident
from hub.observability.kafka_log import kafka_logger
from hub.replay.evaluate import evaluate, format_report, read_incidents, read_labels
from hub.replay.replay import replay_file
from hub.runtime.control import send_flush, wait_caught_up
from hub.settings import INCIDENTS_TOPIC, Settings
from hub.stack.testing import delete_topics

Say = Callable[[str], None]


def reset_topics(settings: Settings, say: Say) -> None:
    """Delete and recreate every topic of topics.yaml, so the demo starts from nothing; also
    delete the state topics that belong to those (earlier demos' worker changelogs, the
    casework's table and clock), or a `hub casework` started after the demo would keep cases of
    incidents that no topic holds any more."""
    specs = load_topic_specs(settings.topics_file)
    names = [s.name for s in specs]
    admin = admin_client(settings.bootstrap)
    existing = admin.list_topics(timeout=10).topics
    stale = sorted(t for t in existing if t.startswith(owned_prefixes(settings.app_id)))
    delete_topics(settings, [n for n in names if n in existing] + stale)
    deadline = time.monotonic() + 60
    while set(names + stale) & set(admin.list_topics(timeout=10).topics):
        if time.monotonic() > deadline:
            raise RuntimeError("topics were not deleted within 60 s; is the broker healthy?")
        time.sleep(0.3)
    for _ in range(20):  # a deleted topic can take a moment to be creatable again
        try:
            apply_topics(admin, specs)
            break
        except Exception:  # retried, then raised below
            time.sleep(0.5)
    else:
        apply_topics(admin, specs)
    say(f"demo: {len(names)} topics recreated" + (
        f"; {len(stale)} state topics of earlier runs deleted" if stale else ""))


def owned_prefixes(app_id: str) -> tuple[str, ...]:
    """Name prefixes of the state topics a reset of the hub's topics leaves meaningless: the
    demo's own workers (a fresh app id per run) and the casework of ``app_id``."""
    return (f"{app_id}-demo-", f"{app_id}-casework")


def _line(inc: Incident) -> str:
    route = f"{inc.route.level} {inc.route.department_id}" if inc.route else "UNROUTED"
    status = "" if inc.status == CONFIRMED else f" {inc.status}"
    return (f"  [{inc.risk_level:<8}] {inc.rule_id:<24} v{inc.version:<2} site {inc.site_id} "
            f"bldg {inc.building_id or '-'} -> {route}  ({len(inc.evidence)} events, "
            f"{inc.incident_id[:16]}…){status}")


def run_demo(settings: Settings, scenario: Path, labels: Path | None, *,
             quiet_seconds: float = 8.0, say: Say = print, verbose: bool = False) -> int:
    """``hub demo`` (see the module doc); 0 when incidents came out, 1 when none did, the replay
    failed or the worker stopped. The stack is left running."""
    say("demo: starting the local stack (Kafka in KRaft mode, Redis) on 127.0.0.1")
    stack.up(settings, say=say)
    reset_topics(settings, say)
    app_id = f"{settings.app_id}-demo-{int(time.time())}"
    settings = replace(settings, app_id=app_id)  # the worker's group, state and dedup namespace
    env = {**os.environ, "HUB_APP_ID": app_id}
    log_path = settings.state_dir / "demo-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    say(f"demo: starting `hub worker` (log: {log_path})")
    with open(log_path, "w", encoding="utf-8") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "hub", "worker", "--worker-id", "demo", "--metrics-port", "0"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    kafka_logger(verbose=verbose, level=logging.CRITICAL)  # librdkafka's lines: -v only
    codec = load_codec(settings.schemas_dir)
    consumer = make_viewer_consumer(settings, f"{app_id}-viewer")
    consumer.subscribe([INCIDENTS_TOPIC])
    latest: dict[str, Incident] = {}
    try:
        # Shifted to now: the scenario's 2025 timestamps would be past the topics' retention.
        summary = replay_file(scenario, settings, shift_to_now=True)
        if not summary.ok:
            say(f"demo: replay failed: {summary.failed} not delivered: {summary.errors[:3]}")
            return 1
        say(f"demo: produced {summary.delivered} messages from {scenario}")
        say("demo: incidents as the worker publishes them:")
        flushed = False
        quiet_since = time.monotonic()
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                say(f"demo: the worker stopped (exit {worker.returncode}); see {log_path}")
                return 1
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None and msg.value():
                _, record = codec.decode(msg.value() or b"")
                inc = Incident.from_record(record)
                say(_line(inc))
                if inc.status == CONFIRMED:  # the early alerts are shown, not scored
                    latest[inc.incident_id] = inc
                quiet_since = time.monotonic()
                continue
            if not flushed and wait_caught_up(settings, timeout=0.1) == 0:
                send_flush(settings)  # end of input: close the last windows
                say("demo: all events consumed; end of input sent (hub flush)")
                flushed = True
                quiet_since = time.monotonic()
            elif flushed and time.monotonic() - quiet_since > quiet_seconds:
                break
    finally:
        consumer.close()
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
    say(f"demo: {len(latest)} incidents")
    if labels is not None and labels.is_file():
        actual = read_incidents(
            [incident_to_json(i, codec=codec) for i in latest.values()], "worker"
        )
        expected = read_labels(labels.read_text(encoding="utf-8").splitlines(), str(labels))
        say(format_report(evaluate(expected, actual)))
    say("demo: the stack keeps running (`hub stack down` stops it); the demo's worker has "
        "stopped: `hub worker` runs one (its /metrics on "
        f"{settings.web_host}:{settings.web_port or 'a port of its own, --metrics-port'})")
    return 0 if latest else 1


__all__ = ["owned_prefixes", "reset_topics", "run_demo"]
