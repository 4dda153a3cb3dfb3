"""``hub demo``: the hub end to end on this machine with the bundled scenario."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[2]


def add_parser(sub: Any) -> None:
    """Register ``hub demo`` and its flags; the flags' help texts are its reference."""
    p = sub.add_parser("demo", help="run the whole hub locally on a bundled scenario",
                       description="Start the local stack, recreate the topics, start a worker, "
                       "replay a scenario and print incidents as they arrive.")
    p.add_argument("--scenario", type=Path, default=_ROOT / "samples" / "scenario.jsonl")
    p.add_argument("--labels", type=Path, default=_ROOT / "samples" / "scenario.labels.jsonl")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """The demo's own exit status (see hub.demo.run_demo)."""
    from hub.demo import run_demo
    from hub.settings import Settings

    return run_demo(Settings.from_env(), args.scenario, args.labels, verbose=args.verbose)
