"""``hub stack up | down | status | install``: the local Kafka + Redis + Mosquitto without
Docker."""

from __future__ import annotations

import argparse
import sys

from hub.settings import Settings

EXIT_NOT_READY = 3


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``hub stack`` and its flags; the flags' help texts are its reference."""
    parser = subparsers.add_parser(
        "stack", help="start/stop/inspect the local Kafka (KRaft) + Redis + Mosquitto on "
        "127.0.0.1"
    )
    parser.add_argument(
        "action",
        choices=["up", "down", "status", "install", "restart-kafka"],
        help="up: start and wait until ready; down: stop what up started; status: exit 0 if all "
        "ready, else 3; install: fetch Kafka jars and redis-server only",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for readiness (up)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 on success, 1 when an action fails, 3 (EXIT_NOT_READY) when ``status`` finds it not
    ready."""
    from hub import stack

    settings = Settings.from_env()

    def say(msg: str) -> None:
        print(msg, flush=True)

    try:
        if args.action == "up":
            st = stack.up(settings, say=say, timeout=args.timeout)
        elif args.action == "down":
            stack.down(settings, say=say)
            return 0
        elif args.action == "install":
            stack.install(settings, say=say)
            return 0
        elif args.action == "restart-kafka":
            st = stack.restart_kafka(settings, say=say, timeout=args.timeout)
        else:
            st = stack.status(settings)
    except stack.StackError as exc:
        print(f"hub stack {args.action}: {exc}", file=sys.stderr)
        return 1
    for line in st.lines():
        print(line)
    return 0 if st.ready else EXIT_NOT_READY
