"""Passes of the correlation engine alone over a file's events: what ``benchmarks.instructions
--engine`` counts.

engine_bench times the engine, and on this shared machine its wall time moves by 10-20 % within
an hour (BENCHMARKS.md §1, "Again on a slower machine"): more than most changes to the engine.
Under callgrind, this program with ``--repeat 1`` and ``--repeat 2`` differs by exactly one pass
of ``CorrelationEngine.process`` over the events (decoding and imports cancel out), as
``hub correlate`` runs it: the default rule pack, ``DedupLogic``, the hub's collector policy.
"""

from __future__ import annotations

import argparse
import gc
from pathlib import Path

from benchmarks.common import load_scenario
from benchmarks.engine_bench import engine_body
from hub.core.rule_loading import load_rules
from hub.gc_policy import THROUGHPUT_THRESHOLDS
from hub.settings import Settings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--in", dest="path", type=Path, required=True,
                   help="interchange JSON lines (registry first)")
    p.add_argument("--repeat", type=int, default=1, help="passes over the events")
    args = p.parse_args(argv)
    settings = Settings.from_env()
    scenario = load_scenario(settings, path=args.path, seed=0, buildings=0, days=0)
    pack = load_rules(settings.rules_dir)
    gc.freeze()  # the decoded input is not the engine's work (as in engine_bench)
    gc.set_threshold(*THROUGHPUT_THRESHOLDS)
    one_pass = engine_body(pack, scenario.registry, scenario.events)
    versions = sum(one_pass() for _ in range(args.repeat))
    print(f"{len(scenario.events):,} source events, {versions:,} incident versions "
          f"in {args.repeat} pass(es)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
