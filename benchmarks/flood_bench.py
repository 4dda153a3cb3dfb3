"""A flood on one key through the live worker, beside a normal run of the same worker.

    python -m benchmarks.flood_bench                      # 200,000 swipes at one door, amid a city
    python -m benchmarks.flood_bench --flood 50000        # smaller, quicker
    python -m benchmarks.flood_bench --alone              # the flood with nothing else (cold start)

The flood goal (BENCHMARKS.md §6), measured in one invocation on a private stack
(benchmarks/stack.py):

  normal   `hub worker` over a simulated city's first ``--events`` source events (preloaded):
           sustained events/s, the worker's peak RSS.
  flood    the same worker over ``--flood`` DENIED swipes at one door spread over
           ``--minutes`` of event time (one key: credential_brute_force's door), merged by event
           time into the normal run's events from the middle of their span on, so the other
           partitions speak as in a city and some run far ahead of the flood in event time
           (BENCHMARKS.md §6, run 20): sustained events/s over every event, peak RSS, the bytes
           its incident versions took on hub.incidents, the seconds SIGTERM took to stop it.
  --alone  the flood with no other event: every other swipe partition is silent from the
           start, so no swipe rule may release anything before their idle time (10 s,
           topology/rules/sources.yaml) has passed. That cold start's fixed wait is in this
           run's events/s and not in the normal run's (§6, run 19), so its events/s line says
           how long the wait took, not what the flood costs; the other four goals hold as in
           the default run.

Both runs check, after `hub flush`, that the worker's final incidents equal `hub correlate`'s over
the same file, so no figure comes from a worker that held its output back. Goals (printed PASS
or FAIL): flood events/s >= normal events/s, flood peak RSS <= 1.2 x normal, incident topic
growth < 1 MB, SIGTERM stop <= 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.common import machine_note
from benchmarks.contenders import SOURCE_LIST, Result, make_preload, run_contender
from benchmarks.incidents import correlate_offline
from benchmarks.stack import (
    REPO,
    private_stack_down,
    private_stack_up,
    reset_topics,
    stack_env,
    topic_ends,
)
from hub.adapters.kafka import Consumer, TopicPartition
from hub.settings import INCIDENTS_TOPIC, Settings

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def flood_file(path: Path, n: int, minutes: float, normal: Path, *, amid: bool = False) -> Path:
    """``normal``'s registry lines and ``n`` DENIED swipes at one door from T0 on; ``amid``:
    merged by event time into ``normal``'s source events, from the middle of their span on.

    Each of ``normal``'s lines keeps its place; a flood event goes right before the first
    line of ``normal`` that is newer, so every partition's arrival order stays as it was.
    """
    lines = open(normal, encoding="utf-8").read().splitlines()
    registry = [ln for ln in lines if '"building_identity"' in ln]
    events = [(json.loads(ln)["event_time"], ln) for ln in lines
              if '"building_identity"' not in ln] if amid else []
    times = sorted(t for t, _ in events)
    start = times[len(times) // 2] if times else T0
    span = int(minutes * 60_000)
    flood = [(start + i * span // n, json.dumps({
        "kind": "access_swipe", "event_id": f"flood-{i:07d}", "vendor": "zkteco",
        "device_id": "door-flood", "site_id": "S-FLOOD", "event_time": start + i * span // n,
        "building_id": "B-FLOOD", "door_id": "D-FLOOD", "credential_hash": None,
        "method": "CARD", "result": "DENIED", "direction": "IN"})) for i in range(n)]
    k = 0
    with open(path, "w", encoding="utf-8") as out:
        for line in registry:
            out.write(line + "\n")
        for t, line in events:
            while k < n and flood[k][0] < t:
                out.write(flood[k][1] + "\n")
                k += 1
            out.write(line + "\n")
        for _, line in flood[k:]:
            out.write(line + "\n")
    return path


def incident_bytes(settings: Settings, start: dict[tuple[str, int], int]) -> tuple[int, int]:
    """(messages, bytes of keys and values) on hub.incidents after ``start``."""
    end = topic_ends(settings, [INCIDENTS_TOPIC])
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "enable.auto.commit": False,
                         "group.id": f"hubbench-size-{uuid.uuid4().hex[:8]}",
                         "isolation.level": "read_committed"})
    want = {tp: e for tp, e in end.items() if e > start.get(tp, 0)}
    consumer.assign([TopicPartition(t, p, start.get((t, p), 0)) for t, p in want])
    count = size = 0
    deadline = time.monotonic() + 60
    try:
        while want and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                count += 1
                size += len(msg.value() or b"") + len(msg.key() or b"")
            # the position passes transaction markers too (the last offsets hold no record)
            for tp in consumer.position([TopicPartition(t, p) for t, p in list(want)]):
                if tp.offset >= want[(tp.topic, tp.partition)]:
                    want.pop((tp.topic, tp.partition), None)
    finally:
        consumer.close()
    return count, size


def produce(settings: Settings, path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "hub", "produce", str(path)], cwd=REPO,
                          capture_output=True, text=True, check=False,
                          env={**os.environ, **stack_env(settings)})
    if done.returncode != 0:
        raise SystemExit(f"hub produce {path.name} failed: {done.stdout}{done.stderr}")


def run(settings: Settings, tmp: Path, name: str, path: Path, timeout: float,
        shared: Settings) -> tuple[Result, int, int]:
    offline = correlate_offline(path, tmp / f"{name}-offline.jsonl",
                                env={**os.environ, **stack_env(shared)})
    reset_topics(settings)
    produce(settings, path)
    on_topics = sum(topic_ends(settings, SOURCE_LIST).values())
    start = topic_ends(settings, [INCIDENTS_TOPIC])
    print(f"  {name}: {on_topics:,} source messages preloaded; offline "
          f"{len(offline):,} incident versions", flush=True)
    r = run_contender(settings, tmp, "hub", 1, on_topics, timeout, watch_foreign=False,
                      offline=offline)
    count, size = incident_bytes(settings, start)
    print(f"  {name}: {r.rate:,.0f} ev/s sustained, peak RSS {r.rss_peak_mb:.1f} MB, "
          f"{count:,} incident versions ({size / 1e6:.3f} MB) on {INCIDENTS_TOPIC}, "
          f"SIGTERM stop {r.stop_s:.1f} s, same incidents as offline: {r.same_incidents} "
          f"{r.note}", flush=True)
    return r, count, size


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--flood", type=int, default=200_000, help="swipes at the one door")
    p.add_argument("--minutes", type=float, default=10.0, help="event time they span")
    p.add_argument("--events", type=int, default=40_000, help="the normal run's events")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--buildings", type=int, default=80)
    p.add_argument("--days", type=int, default=8)
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--alone", action="store_true",
                       help="the flood with no other event (a cold start: the silent "
                       "partitions' idle time is waited out first); default: amid the normal "
                       "run's events")
    where.add_argument("--amid", action="store_true",
                       help="the default, kept for scripts that name it")
    args = p.parse_args(argv)
    args.path = None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    shared = Settings.from_env()
    tmp = Path(tempfile.mkdtemp(prefix="hubflood-"))
    normal_file, _ = make_preload(tmp, args)
    flood = flood_file(tmp / "flood.jsonl", args.flood, args.minutes, normal_file,
                       amid=not args.alone)
    settings = private_stack_up(shared, tmp / "stack")
    try:
        print(f"# flood_bench  {machine_note()}  broker {settings.bootstrap}  flood "
              f"{'alone (a cold start)' if args.alone else 'amid the city'}", flush=True)
        normal, _, _ = run(settings, tmp, "normal", normal_file, args.timeout, shared)
        flooded, versions, size = run(settings, tmp, "flood", flood, args.timeout, shared)
    finally:
        private_stack_down(settings)
        shutil.rmtree(tmp / "stack", ignore_errors=True)
    rate = flooded.rate / normal.rate if normal.rate else float("nan")
    rss = flooded.rss_peak_mb / normal.rss_peak_mb if normal.rss_peak_mb else float("nan")
    goals = [
        (f"flood events/s {flooded.rate:,.0f} vs normal {normal.rate:,.0f} (x{rate:.2f})",
         rate >= 1.0),
        (f"flood peak RSS {flooded.rss_peak_mb:.1f} MB vs normal {normal.rss_peak_mb:.1f} MB "
         f"(x{rss:.2f}; goal <= 1.2)", rss <= 1.2),
        (f"hub.incidents grew by {size / 1e6:.3f} MB in {versions:,} versions (goal < 1 MB)",
         size < 1_000_000),
        (f"SIGTERM stopped the flooded worker in {flooded.stop_s:.1f} s (goal <= 5 s)",
         flooded.stop_s <= 5.0),
        (f"final incidents equal `hub correlate`'s: normal {normal.same_incidents}, "
         f"flood {flooded.same_incidents}",
         bool(normal.same_incidents and flooded.same_incidents)),
    ]
    print("\nflood_bench results")
    for text, ok in goals:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    if args.alone:
        print("  (--alone: the flood's events/s includes the cold start's wait for the silent "
              "partitions' idle time, which the normal run does not have; BENCHMARKS.md §6)")
    print(f"logs: {tmp}")
    return 0 if all(ok for _, ok in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
