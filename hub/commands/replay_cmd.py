"""``hub replay FILE``: play a recording or an interchange file back into Kafka."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from hub.commands.argtypes import add_bootstrap, positive_factor
from hub.commands.exits import EXIT_NOT_READY
from hub.commands.kafka_check import quiet_kafka_problem
from hub.commands.paths import input_problem
from hub.model.events import ALL_KINDS, INCIDENT_KIND
from hub.replay.progress import Progress
from hub.replay.record import RecordingError
from hub.replay.replay import replay_file
from hub.replay.replay_plan import parse_topic_map
from hub.settings import Settings, only_the_hub_writes


def add_parser(subparsers: Any) -> None:
    """Register ``hub replay`` and its flags; the flags' help texts are its reference."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "replay",
        help="replay a recording (or interchange .jsonl) into Kafka, paced or at --max",
        description=(
            "Send the messages of a recording (hub record) or an interchange JSON-lines file to "
            "Kafka, keeping per-partition (so per-key) order and the recorded relative timing "
            "divided by --speed, or as fast as possible with --max. Exit 1 if any message was "
            "not delivered or any input line was rejected."
        ),
    )
    p.add_argument("file", type=Path, metavar="FILE", help="recording (.avro) or .jsonl")
    pace = p.add_mutually_exclusive_group(required=True)
    pace.add_argument("--speed", type=positive_factor, metavar="N",
                      help="N times the recorded pace")
    pace.add_argument("--max", action="store_true", help="as fast as possible")
    p.add_argument(
        "--shift-to-now",
        action="store_true",
        help="move message timestamps and event times so the first message is now",
    )
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="send messages of topic OLD to topic NEW (repeatable)",
    )
    p.add_argument(
        "--only",
        nargs="+",
        choices=[*ALL_KINDS, INCIDENT_KIND, "dead_letter"],
        metavar="KIND",
        help="only these kinds (perimeter_alarm, access_swipe, ...)",
    )
    p.add_argument(
        "--keep-partitions",
        action="store_true",
        help="send each recorded message to its recorded partition number (default: by key)",
    )
    add_bootstrap(p)
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 when every message was sent, 1 when any failed, 2 on usage errors and a file that is no
    readable recording, 3 when Kafka or a destination topic is not there (nothing sent)."""
    settings = Settings.from_env()
    if args.bootstrap:
        settings = dataclasses.replace(settings, bootstrap=args.bootstrap)
    try:
        topic_map = parse_topic_map(args.map)
    except ValueError as exc:
        print(f"hub replay: {exc}", file=sys.stderr)
        return 2
    for old, new in topic_map.items():
        if only_the_hub_writes(new) and not only_the_hub_writes(old):
            print(f"hub replay: --map {old}={new}: only the hub writes {new}; map a recorded "
                  "source topic to a source topic (a recording of the hub's own output may go "
                  "back to such a topic, to test the apps that read it)", file=sys.stderr)
            return 2
    problem = input_problem(args.file, "FILE", "a recording (.avro) or a .jsonl file")
    if problem:  # before any Kafka client starts: a directory was "cannot read ... Errno 21", 1
        print(f"hub replay: {problem}", file=sys.stderr)
        return 2
    problem = quiet_kafka_problem(settings, args.verbose)
    if problem:  # at once, in the sentence every command uses, not librdkafka's log lines
        print(f"hub replay: {problem}; nothing was sent", file=sys.stderr)
        return EXIT_NOT_READY
    progress = None if args.quiet else Progress(sys.stderr, "replaying")

    def report(text: str) -> None:
        print(text, file=sys.stderr)

    try:
        summary = replay_file(
            args.file,
            settings,
            None if args.max else args.speed,
            shift_to_now=args.shift_to_now,
            topic_map=topic_map,
            only=args.only,
            keep_partitions=args.keep_partitions,
            progress=progress,
            errors=report,
        )
    except RecordingError as exc:  # unreadable: 2; Kafka or a topic not there: 3
        print(f"hub replay: {exc}", file=sys.stderr)
        return exc.status
    print(f"hub replay: {summary.describe()}", file=sys.stderr)
    for error in summary.errors:
        print(f"hub replay: delivery failed: {error}", file=sys.stderr)
    if summary.failed:
        print(f"hub replay: {summary.failed:,} messages were NOT delivered", file=sys.stderr)
    return 0 if summary.ok else 1

