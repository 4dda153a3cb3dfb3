"""``hub simulate``: write a synthetic city (registry + events) and its ground-truth labels."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.replay.simulate.config import DEFAULT_START_MS, DisputeModel, SimConfig
from hub.replay.simulate.profile import PROFILES
from hub.replay.simulate.simulator import Simulator

if TYPE_CHECKING:
    from hub.replay.progress import Progress

_CST = timezone(timedelta(hours=8))


def add_parser(subparsers: Any) -> None:
    """Register ``hub simulate`` and its flags; the flags' help texts are its reference."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help="generate a synthetic city: registry, events, injected situations and their labels",
        description=(
            "Generate a realistic synthetic city as interchange JSON lines (registry records "
            "first, then events in arrival order) with background noise and one injected "
            "situation per default rule and ~40 building-days. Same arguments, same bytes."
        ),
    )
    p.add_argument("--seed", type=int, default=1,
                   help="random seed, a whole number >= 0 (default 1)")
    p.add_argument("--buildings", type=int,
                   help="number of buildings (>= 2; required unless --profile)")
    p.add_argument("--days", type=int,
                   help="number of simulated days (>= 1; required unless --profile)")
    p.add_argument("--out", type=Path, required=True, help="events file (JSON lines); - = stdout")
    p.add_argument("--labels", type=Path, help="write the ground-truth labels here (JSON lines)")
    p.add_argument(
        "--start",
        help="first simulated day, ISO-8601 (default 2025-03-03T00:00:00+08:00); a date or a "
        "time without offset is China Standard Time (+08:00); a local midnight gives the daily "
        "rhythm its meaning",
    )
    p.add_argument(
        "--situations-per-rule",
        type=int,
        help="injected situations per rule (default: one per 40 building-days, 1-50)",
    )
    p.add_argument("--no-inject", action="store_true", help="background only, no situations")
    p.add_argument("--no-background", action="store_true",
                   help="no daily background traffic (one closing report on the last day)")
    p.add_argument(
        "--dispute-histories", action="store_true",
        help="background disputes get full histories: REPORTED, ACCEPTED, MEDIATING, RESOLVED or "
        "UNRESOLVED with delays of hours to weeks (docs/toolkit.md)")
    for name, default, what in (("accept", 0.97, "accepted (受理)"),
                                ("mediate", 0.8, "mediated before their outcome"),
                                ("resolve", 0.9, "of the accepted, resolved (调处成功)")):
        p.add_argument(f"--dispute-{name}-rate", type=float, metavar="R",
                       help=f"share of disputes {what} (default {default}); implies "
                       "--dispute-histories")
    p.add_argument("--trends", type=int, default=0, metavar="N",
                   help="plant N rising trends (a steady weekly baseline, then a week of 14-20 "
                   "reports in one grid and category), labelled kind risk_trend in --labels")
    p.add_argument("--reorder-devices", action="store_true",
                   help="delay each event on its own, so that a device's events may overtake "
                   "each other (no transport does that; a harsher test of ordering): by default "
                   "a device's events arrive in its order, different devices' out of order")
    p.add_argument("--profile", choices=sorted(PROFILES),
                   help="a preset city: taian-year = a city-year whose YEAR dispute funnel is "
                   "exactly 5,872 accepted and 5,797 resolved (98.7 %%), disputes only")
    p.set_defaults(func=run)


#: ``--situations-per-rule``'s most: each situation takes a building to itself for its span
MAX_SITUATIONS_PER_RULE = 50


def parse_start(text: str | None) -> int:
    """``--start`` as epoch ms; a date or naive time is read as China Standard Time (+08:00)."""
    if text is None:
        return DEFAULT_START_MS
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(
            f"--start {text!r} is not ISO-8601; write e.g. 2025-03-03T00:00:00+08:00"
        ) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=_CST)
    return int(when.timestamp() * 1000)


def _dispute_model(args: argparse.Namespace) -> DisputeModel | None:
    rates = {name: getattr(args, f"dispute_{name}_rate")
             for name in ("accept", "mediate", "resolve")}
    given = {f"{name}_rate": value for name, value in rates.items() if value is not None}
    if not args.dispute_histories and not given:
        return None
    return DisputeModel(**given)


