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
for 15 s, resets every hub.* topic (like topic_reset.reset_topics), and flags its figures if
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
than wall time; ``broker ms/kev`` the broker JVM's over the same run (with the benchmark's own lag
polling), what a second worker process on the same machine competes with. Ratios hub/raw and
hub/naive compare runs of the same invocation.

The contenders themselves are run by benchmarks/contenders.py (py-spy hot spots:
benchmarks/py_spy.py); this module is the command line: the stack, the preloaded topics, the
report.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import machine_note
from benchmarks.contenders import (
    CONTENDERS,
    RAW_TOPIC,
    SOURCE_LIST,
    Result,
    make_preload,
    run_contender,
)
from benchmarks.incidents import correlate_offline, final_versions
from benchmarks.stack import (
    APP_PREFIX,
    REPO,
    create_topic,
    delete_dedup_keys,
    delete_topics,
    private_stack_down,
    private_stack_up,
    reset_topics,
    stack_env,
    take_topics_lock,
    topic_ends,
    wait_exclusive,
)
from hub.settings import Settings


def cleanup(settings: Settings) -> None:
    """Remove the benchmark apps' changelog topics, the raw loop's topic and the Redis dedup
    keys of the benchmark apps (shared stack only)."""
    delete_topics(settings, APP_PREFIX)
    delete_dedup_keys(settings, APP_PREFIX)


def print_report(results: list[Result], counts: list[int]) -> None:
    print(f"\n{'contender':<10}{'procs':>6}{'events':>10}{'steady ev/s':>13}{'sustained ev/s':>16}"
          f"{'end-to-end ev/s':>17}{'startup s':>11}{'cpu ms/kev':>12}{'broker ms/kev':>15}"
          f"{'load1':>7}{'corr lag max':>14}")
    for r in results:
        flag = "  (OTHER WORKERS RAN MEANWHILE)" if r.foreign else ""
        flag += "" if r.done else f"  NOT DONE: {r.note}"
        print(f"{r.contender:<10}{r.procs:>6}{r.events:>10,}{r.steady_rate:>13,.0f}"
              f"{r.rate:>16,.0f}{r.e2e_rate:>17,.0f}{r.startup_s:>11.1f}"
              f"{r.cpu_ms_per_kev:>12.1f}{r.broker_ms_per_kev:>15.1f}{r.load1:>7.2f}"
              f"{r.corr_lag_max:>14,}{flag}")
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
                      f"({r.cpu_ms_per_kev:,.0f} ms/kev), broker cpu {r.broker_cpu_s:.1f} s "
                      f"({r.broker_ms_per_kev:,.0f} ms/kev), load1 {r.load1:.2f} {r.note}",
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
                                             "cpu_ms_per_kev": r.cpu_ms_per_kev,
                                             "broker_ms_per_kev": r.broker_ms_per_kev}
                                             for r in results]}, indent=2))
    print(f"logs: {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
