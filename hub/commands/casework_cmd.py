"""``hub casework``: run the 综治中心's casework (cases, deadlines, escalation) in Faust."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    """Register ``hub casework`` and its flags; the flags' help texts are its reference."""
    p = sub.add_parser(
        "casework", help="run the casework: cases, deadlines and escalation",
        description="Open a case for every incident, apply operators' actions from "
        "hub.incident.actions (rejected ones go to hub.deadletter with the reason), escalate "
        "what is not acknowledged in time, and publish every change on hub.cases.")
    p.add_argument("--dispatch", type=Path, default=None,
                   help="deadlines per risk level (default HUB_DISPATCH_FILE, "
                   "topology/dispatch.yaml)")
    p.add_argument("--clock", choices=("wall", "driven"), default="wall",
                   help="wall: tick the casework's clock topic every second from this "
                   "machine's clock (default); driven: only ticks others send move deadlines "
                   "(tests, replays)")
    p.add_argument("--loglevel", default="info", help="debug, info, warning or error")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Runs the Faust casework worker until stopped; 2 when the settings or flags are unusable."""
    from hub.casework.service import create_casework_app, run_casework
    from hub.codec import load_codec
    from hub.core.cases import load_dispatch
    from hub.model.errors import ConfigError
    from hub.settings import Settings

    settings = Settings.from_env()
    try:
        policy = load_dispatch(args.dispatch or settings.dispatch_file)
        app = create_casework_app(settings, policy, load_codec(settings.schemas_dir),
                                  clock=args.clock)
    except ConfigError as exc:
        print(f"hub casework: {exc}", file=sys.stderr)
        return 2
    return run_casework(settings, app, loglevel=args.loglevel)