def make_config(args: argparse.Namespace) -> SimConfig:
    """The SimConfig the arguments ask for; ValueError says what is wrong."""
    model = _dispute_model(args)
    if args.seed < 0:  # Python's random takes -1 as 1: two seeds, one city
        raise ValueError(f"--seed {args.seed}: give a whole number >= 0")
    per_rule = args.situations_per_rule
    if per_rule is not None and not 1 <= per_rule <= MAX_SITUATIONS_PER_RULE:
        raise ValueError(f"--situations-per-rule {per_rule}: give 1-{MAX_SITUATIONS_PER_RULE} "
                         "(--no-inject for none)")
    if args.profile is None:
        if args.buildings is None or args.days is None:
            raise ValueError("--buildings and --days are required (or give --profile NAME)")
        return SimConfig(
            seed=args.seed,
            buildings=args.buildings,
            days=args.days,
            start_ms=parse_start(args.start),
            situations_per_rule=args.situations_per_rule,
            inject=not args.no_inject,
            background=not args.no_background,
            disputes=model,
            trends=args.trends,
            reorder_devices=args.reorder_devices,
        )
    for flag, value in (("--days", args.days), ("--situations-per-rule", args.situations_per_rule),
                        ("--no-inject", args.no_inject or None),
                        ("--no-background", args.no_background or None)):
        if value is not None:
            raise ValueError(f"--profile {args.profile} sets {flag} itself; leave it out")
    extra: dict[str, Any] = {}
    if args.start is not None:
        start = datetime.fromtimestamp(parse_start(args.start) / 1000, tz=_CST)
        if (start.month, start.day, start.hour, start.minute, start.second) != (1, 1, 0, 0, 0):
            raise ValueError(f"--profile {args.profile}: --start must be 1 January 00:00 "
                             "(+08:00) of the year to simulate")
        extra["year"] = start.year
    if args.buildings is not None:
        extra["buildings"] = args.buildings
    cfg = PROFILES[args.profile](args.seed, trends=args.trends, **extra)
    if model is not None:
        cfg = replace(cfg, disputes=model)
    return cfg


def run(args: argparse.Namespace) -> int:
    """0 when the city was written, 2 on usage errors (bad config or constraints)."""
    from hub.commands.paths import first_problem, output_problem, same_file_problem
    from hub.replay.progress import Progress

    problem = first_problem(
        output_problem(args.out, "--out"),
        output_problem(args.labels, "--labels") if args.labels is not None else None,
        same_file_problem((args.out, "--out"), (args.labels, "--labels")))
    if problem:  # checked before anything is written: no half-made pair of files
        print(f"hub simulate: {problem}", file=sys.stderr)
        return 2
    try:
        cfg = make_config(args)
        began = time.perf_counter()
        sim = Simulator(cfg)
    except ValueError as exc:
        print(f"hub simulate: {exc}", file=sys.stderr)
        return 2
    progress = Progress(sys.stderr, "hub simulate", unit="lines", tty_only=True)
    try:
        lines = _write_lines(sim, args.out, progress)
    except OSError as exc:
        if isinstance(exc, BrokenPipeError) and str(args.out) == "-":
            raise  # `| head`: 141, as for `cat` (hub/cli.py)
        print(f"hub simulate: --out {args.out}: cannot write ({exc.strerror or exc}); the "
              "lines written so far are incomplete", file=sys.stderr)
        return 1
    if args.labels is not None:
        try:
            with open(args.labels, "w", encoding="utf-8") as handle:
                for text in sim.label_lines():
                    handle.write(text + "\n")
        except OSError as exc:
            print(f"hub simulate: --labels {args.labels}: cannot write ({exc.strerror or exc});"
                  f" {args.out} was written, the labels were not", file=sys.stderr)
            return 1
    elapsed = time.perf_counter() - began
    counts = sim.counts
    events = sum(v for k, v in counts.items() if k not in ("duplicates", "situations"))
    detail = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    print(
        f"hub simulate: {lines:,} lines ({events:,} events + duplicates + registry) in "
        f"{elapsed:.1f} s ({lines / max(elapsed, 1e-9):,.0f} lines/s) -> {args.out}; {detail}",
        file=sys.stderr,
    )
    return 0


def _write_lines(sim: Simulator, out_path: Path | str, progress: Progress) -> int:
    """The city's lines to ``out_path`` ('-': stdout) in blocks; how many were written."""
    lines = 0
    out = sys.stdout if str(out_path) == "-" else open(out_path, "w", encoding="utf-8")
    try:
        batch: list[str] = []
        for line in sim.lines():
            batch.append(line)
            if len(batch) >= 10_000:
                out.write("\n".join(batch) + "\n")
                lines += len(batch)
                batch.clear()
                progress.update(lines)
        if batch:
            out.write("\n".join(batch) + "\n")
            lines += len(batch)
    finally:
        progress.close()
        if out is not sys.stdout:
            out.close()
    return lines
