"""``hub record TOPIC... --out FILE``: capture Kafka messages byte for byte into a recording."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path
from typing import Any

from hub.commands.argtypes import add_bootstrap, positive_count
from hub.replay.progress import Progress
from hub.replay.record import RecordingError, parse_time, record
from hub.settings import Settings


def add_parser(subparsers: Any) -> None:
    """Register ``hub record`` and its flags; the flags' help texts are its reference."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "record",
        help="record topics into an Avro container file (keys, values, headers as on the wire)",
        description=(
            "Record messages of TOPIC... into an Avro object container file. Without "
            "--from-beginning or --since, records live from the end until --until, --max or "
            "Ctrl-C. Bounded runs stop when they reach the end offsets seen at the start. "
            "TIME: epoch ms, ISO-8601 with offset, or relative like -15m / -2h / -1d."
        ),
    )
    p.add_argument("topics", nargs="+", metavar="TOPIC", help="topics to record")
    p.add_argument("--out", type=Path, required=True, help="recording file to write")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--from-beginning", action="store_true", help="start at the oldest offset")
    start.add_argument("--since", metavar="TIME", help="start at the first message at/after TIME")
    p.add_argument("--until", metavar="TIME", help="stop each partition after TIME")
    p.add_argument("--max", type=positive_count, metavar="N", help="stop after N messages")
    add_bootstrap(p)
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 when recorded, 1 on a recording error, 2 on usage errors, 3 (EXIT_NOT_READY) when Kafka is
    unreachable."""
    settings = Settings.from_env()
    if args.bootstrap:
        settings = dataclasses.replace(settings, bootstrap=args.bootstrap)
    now = int(time.time() * 1000)
    try:
        since = parse_time(args.since, now) if args.since else None
        until = parse_time(args.until, now) if args.until else None
    except ValueError as exc:
        print(f"hub record: {exc}", file=sys.stderr)
        return 2
    from hub.commands.paths import output_problem

    problem = output_problem(args.out, "--out")
    if problem:
        print(f"hub record: {problem}", file=sys.stderr)
        return 2
    from hub.adapters.kafka.io import kafka_problem, make_consumer
    from hub.commands.exits import EXIT_NOT_READY
    from hub.observability.kafka_log import kafka_logger

    probe = make_consumer(settings, logger=kafka_logger(verbose=args.verbose,
                                                       level=logging.CRITICAL))
    try:
        problem = next((p for t in args.topics
                        if (p := kafka_problem(probe, settings.bootstrap, t))), None)
    finally:
        probe.close()
    if problem:
        print(f"hub record: {problem}", file=sys.stderr)
        return EXIT_NOT_READY
    if not (args.from_beginning or since is not None or until is not None or args.max):
        print("hub record: recording live from the end; Ctrl-C stops", file=sys.stderr)
    progress = None if args.quiet else Progress(sys.stderr, "recording")
    try:
        summary = record(
            settings,
            args.topics,
            args.out,
            from_beginning=args.from_beginning,
            since_ms=since,
            until_ms=until,
            max_messages=args.max,
            progress=progress,
        )
    except RecordingError as exc:
        print(f"hub record: {exc}", file=sys.stderr)
        return 1
    print(f"hub record: {summary.describe()}", file=sys.stderr)
    return 0
