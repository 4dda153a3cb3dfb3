"""The ``hub`` command: one sub-command per module in ``hub/commands``.

This is the only place logging is configured. Each command module exposes
``add_parser(subparsers)`` and sets ``func`` (taking the parsed args, returning an exit status), so
commands stay small and are imported only when used.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

#: sub-command name -> module under hub.commands (module names avoid clashing with builtins).
COMMANDS: dict[str, str] = {
    "stack": "stack_cmd",
    "topics": "topics_cmd",
    "produce": "produce_cmd",
    "consume": "consume_cmd",
    "worker": "worker_cmd",
    "correlate": "correlate_cmd",
    "record": "record_cmd",
    "replay": "replay_cmd",
    "simulate": "simulate_cmd",
    "evaluate": "evaluate_cmd",
    "flush": "flush_cmd",
    "demo": "demo_cmd",
    "casework": "casework_cmd",
    "console": "console_cmd",
    "analytics": "analytics_cmd",
    "report": "report_cmd",
    "gateway": "gateway_cmd",
    "buildings": "buildings_cmd",
    "mqtt-bridge": "mqtt_bridge_cmd",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``hub`` parser; with ``only`` set, just that command's module is imported and the others
    get stub subparsers, so a command does not pay for every other command's imports."""
    parser = argparse.ArgumentParser(prog="hub", description="天罗地网 event hub")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=f"(run `hub {name} -h`)")
            continue
        try:
            mod = importlib.import_module(f"hub.commands.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"hub.commands.{module}":
                raise
            continue
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``hub``: configures logging (the only place that does) and returns the chosen
    command's exit status."""
    args_list = sys.argv[1:] if argv is None else argv
    # Import only the chosen command's module: `hub correlate` must not pay for Faust's import.
    chosen = next((a for a in args_list if not a.startswith("-")), None)
    parser = build_parser(chosen if chosen in COMMANDS else None)
    args = parser.parse_args(args_list)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from hub.commands.exits import EXIT_BROKEN_PIPE
    from hub.settings import SettingsError

    try:
        return int(args.func(args) or 0)
    except SettingsError as exc:  # a bad HUB_* variable: configuration, so usage (README)
        print(f"hub {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Whoever read stdout has gone (`hub simulate --out - | head`): stop as `cat` does, with
        # no traceback; stdout goes to /dev/null so that the exit's flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        print(f"hub {args.command}: stdout was closed (broken pipe); output stopped there",
              file=sys.stderr)
        return EXIT_BROKEN_PIPE
