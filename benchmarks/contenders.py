"""One contender of worker_bench through the real broker: the preloaded scenario, its processes
(`hub worker`, the raw confluent-kafka loop or the naive Faust agent) under a fresh app id, the
lag polled until it is 0, the figures of the run, and for the hub the incidents against offline.

Apart from the CLI and its report (benchmarks/worker_bench.py) because flood_bench runs the same
contenders over its own preload.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.incidents import IncidentReader, describe_diff, final_versions, incident_view
from benchmarks.py_spy import hot_spots, start_py_spy
from benchmarks.stack import (
    APP_PREFIX,
    REPO,
    commit_at_end,
    committed_offsets,
    cpu_seconds,
    foreign_users,
    records_between,
    rss_bytes,
    stack_env,
    topic_ends,
)
from hub.malloc_policy import child_environment
from hub.runtime.control import group_lag
from hub.settings import CORRELATE_TOPIC, INCIDENTS_TOPIC, SOURCE_TOPICS, Settings
from hub.stack.kafka import KafkaPaths
from hub.stack.procs import read_pid

SOURCE_LIST = list(SOURCE_TOPICS.values())
#: The raw loop's output: a benchmark-only topic (removed with the other hubbench-* topics).
RAW_TOPIC = f"{APP_PREFIX}raw-out"
CONTENDERS = ("hub", "raw", "naive")


# -- scenario ---------------------------------------------------------------------------------


def make_preload(tmp: Path, args: argparse.Namespace) -> tuple[Path, int]:
    """Registry lines plus the first ``args.events`` source events of a simulated scenario."""
    if args.path is None:
        sim = tmp / "sim.jsonl"
        subprocess.run([sys.executable, "-m", "hub", "simulate", "--seed", str(args.seed),
                        "--buildings", str(args.buildings), "--days", str(args.days),
                        "--out", str(sim)], check=True, cwd=REPO, capture_output=True)
    else:
        sim = args.path
    out = tmp / "preload.jsonl"
    n = 0
    with open(sim, encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
        for line in src:
            if '"kind":"building_identity"' in line.replace(" ", ""):
                dst.write(line)
            elif n < args.events:
                dst.write(line)
                n += 1
    return out, n


# -- one contender ----------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    contender: str
    procs: int
    events: int
    sustained_s: float = float("nan")
    startup_s: float = float("nan")
    total_s: float = float("nan")
    cpu_s: float = 0.0
    #: the broker's CPU seconds over the run (its JVM; NaN when its pid is not known), which
    #: shares the machine with the workers: what a second worker process has left to use
    broker_cpu_s: float = float("nan")
    load1: float = 0.0
    done: bool = False
    foreign: bool = False
    note: str = ""
    #: seconds the source lag took to fall from 90 % to 10 % of the events (steady_rate)
    steady_s: float = float("nan")
    #: the largest correlation-topic lag (records) seen while the source lag fell (hub only)
    corr_lag_max: int = 0
    #: the largest RSS of one worker process seen while it ran (MB), sampled with the lag
    rss_peak_mb: float = 0.0
    #: seconds from SIGTERM to the last worker process's exit
    stop_s: float = float("nan")
    #: hub only: incident versions (and distinct ids) on hub.incidents before `hub flush`
    versions_before_flush: int | None = None
    ids_before_flush: int | None = None
    #: hub only: final versions online after `hub flush` vs offline; None: not compared
    online_ids: int | None = None
    offline_ids: int | None = None
    same_incidents: bool | None = None
    incident_diff: str = ""

    @property
    def rate(self) -> float:
        return self.events / self.sustained_s if self.sustained_s > 0 else float("nan")

    @property
    def steady_rate(self) -> float:
        return 0.8 * self.events / self.steady_s if self.steady_s > 0 else float("nan")

    @property
    def e2e_rate(self) -> float:
        return self.events / self.total_s if self.total_s > 0 else float("nan")

    @property
    def cpu_ms_per_kev(self) -> float:
        return 1e6 * self.cpu_s / self.events if self.events else float("nan")

    @property
    def broker_ms_per_kev(self) -> float:
        return 1e6 * self.broker_cpu_s / self.events if self.events else float("nan")


def correlate_consumed(settings: Settings, group: str,
                       target: Mapping[tuple[str, int], int]) -> bool:
    """Has ``group`` consumed every record below ``target`` (end offsets of the correlate topic
    taken when the source lag reached 0)? Ticks written after ``target`` do not count."""
    committed = committed_offsets(settings, group, [CORRELATE_TOPIC])
    spans = {tp: (committed.get(tp, -1), end) for tp, end in target.items()
             if committed.get(tp, -1) < end}
    if not spans:
        return True
    if sum(end - max(start, 0) for start, end in spans.values()) > 50:
        return False  # a real backlog, not a few transaction markers
    return records_between(settings, spans) == 0


def worker_argv(contender: str, wid: str) -> list[str]:
    if contender == "hub":
        return [sys.executable, "-m", "hub", "worker", "--no-supervise", "--worker-id", wid,
                "--metrics-port", "0", "--loglevel", "warning"]
    if contender == "raw":
        return [sys.executable, "-m", "benchmarks.raw_loop", "--worker-id", wid,
                "--out-topic", RAW_TOPIC]
    return [sys.executable, "-m", "benchmarks.naive_agent", "--worker-id", wid]


def run_contender(settings: Settings, tmp: Path, contender: str, procs: int, events: int,
                  timeout: float, spy_seconds: float = 0.0, *, watch_foreign: bool = True,
                  tick_seconds: float = 1.0,
                  offline: list[dict[str, Any]] | None = None) -> Result:
    app_id = f"{APP_PREFIX}{contender}{procs}-{uuid.uuid4().hex[:6]}"
    s = dataclasses.replace(settings, app_id=app_id)
    incidents_start: dict[tuple[str, int], int] = {}
    if contender == "hub":
        commit_at_end(settings, app_id, [CORRELATE_TOPIC])
        incidents_start = topic_ends(settings, [INCIDENTS_TOPIC])
    env = {**os.environ, **stack_env(settings), "HUB_APP_ID": app_id,
           "HUB_STATE_DIR": str(tmp / "state" / app_id), "HUB_TICK_SECONDS": str(tick_seconds),
           "PYTHONUNBUFFERED": "1"}
    if contender == "hub":  # --no-supervise: give it what `hub worker`'s supervisor gives
        env = child_environment(env)
    children: list[subprocess.Popen[bytes]] = []
    result = Result(contender, procs, events)
    broker = read_pid(KafkaPaths.of(settings).pidfile)
    broker_cpu_start = cpu_seconds(broker) if broker is not None else float("nan")
    t_start = time.monotonic()
    first_progress: float | None = None
    spy: subprocess.Popen[bytes] | None = None
    load_samples = []
    corr_target: dict[tuple[str, int], int] | None = None
    lag_samples: list[tuple[float, int]] = []
    try:
        for i in range(procs):
            wid = f"{contender}{i + 1}"
            log = open(tmp / f"{app_id}-{wid}.log", "wb")
            children.append(subprocess.Popen(worker_argv(contender, wid), env=env, cwd=REPO,
                                             stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True))
            log.close()
        own = {c.pid for c in children}
        deadline = t_start + timeout
        last_print = 0.0
        # the raw loop is done within a few seconds: sample it more often (a sample takes
        # ~0.1 s of broker round trips itself)
        interval = 0.1 if contender == "raw" else 0.5
        prev_sample = t_start
        while time.monotonic() < deadline:
            time.sleep(interval)
            dead = [c.pid for c in children if c.poll() is not None]
            if dead:
                result.note = f"worker process(es) {dead} exited; see {tmp}"
                break
            src_lag = group_lag(s, SOURCE_LIST)
            corr_lag = group_lag(s, [CORRELATE_TOPIC]) if contender == "hub" else 0
            lag_samples.append((time.monotonic(), src_lag))
            if src_lag:
                result.corr_lag_max = max(result.corr_lag_max, corr_lag)
            result.rss_peak_mb = max(result.rss_peak_mb,
                                     *(rss_bytes(c.pid) / 2**20 for c in children))
            now = time.monotonic()
            load_samples.append(os.getloadavg()[0])
            if watch_foreign and foreign_users(own):
                result.foreign = True
            if first_progress is None and src_lag < events:
                # the first sample that sees a commit; if it is also the last one, the run took
                # less than a sample: count from the sample before (the rate is a lower bound)
                first_progress = now if src_lag else prev_sample
                if not src_lag:
                    result.note = "(done within one lag sample: the rate is a lower bound)"
                if spy_seconds:
                    spy = start_py_spy(children[0].pid, spy_seconds, tmp / f"{app_id}.raw")
            if now - last_print >= 5:
                last_print = now
                extra = f"  correlate lag {corr_lag:>8,}" if contender == "hub" else ""
                print(f"    {now - t_start:5.0f}s  source lag {src_lag:>8,}{extra}", flush=True)
            prev_sample = now
            if src_lag:
                continue
            if contender == "hub":
                if corr_target is None:  # every forward of every source event is on it now
                    corr_target = topic_ends(settings, [CORRELATE_TOPIC])
                if not correlate_consumed(settings, app_id, corr_target):
                    continue
            result.done = True
            break
        t_end = time.monotonic()
        result.cpu_s = sum(cpu_seconds(c.pid) for c in children)
        if broker is not None:
            result.broker_cpu_s = cpu_seconds(broker) - broker_cpu_start
        if first_progress is not None:
            result.startup_s = first_progress - t_start
            result.sustained_s = t_end - first_progress
        result.steady_s = steady_seconds(lag_samples, events)
        result.total_s = t_end - t_start
        if not result.done and not result.note:
            lag = group_lag(s, SOURCE_LIST)
            result.note = f"timed out after {timeout:.0f}s with source lag {lag:,}"
            result.events = events - lag  # what it got through
        if contender == "hub":
            check_incidents(s, env, incidents_start, offline, result)
    finally:
        t_term = time.monotonic()
        for c in children:
            if c.poll() is None:
                os.killpg(c.pid, signal.SIGTERM)
        for c in children:
            try:
                c.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(c.pid, signal.SIGKILL)
                c.wait(timeout=10)
        result.stop_s = time.monotonic() - t_term
    if spy is not None:
        spy.wait(timeout=spy_seconds + 30)
        print(hot_spots(tmp / f"{app_id}.raw"))
    result.load1 = sum(load_samples) / len(load_samples) if load_samples else os.getloadavg()[0]
    return result


def steady_seconds(samples: list[tuple[float, int]], events: int) -> float:
    """Seconds the lag took to fall from 90 % to 10 % of ``events``, each crossing interpolated
    between the two samples around it; NaN when the samples do not show both crossings."""
    def crossing(level: float) -> float | None:
        for (t0, lag0), (t1, lag1) in itertools.pairwise(samples):
            if lag0 > level >= lag1:
                return t0 + (t1 - t0) * (lag0 - level) / (lag0 - lag1)
        return None
    start, end = crossing(0.9 * events), crossing(0.1 * events)
    return end - start if start is not None and end is not None and end > start else float("nan")


def check_incidents(settings: Settings, env: Mapping[str, str],
                    start: Mapping[tuple[str, int], int],
                    offline: list[dict[str, Any]] | None, result: Result) -> None:
    """Incident versions published before the flush; then `hub flush` and online vs offline."""
    reader = IncidentReader(settings, start)
    try:
        reader.read_to_end(quiet=2.0, timeout=60)
        before = reader.records()
        result.versions_before_flush = len(before)
        result.ids_before_flush = len(final_versions(before))
        off_versions = len(offline or [])
        off_ids = len(final_versions(offline or []))
        print(f"    incident versions published before `hub flush`: {len(before):,} "
              f"({result.ids_before_flush:,} incident ids); offline: {off_versions:,} versions "
              f"of {off_ids:,} ids", flush=True)
        if not result.done:
            print("    incidents: not compared (the run did not reach lag 0)", flush=True)
            return
        done = subprocess.run([sys.executable, "-m", "hub", "flush", "--wait", "60"], cwd=REPO,
                              env=dict(env), capture_output=True, text=True, timeout=120,
                              check=False)
        if done.returncode != 0:
            result.incident_diff = f"hub flush failed: {done.stdout}{done.stderr}".strip()
            print(f"    incidents: not compared ({result.incident_diff})", flush=True)
            return
        reader.until_quiet(quiet=5.0, timeout=120)
    finally:
        reader.close()
    if offline is None:
        return
    online = final_versions(reader.records())
    expected = final_versions(offline)
    diff = describe_diff(online, expected)
    # at-least-once may repeat a version, but a repeat must be identical
    views: dict[tuple[str, int], dict[str, Any]] = {}
    clashes = 0
    for rec in reader.records():
        if rec.get("status", "CONFIRMED") != "CONFIRMED":
            continue  # early alerts: provisional versions are not confirmed ones
        view = incident_view(rec)
        held = views.setdefault((view["incident_id"], view["version"]), view)
        clashes += held != view
    if clashes:
        diff += f"\n{clashes} version(s) published twice with different contents"
    if reader.undecodable:
        diff += f"\n{reader.undecodable} message(s) on {INCIDENTS_TOPIC} did not decode"
    result.online_ids, result.offline_ids = len(online), len(expected)
    result.same_incidents = not diff
    result.incident_diff = diff
    after = len(reader.records()) - (result.versions_before_flush or 0)
    if not diff:
        print(f"    incidents: {len(online):,} online == {len(expected):,} offline "
              f"({after:,} versions published after the flush)", flush=True)
    else:
        print(f"    incidents: {len(online):,} online != {len(expected):,} offline "
              f"({after:,} versions published after the flush):\n      "
              + diff.replace("\n", "\n      "), flush=True)
