"""The correlation engine alone, on one core, over a ≥1,000,000-event mixed scenario.

Figures and the goal (≥ 100,000 events/s on one core): BENCHMARKS.md §1.

    python -m benchmarks.engine_bench                      # simulate 400 buildings x 9 days
    python -m benchmarks.engine_bench --in sim.jsonl       # or any interchange file
    python -m benchmarks.engine_bench --per-rule --profile # + cost per rule, + cProfile hot spots

The scenario is decoded into ``Event`` objects (parse, pseudonymize, validate: what `hub correlate`
does) BEFORE anything is timed; then the input is frozen out of the garbage collector's sight
(``gc.freeze()``) so that a million live input objects do not inflate collection cost, as they
would not in a worker. Timed: ``engine.process(event)`` for every event and ``engine.flush()``,
with the default rule pack and a ``DedupLogic``, exactly as `hub correlate` runs it, under the
collector thresholds of hub/gc_policy.py that `hub correlate` and `hub worker` set ("engine"), and
again under CPython's default thresholds ("engine-default-gc"), so the policy's share is visible.

Baselines in the same run, over the same ``Event`` list, interleaved with the engine runs:
  dict-loop:    ``for e in events: table[e.site_id] = e.event_time`` (one dict update per event)
  asyncio-loop: the same dict update in a consumer coroutine fed through an ``asyncio.Queue``
                (the "bare asyncio loop with a dict update" of docs/faust.md's Speed section)
Each is run ``--repeat`` times (default 3); best and median are printed, and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import gc
import io
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import best_median, load_scenario, loadavg1, machine_note, pin_to_cpu
from hub.core.dedup import DedupLogic
from hub.core.engine import CorrelationEngine
from hub.core.registry import MemoryBuildingRegistry
from hub.core.rule_loading import load_rules
from hub.core.rules import RulePack
from hub.gc_policy import THROUGHPUT_THRESHOLDS
from hub.model.events import Event
from hub.settings import Settings

GOAL_EVENTS_PER_S = 100_000
DEFAULT_GC = (700, 10, 10)  # CPython's own thresholds


@dataclasses.dataclass
class Run:
    name: str
    wall_s: float
    cpu_s: float
    events: int
    incidents: int = 0
    load: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.wall_s

    @property
    def cpu_rate(self) -> float:
        return self.events / self.cpu_s if self.cpu_s > 0 else float("inf")


def _timed(name: str, events: list[Event], body: Callable[[], int],
           thresholds: tuple[int, int, int] = THROUGHPUT_THRESHOLDS) -> Run:
    gc.collect()
    gc.set_threshold(*thresholds)
    load = loadavg1()
    w0, c0 = time.perf_counter(), time.process_time()
    incidents = body()
    w1, c1 = time.perf_counter(), time.process_time()
    return Run(name, w1 - w0, c1 - c0, len(events), incidents, load)


def engine_body(pack: RulePack, registry: MemoryBuildingRegistry,
                events: list[Event]) -> Callable[[], int]:
    def body() -> int:
        engine = CorrelationEngine(pack, registry, dedup=DedupLogic())
        process = engine.process
        incidents = 0
        for event in events:
            result = process(event)
            if result.incidents:
                incidents += len(result.incidents)
        incidents += len(engine.flush().incidents)
        return incidents
    return body


def dict_body(events: list[Event]) -> Callable[[], int]:
    def body() -> int:
        table: dict[str, int] = {}
        for event in events:
            table[event.site_id] = event.event_time
        return 0
    return body


def asyncio_body(events: list[Event]) -> Callable[[], int]:
    async def main() -> None:
        queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=1000)
        table: dict[str, int] = {}

        async def produce() -> None:
            for event in events:
                await queue.put(event)
            await queue.put(None)

        async def consume() -> None:
            while (event := await queue.get()) is not None:
                table[event.site_id] = event.event_time

        await asyncio.gather(produce(), consume())

    def body() -> int:
        asyncio.run(main())
        return 0
    return body


def only_rule(pack: RulePack, rule_id: str) -> RulePack:
    return dataclasses.replace(pack, rules=tuple(r for r in pack.rules if r.id == rule_id))


def profile_engine(pack: RulePack, registry: MemoryBuildingRegistry, events: list[Event],
                   top: int) -> str:
    prof = cProfile.Profile()
    prof.runcall(engine_body(pack, registry, events))
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def summarize(runs: list[Run]) -> dict[str, Any]:
    rates = [r.rate for r in runs]
    best, median = best_median(rates)
    return {
        "best_ev_s": round(best),
        "median_ev_s": round(median),
        "best_us_per_event": round(1e6 / best, 3),
        "median_us_per_event": round(1e6 / median, 3),
        "median_cpu_ev_s": round(statistics.median(r.cpu_rate for r in runs)),
        "runs": [{"wall_s": round(r.wall_s, 3), "cpu_s": round(r.cpu_s, 3), "load1": r.load,
                  "incidents": r.incidents} for r in runs],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--in", dest="path", type=Path,
                   help="interchange JSON lines (default: simulate)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--buildings", type=int, default=400)
    p.add_argument("--days", type=int, default=9)
    p.add_argument("--rules", type=Path, help="rules directory (default: topology/rules)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--cpu", type=int, default=1, help="pin to this core; -1: do not pin")
    p.add_argument("--per-rule", action="store_true", help="also time each rule on its own")
    p.add_argument("--profile", type=int, nargs="?", const=25, default=0, metavar="TOP",
                   help="print cProfile's TOP functions by own time (one extra engine run)")
    p.add_argument("--min-events", type=int, default=1_000_000)
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)

    settings = Settings.from_env()
    pack = load_rules(args.rules or settings.rules_dir)
    print(f"# engine_bench  {machine_note()}  {pin_to_cpu(args.cpu)}", flush=True)

    t0 = time.perf_counter()
    sc = load_scenario(settings, path=args.path, seed=args.seed, buildings=args.buildings,
                       days=args.days)
    events = sc.events
    kinds: dict[str, int] = {}
    for e in events:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    print(f"input: {sc.source}: {len(events):,} events, {len(sc.registry):,} buildings, "
          f"decoded in {time.perf_counter() - t0:.1f} s (not timed)")
    print("  by kind: " + ", ".join(f"{k} {n:,}" for k, n in sorted(kinds.items())))
    if len(events) < args.min_events:
        print(f"input has fewer than {args.min_events:,} events", file=sys.stderr)
        return 2
    gc.collect()
    gc.freeze()  # the input stays alive throughout; keep it out of every collection

    engine = engine_body(pack, sc.registry, events)
    # "engine" runs under hub/gc_policy.py's thresholds, as `hub correlate` and `hub worker` do;
    # "engine-default-gc" is the same engine under CPython's default thresholds.
    bodies: dict[str, tuple[Callable[[], int], tuple[int, int, int]]] = {
        "engine": (engine, THROUGHPUT_THRESHOLDS),
        "engine-default-gc": (engine, DEFAULT_GC),
        "dict-loop": (dict_body(events), THROUGHPUT_THRESHOLDS),
        "asyncio-loop": (asyncio_body(events), THROUGHPUT_THRESHOLDS),
    }
    runs: dict[str, list[Run]] = {name: [] for name in bodies}
    for i in range(args.repeat):  # interleaved, so a burst of load hits every contender alike
        for name, (body, thresholds) in bodies.items():
            run = _timed(name, events, body, thresholds)
            runs[name].append(run)
            extra = f"  incidents {run.incidents:,}" if name.startswith("engine") else ""
            print(f"  run {i + 1} {name:<17} {run.wall_s:7.2f} s wall {run.cpu_s:7.2f} s cpu  "
                  f"{run.rate:>12,.0f} ev/s  load1 {run.load:.2f}{extra}", flush=True)

    summary = {name: summarize(rs) for name, rs in runs.items()}
    eng, base, aio = summary["engine"], summary["dict-loop"], summary["asyncio-loop"]
    print()
    print(f"{'':<19}{'best ev/s':>14}{'median ev/s':>14}{'median µs/ev':>14}{'cpu-time ev/s':>15}")
    for name, s in summary.items():
        print(f"{name:<19}{s['best_ev_s']:>14,}{s['median_ev_s']:>14,}"
              f"{s['median_us_per_event']:>14.3f}{s['median_cpu_ev_s']:>15,}")
    ratio = eng["median_ev_s"] / base["median_ev_s"]
    ratio_aio = eng["median_ev_s"] / aio["median_ev_s"]
    print(f"ratio engine/dict-loop    (median): {ratio:.4f}  (engine costs {1 / ratio:,.0f}x "
          "a bare dict update)")
    print(f"ratio engine/asyncio-loop (median): {ratio_aio:.3f}")
    print(f"incidents (versions emitted): {eng['runs'][0]['incidents']:,}")
    default_gc = summary["engine-default-gc"]
    print(f"ratio engine/engine-default-gc (median): "
          f"{eng['median_ev_s'] / default_gc['median_ev_s']:.3f}  (the gc policy's share)")
    met = eng["median_ev_s"] >= GOAL_EVENTS_PER_S
    print(f"goal >= {GOAL_EVENTS_PER_S:,} ev/s on one core, judged on the median: "
          f"{'MET' if met else 'NOT MET'} (median {eng['median_ev_s']:,}, best "
          f"{eng['best_ev_s']:,}, cpu-time median {eng['median_cpu_ev_s']:,}; with CPython's "
          f"default gc: median {default_gc['median_ev_s']:,})")

    per_rule: dict[str, Any] = {}
    if args.per_rule:
        print("\nper rule (engine with only that rule + dedup + suppression; one run each):")
        full_us = eng["median_us_per_event"]
        for rule in pack.rules:
            body = engine_body(only_rule(pack, rule.id), sc.registry, events)
            run = _timed(rule.id, events, body)
            us = 1e6 / run.rate
            per_rule[rule.id] = {"ev_s": round(run.rate), "us_per_event": round(us, 3),
                                 "incidents": run.incidents, "load1": run.load}
            print(f"  {rule.id:<24} {rule.type:<10} {run.rate:>12,.0f} ev/s {us:8.3f} µs/ev "
                  f"({us / full_us:5.1%} of full)  incidents {run.incidents:,}", flush=True)

    if args.profile:
        print("\ncProfile of one engine run (its own overhead slows it down ~2x):")
        print(profile_engine(pack, sc.registry, events, args.profile))

    if args.json:
        args.json.write_text(json.dumps({
            "machine": machine_note(), "input": sc.source, "events": len(events),
            "by_kind": kinds, "summary": summary, "ratio_engine_dict": ratio,
            "ratio_engine_asyncio": ratio_aio, "goal_met": met, "per_rule": per_rule,
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
