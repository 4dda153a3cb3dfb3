"""Soak: the supervised `hub worker` under steady live traffic, with planted situations.

    python -m benchmarks.soak                      # 30 min at 200 events/s on a private stack
    python -m benchmarks.soak --minutes 3          # the CI-sized run
    python -m benchmarks.soak --rate 400 --shared-stack

What it does, in order:

1. Starts a private stack (benchmarks/stack.py: `hub stack up` with HUB_STATE_DIR in a temp
   directory, free loopback ports, the shared stack's cached Kafka jars copied in) and applies
   topology/topics.yaml. ``--shared-stack`` uses the configured broker instead, after taking the
   hub-topics lock and waiting until nobody else uses the hub.* topics, and resets them.
2. Produces a small building registry (background sites with a few buildings each, plus one
   single-building site per planted situation slot) to hub.registry.building.
3. Starts ONE `hub worker` supervised (no ``--no-supervise``: its self-restarts are real), with a
   fresh HUB_APP_ID and the worker's own tick setting, and waits for its consumer group to be
   stable.
4. Feeds the five source topics at ``--rate`` events/s in total with event_time = now, produced
   with confluent-kafka exactly like `hub produce` (murmur2, keyed by site_id, Avro single-object
   via hub.codec, validated and pseudonymized by the interchange parser first). Every produced
   event is also written as an interchange line to ``events.jsonl`` (registry lines first).
   Background traffic matches no rule (granted swipes of each building's own residents, face
   matches below 0.90, non-visitor lookups, loitering/fault alarms, non-dispute grid reports).
   Every ``--plant-every`` seconds one situation of a default rule is planted, cycling through
   perimeter_breach_entry, credential_brute_force, forced_door, door_held_open, device_tamper,
   watchlist_entry, cloned_credential and lookup_spike, each on a site of its own pool (reused
   only after longer than any rule's window). dispute_hotspot is not planted: grid reports have
   24 h of allowed lateness, so it cannot be released within a soak.
5. For ``--minutes`` situations are planted; then ``--tail`` seconds (default 90) of background
   traffic only. Once a second it samples the group's source lag (group_lag: end − committed),
   reads hub.incidents (read_committed), watches the supervisor's log for restarts and the
   worker's pid; every 5 s it scrapes the worker's /metrics and reads its RSS.
6. At the end of the tail, WITH TRAFFIC STILL FLOWING (nothing depends on `hub flush`), it takes
   the figures; then it stops the feed and the worker, runs `hub correlate` over the recorded
   file and compares: expected = the offline incidents whose completing event (last evidence) is
   older than the rule's allowed lateness + ``--margin`` at the end; published = the final
   version of each incident read from hub.incidents during the run.
7. Diagnostic, not a goal (``--no-flush-check`` skips it): with the traffic stopped, `hub flush`,
   and everything the worker then published against offline over the whole file: tells a worker
   that holds its incidents until the end of input from one that loses them.

Goals (PASS/FAIL each; exit status 1 on any FAIL): no self-restart; no watchdog re-fetch
(hub_liveness_partitions_reread_total; the worker has had no watchdog since ADR 0005, so 0 when
/metrics answers without it); source lag at
most ``--max-lag`` seconds of traffic after the warm-up; expected == published (and nothing
published that offline never emits); worker RSS growth from the end of the warm-up to the end at
most ``--max-rss-growth`` percent.

This module is the run itself (stack, worker, the once-a-second loop, the order of the steps).
What the worker is fed lives in benchmarks/soak_traffic.py, what is sampled meanwhile in
benchmarks/soak_watch.py, and how the run is judged in benchmarks/soak_report.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.common import machine_note
from benchmarks.incidents import IncidentReader, correlate_offline, describe_diff, final_versions
from benchmarks.soak_report import compare, lateness_by_rule, report
from benchmarks.soak_traffic import (
    PLANT_SPAN_S,
    PLANTED_RULES,
    REUSE_S,
    City,
    Feed,
    Producer,
    produce_registry,
)
from benchmarks.soak_watch import Watch, read_restarts, sample_worker, wait_stable
from benchmarks.stack import (
    APP_PREFIX,
    REPO,
    delete_dedup_keys,
    delete_topics,
    free_port,
    private_stack_down,
    private_stack_up,
    reset_topics,
    stack_env,
    stop_process_group,
    take_topics_lock,
    wait_exclusive,
)
from hub.adapters.topic_specs import load_topic_specs
from hub.runtime.control import group_lag
from hub.settings import SOURCE_TOPICS, Settings

SOURCE_LIST = list(SOURCE_TOPICS.values())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=30.0,
                   help="minutes of traffic with planted situations (default 30)")
    p.add_argument("--rate", type=float, default=200.0, help="events/s over all five sources")
    p.add_argument("--tail", type=float, default=90.0,
                   help="seconds of background-only traffic after --minutes, before the figures "
                   "are taken (still producing)")
    p.add_argument("--plant-every", type=float, default=10.0,
                   help="seconds between planted situations (rules in turn)")
    p.add_argument("--margin", type=float, default=45.0,
                   help="an incident is expected once its completing event is older than the "
                   "rule's allowed lateness + this many seconds")
    p.add_argument("--warmup", type=float, default=60.0,
                   help="seconds of traffic before the start RSS is taken and lag is judged "
                   "(at most a third of --minutes)")
    p.add_argument("--max-lag", type=float, default=2.0, help="goal: source lag, seconds")
    p.add_argument("--max-rss-growth", type=float, default=10.0, help="goal: RSS growth, %%")
    p.add_argument("--rules", type=Path, default=None, help="rules directory for the worker")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--shared-stack", action="store_true",
                   help="use the configured broker (HUB_BOOTSTRAP) instead of a private one; "
                   "waits until nobody else uses the hub.* topics, then resets them")
    p.add_argument("--wait-exclusive", type=float, default=300.0,
                   help="--shared-stack: how long to wait for other users before giving up")
    p.add_argument("--no-flush-check", dest="flush_check", action="store_false",
                   help="skip the diagnostic after the figures (stop the traffic, `hub flush`, "
                   "compare everything with offline)")
    p.add_argument("--keep", action="store_true", help="keep the temp directory (logs, events)")
    p.add_argument("--latency-goals", action="store_true",
                   help="judge alert latency (benchmarks/latency_bench.py): first publication "
                   "p99 <= --max-first-alert, confirmed p99 <= the rule's lateness + 3 s; RSS is "
                   "reported, not judged (a short run says little about growth)")
    p.add_argument("--max-first-alert", type=float, default=1.0,
                   help="--latency-goals: first publication p99, seconds")
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0 or args.tail < 0:
        p.error("--minutes and --rate must be positive, --tail not negative")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)

    shared = Settings.from_env()
    tmp = Path(tempfile.mkdtemp(prefix="hubsoak-"))
    settings = shared
    lock = None
    sup: subprocess.Popen[bytes] | None = None
    feeder: Producer | None = None
    reader: IncidentReader | None = None
    events_file = tmp / "events.jsonl"
    log_path = tmp / "worker.log"
    app_id = f"{APP_PREFIX}soak-{uuid.uuid4().hex[:6]}"
    warmup = min(args.warmup, args.minutes * 60 / 3)
    watch = Watch()
    status = 2
    try:
        if args.shared_stack:
            lock = take_topics_lock(shared, args.wait_exclusive, "soak")
            wait_exclusive(args.wait_exclusive, who="soak")
        else:
            t0 = time.monotonic()
            settings = private_stack_up(shared, tmp / "stack")
            print(f"private stack (Kafka {settings.bootstrap}, Redis {settings.redis_url}) up in "
                  f"{time.monotonic() - t0:.1f} s", flush=True)
        s = dataclasses.replace(settings, app_id=app_id)
        print(f"# soak  {machine_note()}  broker {settings.bootstrap}  app {app_id}  "
              f"HUB_TICK_SECONDS={settings.tick_seconds:g}", flush=True)
        print(f"  {args.minutes:g} min planted + {args.tail:g} s tail at {args.rate:g} ev/s; "
              f"a situation every {args.plant_every:g} s; warm-up {warmup:.0f} s; files in {tmp}",
              flush=True)
        reset_topics(settings)
        partitions = max(sp.partitions for sp in load_topic_specs(settings.topics_file)
                         if sp.name in SOURCE_LIST)
        rng = random.Random(args.seed)
        pool = max(2, math.ceil(REUSE_S / (args.plant_every * len(PLANTED_RULES))) + 1)
        city = City(rng, partitions=partitions, pool=pool)
        out = open(events_file, "w", encoding="utf-8")
        produce_registry(settings, city, out)
        print(f"  registry: {len(city.records)} buildings on {len(city.background)} background "
              f"sites and {pool} sites per planted rule", flush=True)

        port = free_port()
        argv_worker = [sys.executable, "-m", "hub", "worker", "--worker-id", "soak1",
                       "--metrics-port", str(port)]
        if args.rules is not None:
            argv_worker += ["--rules", str(args.rules)]
        env = {**os.environ, **stack_env(settings), "HUB_APP_ID": app_id,
               "HUB_STATE_DIR": str(tmp / "state"), "PYTHONUNBUFFERED": "1"}
        with open(log_path, "wb") as log:
            sup = subprocess.Popen(argv_worker, env=env, cwd=REPO, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        took = wait_stable(settings, app_id, sup, timeout=180)
        print(f"  `hub worker` (supervised, pid {sup.pid}) in a stable group after {took:.1f} s",
              flush=True)
        reader = IncidentReader(settings)

        feeder = Producer(settings, Feed(city, rng, uuid.uuid4().hex[:6]), out,
                          rate=args.rate, plant_every=args.plant_every)
        feeder.planting.set()
        feeder.start()
        t_feed = time.monotonic()
        plant_until = t_feed + args.minutes * 60 - PLANT_SPAN_S
        t_stop = t_feed + args.minutes * 60 + args.tail
        rss_start: tuple[float, int, int] | None = None
        last_print = last_sample = 0.0
        worker_exit: int | None = None
        while True:
            now = time.monotonic()
            if now >= t_stop:
                break
            if feeder.planting.is_set() and now >= plant_until:
                feeder.planting.clear()
            if feeder.error is not None:
                raise RuntimeError(f"the producer failed: {feeder.error!r}")
            if sup.poll() is not None:
                worker_exit = sup.returncode
                print(f"  `hub worker` EXITED with status {worker_exit} at "
                      f"{now - t_feed:.0f} s; see {log_path}", flush=True)
                break
            t = now - t_feed
            try:
                watch.lag.append((t, group_lag(s, SOURCE_LIST)))
            except Exception:
                watch.lag_errors += 1
            read_restarts(log_path, watch)
            if now - last_sample >= 5:
                last_sample = now
                sample_worker(sup.pid, port, watch, t)
                if rss_start is None and t >= warmup and watch.rss:
                    rss_start = watch.rss[-1]
            reader.poll(max(0.05, min(0.5, 1.0 - (time.monotonic() - now))))
            if now - last_print >= 30:
                last_print = now
                lag = watch.lag[-1][1] if watch.lag else -1
                rss = watch.rss[-1][2] / 2**20 if watch.rss else float("nan")
                print(f"    {t:6.0f}s  produced {feeder.produced:>8,}  source lag {lag:>6,} msgs"
                      f"  worker RSS {rss:6.1f} MB  incident versions read {len(reader.seen):>5,}"
                      f"  restarts {len(watch.restart_lines)}", flush=True)
            left = 1.0 - (time.monotonic() - now)
            if left > 0:
                time.sleep(left)

        # -- the figures, taken while the traffic still flows ------------------------------
        reader.read_to_end(quiet=1.0, timeout=15)
        end_ms = int(time.time() * 1000)
        t_end = time.monotonic() - t_feed
        sample_worker(sup.pid, port, watch, t_end)
        read_restarts(log_path, watch)
        rss_end = watch.rss[-1] if watch.rss else None
        produced_during = feeder.produced
        seen_during = list(reader.seen)
        undelivered = feeder.finish()
        out.close()
        flushed = False
        if args.flush_check and sup.poll() is None:
            flushed = flush_check(env, reader)
        stop_process_group(sup)
        read_restarts(log_path, watch)
        print(f"  traffic stopped after {t_end:.0f} s: {feeder.produced:,} events "
              f"({', '.join(f'{k} {n:,}' for k, n in sorted(feeder.by_kind.items()))}); "
              f"{feeder.report.failed + undelivered} not delivered; producer at most "
              f"{feeder.behind_max} events behind its schedule", flush=True)

        t0 = time.monotonic()
        offline = correlate_offline(events_file, tmp / "offline.jsonl",
                                    env={**os.environ, **stack_env(settings)}, rules=args.rules)
        print(f"  offline: `hub correlate` over {events_file.name}: {len(offline):,} versions "
              f"({time.monotonic() - t0:.1f} s)", flush=True)
        args.lateness_ms = lateness_by_rule(settings, args.rules)
        rows, problems = compare(offline, seen_during, end_ms=end_ms,
                                 lateness_ms=args.lateness_ms,
                                 margin_ms=int(args.margin * 1000), planted=feeder.feed.used)
        diagnostic = ""
        if flushed:
            after = final_versions(reader.records())
            diff = describe_diff(after, final_versions(offline), limit=10)
            diagnostic = (f"after the figures: traffic stopped, `hub flush`: "
                          f"{len(reader.seen) - len(seen_during)} more versions published; then "
                          f"{len(after)} incident ids online "
                          + (f"== {len(final_versions(offline))} offline (whole file)"
                             if not diff else f"vs {len(final_versions(offline))} offline:\n"
                             + diff))
        status = report(args, watch, rows, problems, seen_during, rss_start=rss_start,
                        rss_end=rss_end, warmup=warmup, worker_exit=worker_exit,
                        produced=produced_during, seconds=t_end, diagnostic=diagnostic,
                        undelivered=feeder.report.failed + undelivered)
        return status
    except RuntimeError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("soak: interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        if feeder is not None and feeder.is_alive():
            feeder.finish(timeout=10)
        if sup is not None:
            stop_process_group(sup)
        if reader is not None:
            reader.close()
        if lock is not None:
            lock.close()
        if args.shared_stack:
            delete_topics(settings, app_id)
            delete_dedup_keys(settings, app_id)
        elif settings is not shared:
            private_stack_down(settings)
            shutil.rmtree(tmp / "stack", ignore_errors=True)
        if status == 0 and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"files (worker log, events.jsonl, offline.jsonl): {tmp}")


def flush_check(env: dict[str, str], reader: IncidentReader) -> bool:
    """Diagnostic, after the figures: `hub flush` and read what it releases. Tells a worker that
    holds its incidents until the end of input from one that loses them."""
    done = subprocess.run([sys.executable, "-m", "hub", "flush", "--wait", "60"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        print(f"  (flush check skipped: {done.stdout}{done.stderr})".strip(), flush=True)
        return False
    reader.until_quiet(quiet=5.0, timeout=120)
    return True


if __name__ == "__main__":
    sys.exit(main())
