"""Latency: alerts in seconds (BENCHMARKS.md §5).

    python -m benchmarks.latency_bench                 # 4 min live + the offline retraction count
    python -m benchmarks.latency_bench --minutes 10

Two parts, figures printed with PASS/FAIL per goal:

1. Live. The soak's machinery (benchmarks/soak.py, ``--latency-goals``): a private stack, one
   supervised `hub worker` with its defaults (early alerts on), all five sources at ``--rate``
   events/s with event_time = now, a situation of a default rule planted every ``--plant-every``
   seconds. For each situation: wall time from producing its completing event to this reader
   getting the incident's first record (PROVISIONAL, or CONFIRMED if none came first) and its
   CONFIRMED final version. Goals: first publication p99 <= 1 s; confirmed p99 <= the rule's
   lateness + 3 s; and, as in the soak, every expected confirmed incident published while the
   traffic flows, equal to `hub correlate` over the recorded events.
2. Offline. `hub simulate`'s city (out-of-order arrival: devices up to 25 s late, grid reports up
   to 6 h, each device's own events in its order) through the eager and confirmed engines in line
   order, as `hub correlate --early` does: how many provisional incidents were retracted (goal
   <= 1 % of them), and that the CONFIRMED versions are exactly those of the engine alone (none
   missed, none changed). Then the same city with ``--reorder-devices`` (a device's events
   overtaking each other too, which no transport does: the arrival order before 2026-12-06), for
   reference: its retractions are printed, its CONFIRMED versions must still be the engine's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks import soak
from hub.codec import event_enums, event_fields, load_codec, read_jsonl, to_building, to_event
from hub.core.dedup import DedupLogic
from hub.core.early import early_engines
from hub.core.engine import CorrelationEngine
from hub.core.registry import MemoryBuildingRegistry
from hub.core.rule_loading import load_rules
from hub.model.events import REGISTRY_KIND
from hub.model.incidents import CONFIRMED, PROVISIONAL, RETRACTED
from hub.replay.simulate.config import SimConfig
from hub.replay.simulate.simulator import simulate
from hub.settings import Settings


def offline_retractions(*, seed: int, buildings: int, days: int, per_rule: int,
                        max_retracted: float | None, reorder_devices: bool = False) -> bool:
    """Part 2 over one city; True when its goals hold (``max_retracted`` None: the share is
    printed, not judged)."""
    settings = Settings.from_env()
    codec = load_codec(settings.schemas_dir)
    pack = load_rules(settings.rules_dir, event_fields(codec), event_enums(codec))
    with tempfile.TemporaryDirectory(prefix="hublat-") as tmp:
        city = Path(tmp) / "city.jsonl"
        sim = simulate(SimConfig(seed=seed, buildings=buildings, days=days,
                                 situations_per_rule=per_rule, reorder_devices=reorder_devices))
        city.write_text("".join(line + "\n" for line in sim.lines()), encoding="utf-8")
        lines = list(read_jsonl(city, pseudonym_key=settings.pseudonym_key, codec=codec))
    started = time.perf_counter()
    registry, plain_registry = MemoryBuildingRegistry(), MemoryBuildingRegistry()
    early = early_engines(pack, registry, dedup=DedupLogic())
    plain = CorrelationEngine(pack, plain_registry, dedup=DedupLogic())
    out, alone = [], []
    events = 0
    for line in lines:
        if line.kind is None or line.record is None or line.error is not None:
            continue
        if line.kind == REGISTRY_KIND:
            registry.put(to_building(line.record))
            plain_registry.put(to_building(line.record))
            continue
        events += 1
        event = to_event(line.kind, line.record)
        out += early.process(event).incidents
        alone += plain.process(event).incidents
    out += early.flush().incidents
    alone += plain.flush().incidents
    took = time.perf_counter() - started
    confirmed = [i for i in out if i.status == CONFIRMED]
    same = [i.to_record() | {"status": CONFIRMED} for i in confirmed] == [
        i.to_record() for i in alone]
    provisional = {i.incident_id for i in out if i.status == PROVISIONAL}
    retracted = Counter(i.rule_id for i in out if i.status == RETRACTED)
    unconfirmed_early = len({i.incident_id for i in confirmed} - provisional)
    share = 100.0 * sum(retracted.values()) / max(1, len(provisional))
    print(f"\n## offline: hub simulate --seed {seed} --buildings {buildings} --days {days} "
          f"--situations-per-rule {per_rule}{' --reorder-devices' if reorder_devices else ''}: "
          f"{events:,} events in line (arrival) order, {took:.1f} s for both engines")
    print(f"  provisional incidents {len(provisional)}, retracted {sum(retracted.values())} "
          f"({share:.1f} %): {dict(sorted(retracted.items())) or 'none'}")
    print(f"  confirmed incident ids {len({i.incident_id for i in confirmed})}, of which "
          f"{unconfirmed_early} had no provisional version under the same id; CONFIRMED versions "
          f"{'==' if same else '!='} the engine alone ({len(confirmed)} vs {len(alone)})")
    ok_share = max_retracted is None or share <= max_retracted
    ok_same = same and len(alone) > 0
    if max_retracted is not None:
        print(f"{'PASS' if ok_share else 'FAIL'}  retracted <= {max_retracted:g} % of "
              f"provisional: {share:.1f} %")
    print(f"{'PASS' if ok_same else 'FAIL'}  no CONFIRMED incident missed or changed")
    return ok_share and ok_same


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=4.0, help="live part: minutes of traffic")
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--plant-every", type=float, default=5.0)
    p.add_argument("--tail", type=float, default=60.0)
    p.add_argument("--skip-live", action="store_true", help="only the offline part")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--buildings", type=int, default=120)
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--situations-per-rule", type=int, default=20)
    p.add_argument("--max-retracted", type=float, default=1.0, help="goal, %% of provisional")
    args, rest = p.parse_known_args(argv)
    status = 0
    if not args.skip_live:
        status = soak.main(["--minutes", f"{args.minutes:g}", "--rate", f"{args.rate:g}",
                            "--plant-every", f"{args.plant_every:g}", "--tail", f"{args.tail:g}",
                            "--warmup", "30", "--no-flush-check", "--latency-goals", *rest])
    city = {"seed": args.seed, "buildings": args.buildings, "days": args.days,
            "per_rule": args.situations_per_rule}
    ok = offline_retractions(**city, max_retracted=args.max_retracted)
    ok = offline_retractions(**city, max_retracted=None, reorder_devices=True) and ok
    return max(status, 0 if ok else 1)


if __name__ == "__main__":
    sys.exit(main())
