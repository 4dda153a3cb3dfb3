"""The Faust worker's sustained events/s through the real broker, beside a plain confluent-kafka
loop and a naive Faust agent; and the worker's incidents against `hub correlate` offline.

    python -m benchmarks.worker_bench                     # 200k events, 1 then 2 processes
    python -m benchmarks.worker_bench --shared-stack      # on the `hub stack up` broker

By default it starts a broker and a Redis of its own (benchmarks/stack.py: `hub stack up` with
HUB_STATE_DIR in a temp directory and free loopback ports; the shared stack's cached Kafka jars
are copied in) and stops them at the end: the hub.* topic names are the public contract, not per
app, and other engineers' worker tests delete and re-create them at any moment on the shared
broker. ``--shared-stack`` uses the configured broker instead: it then takes
``<state dir>/hub-topics.lock`` (the lock the worker integration tests hold while they use the
topics), also waits until no other `hub worker`, naive agent, raw loop or pytest run has been seen
for 15 s, resets every hub.* topic (like worker_harness.reset_topics), and flags its figures if
such a process appears or the source topics change during a run.

Steps: simulate a scenario; keep the registry and the first ``--events`` source events; produce
them with `hub produce` BEFORE any consumer runs; then, for each process count and contender,
start fresh processes under a fresh ``HUB_APP_ID`` (own consumer group, state changelog and Redis
dedup namespace; the same preloaded source data, read from the beginning), poll the group's lag
(end offset − committed offset, hub.runtime.control.group_lag) every 0.5 s (0.1 s for the raw
loop, which is done in seconds) and stop when it is 0:

  hub      `hub worker --no-supervise` processes, ticks on (HUB_TICK_SECONDS, default 1 s): done
           when the source lag is 0 AND the group has consumed every record that was on
           hub.internal.correlate at that moment (ticks keep arriving after it, and transaction
           markers take offsets without being records, so "end − committed = 0" is not the test;
           the records left are counted with a read_committed consumer). The group starts at the
           correlate topic's end (earlier runs' forwards are not its work).
  raw      benchmarks/raw_loop.py: confluent-kafka, batches of 1,000, decode each value with the
           hub codec, produce one message per event to a benchmark-only topic, flush, commit.
  naive    benchmarks/naive_agent.py: one ``table[key] = value`` per event, plain ``async for``.

Then, for hub runs that finished: how many incident versions the workers had published on
hub.incidents (read_committed, from where the run started) BEFORE `hub flush`; `hub flush`; and
the final version of each incident id against `hub correlate` over the same preloaded file
(id, version, rule, risk level, evidence, route): "incidents: N online == N offline" or the diff.

Figures: sustained events/s = events / (time lag reached 0 − time the group first committed
anything), so process start-up, rebalance and the registry load are left out (printed apart as
``startup``); ``end-to-end`` includes them. The hub commits the correlation topic's offsets
only at its state checkpoints (every CHECKPOINT_S = 5 s, hub/runtime/pipeline.py), so "done" is
seen up to 5 s after the last event was correlated: on a run of a few seconds that wait is most
of the figure. Hence 200,000 events by default, and ``steady events/s``: the source lag's fall
from 90 % to 10 % of the events over the time it took (interpolated between samples), the rate
while the worker is busy, without start-up or the wait for the last checkpoint. It counts
ingest; the worker correlates in the same loop, and ``correlate lag`` is printed beside it so a
correlation stage that falls behind shows. ``cpu ms/kev`` is the worker processes' CPU time per
1000 events (up to the moment the lag reached 0), which other load on the machine disturbs less
than wall time. Ratios hub/raw and hub/naive compare runs of the same invocation.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.common import machine_note
from benchmarks.incidents import (
    IncidentReader,
    correlate_offline,
    describe_diff,
    final_versions,
    incident_view,
)
from benchmarks.stack import (
    APP_PREFIX,
    REPO,
    commit_at_end,
    committed_offsets,
    cpu_seconds,
    create_topic,
    delete_dedup_keys,
    delete_topics,
    foreign_users,
    private_stack_down,
    private_stack_up,
    records_between,
    reset_topics,
    rss_bytes,
    stack_env,
    take_topics_lock,
    topic_ends,
    wait_exclusive,
)
from hub.malloc_policy import child_environment
from hub.runtime.control import group_lag
from hub.settings import CORRELATE_TOPIC, INCIDENTS_TOPIC, SOURCE_TOPICS, Settings

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


def start_py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy")
    if exe is None:
        print("    (py-spy not installed: pip install py-spy)")
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                             "--rate", "200", "--format", "raw", "--output", str(out),
                             "--nonblocking"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def hot_spots(raw: Path, top: int = 18) -> str:
    """py-spy's collapsed stacks as two tables: own time per function, and time inside each
    hub/ function (inclusive), both as a share of all samples."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    try:
        text = raw.read_text()
    except OSError:
        return f"    (no py-spy output at {raw})"
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";")]
        own[frames[-1]] += n
        for f in set(frames):
            if f.startswith("hub/"):
                incl[f] += n
    if not total:
        return "    (py-spy recorded nothing)"
    lines = [f"    py-spy, {total} samples of the single hub worker: own time"]
    lines += [f"      {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("    time inside hub/ functions (inclusive)")
    lines += [f"      {100 * n / total:5.1f}%  {f}" for f, n in incl.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """``func (path/to/site-packages/faust/x.py:12)`` -> ``faust/x.py:func``."""
    func, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", f"{REPO}/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{func}"


def cleanup(settings: Settings) -> None:
    """Remove the benchmark apps' changelog topics, the raw loop's topic and the Redis dedup
    keys of the benchmark apps (shared stack only)."""
    delete_topics(settings, APP_PREFIX)
    delete_dedup_keys(settings, APP_PREFIX)


def print_report(results: list[Result], counts: list[int]) -> None:
    print(f"\n{'contender':<10}{'procs':>6}{'events':>10}{'steady ev/s':>13}{'sustained ev/s':>16}"
          f"{'end-to-end ev/s':>17}{'startup s':>11}{'cpu ms/kev':>12}{'load1':>7}"
          f"{'corr lag max':>14}")
    for r in results:
        flag = "  (OTHER WORKERS RAN MEANWHILE)" if r.foreign else ""
        flag += "" if r.done else f"  NOT DONE: {r.note}"
        print(f"{r.contender:<10}{r.procs:>6}{r.events:>10,}{r.steady_rate:>13,.0f}"
              f"{r.rate:>16,.0f}{r.e2e_rate:>17,.0f}{r.startup_s:>11.1f}"
              f"{r.cpu_ms_per_kev:>12.1f}{r.load1:>7.2f}{r.corr_lag_max:>14,}{flag}")
    by = {(r.contender, r.procs): r for r in results}
    for procs in counts:
        hub = by.get(("hub", procs))
        if hub is None:
            continue
        for other in ("raw", "naive"):
            base = by.get((other, procs))
            if base is not None:
                print(f"ratio hub/{other} with {procs} process(es): steady "
                      f"{hub.steady_rate / base.steady_rate:.3f}, sustained "
                      f"{hub.rate / base.rate:.3f}, cpu per event "
                      f"{hub.cpu_ms_per_kev / base.cpu_ms_per_kev:.2f}")
    for r in results:
        if r.contender != "hub":
            continue
        before = (f"{r.versions_before_flush:,} versions ({r.ids_before_flush:,} ids) published "
                  "before the flush" if r.versions_before_flush is not None else "")
        if r.same_incidents is None:
            verdict = f"not compared{': ' + r.incident_diff if r.incident_diff else ''}"
        elif r.same_incidents:
            verdict = f"{r.online_ids:,} online == {r.offline_ids:,} offline"
        else:
            verdict = (f"{r.online_ids:,} online != {r.offline_ids:,} offline "
                       f"({r.incident_diff.count(chr(10)) + 1} difference line(s) above)")
        print(f"hub x{r.procs} incidents: {verdict}; {before}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--in", dest="path", type=Path, help="interchange file (default: simulate)")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--buildings", type=int, default=80)
    p.add_argument("--days", type=int, default=8)
    p.add_argument("--workers", default="1,2", help="process counts to run, e.g. 1,2")
    p.add_argument("--contenders", default=",".join(CONTENDERS),
                   help="comma-separated, of: " + ", ".join(CONTENDERS))
    p.add_argument("--timeout", type=float, default=240.0, help="seconds per contender run")
    p.add_argument("--tick-seconds", type=float, default=1.0,
                   help="HUB_TICK_SECONDS for the hub workers (the worker's default: 1)")
    p.add_argument("--shared-stack", action="store_true",
                   help="use the configured broker (HUB_BOOTSTRAP) instead of a private one; "
                   "waits until nobody else uses the hub.* topics, then resets them")
    p.add_argument("--wait-exclusive", type=float, default=300.0,
                   help="--shared-stack: how long to wait for other users before giving up")
    p.add_argument("--py-spy", type=float, default=0.0, metavar="S",
                   help="sample the single hub worker with py-spy for S seconds; print hot spots")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    contenders = args.contenders.split(",")
    unknown = sorted(set(contenders) - set(CONTENDERS))
    if unknown:
        p.error(f"unknown contender(s) {unknown}; choose from {', '.join(CONTENDERS)}")
    # Started in the background from a script, SIGINT may be ignored: make both signals unwind
    # through the ``finally`` blocks that stop the worker processes and clean up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    shared = Settings.from_env()
    counts = [int(x) for x in args.workers.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="hubbench-"))
    preload, n = make_preload(tmp, args)
    offline: list[dict[str, Any]] | None = None
    if "hub" in contenders:
        t0 = time.monotonic()
        offline = correlate_offline(preload, tmp / "offline.jsonl",
                                    env={**os.environ, **stack_env(shared)})
        print(f"offline: `hub correlate` over the preload: {len(offline):,} incident versions, "
              f"{len(final_versions(offline)):,} incident ids ({time.monotonic() - t0:.1f} s)")
    settings = shared
    results: list[Result] = []
    on_topics = 0
    lock = None
    try:
        if args.shared_stack:
            lock = take_topics_lock(shared, args.wait_exclusive, "worker_bench")
            wait_exclusive(args.wait_exclusive, who="worker_bench")
        else:
            t0 = time.monotonic()
            settings = private_stack_up(shared, tmp / "stack")
            print(f"private stack (Kafka {settings.bootstrap}, Redis {settings.redis_url}) up in "
                  f"{time.monotonic() - t0:.1f} s", flush=True)
        print(f"# worker_bench  {machine_note()}  broker {settings.bootstrap}  "
              f"HUB_TICK_SECONDS={args.tick_seconds:g}", flush=True)
        print(f"scenario: {n:,} source events (+ registry) in {preload}")
        t0 = time.monotonic()
        reset_topics(settings)
        if "raw" in contenders:
            create_topic(settings, RAW_TOPIC, 4)
        print(f"topics reset in {time.monotonic() - t0:.1f} s")
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "hub", "produce", str(preload)], cwd=REPO,
                              capture_output=True, text=True, check=False,
                              env={**os.environ, **stack_env(settings)})
        took = time.monotonic() - t0
        if done.returncode != 0:
            print(f"hub produce failed: {done.stdout}{done.stderr}", file=sys.stderr)
            return 1
        on_topics = sum(topic_ends(settings, SOURCE_LIST).values())
        print(f"preloaded with `hub produce` in {took:.1f} s ({n / took:,.0f} lines/s): "
              f"{on_topics:,} messages on the source topics")
        for procs in counts:
            for contender in contenders:
                print(f"  {contender} x{procs} ...", flush=True)
                r = run_contender(settings, tmp, contender, procs, on_topics, args.timeout,
                                  args.py_spy if (contender, procs) == ("hub", 1) else 0,
                                  watch_foreign=args.shared_stack,
                                  tick_seconds=args.tick_seconds, offline=offline)
                now_on = sum(topic_ends(settings, SOURCE_LIST).values())
                if now_on != on_topics:
                    r.foreign = True
                    r.note += f" source topics changed under the run ({on_topics:,} -> {now_on:,})"
                results.append(r)
                print(f"  {contender} x{procs}: {r.steady_rate:,.0f} ev/s steady, "
                      f"{r.rate:,.0f} sustained, startup "
                      f"{r.startup_s:.1f} s, total {r.total_s:.1f} s, cpu {r.cpu_s:.1f} s "
                      f"({r.cpu_ms_per_kev:,.0f} ms/kev), load1 {r.load1:.2f} {r.note}",
                      flush=True)
    finally:
        if lock is not None:
            lock.close()  # releases the flock
        if args.shared_stack:
            cleanup(settings)
        elif settings is not shared:
            private_stack_down(settings)
            shutil.rmtree(tmp / "stack", ignore_errors=True)

    print_report(results, counts)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine_note(), "events": on_topics,
                                         "tick_seconds": args.tick_seconds,
                                         "results": [dataclasses.asdict(r) | {
                                             "rate": r.rate, "e2e_rate": r.e2e_rate,
                                             "steady_rate": r.steady_rate,
                                             "cpu_ms_per_kev": r.cpu_ms_per_kev}
                                             for r in results]}, indent=2))
    print(f"logs: {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
