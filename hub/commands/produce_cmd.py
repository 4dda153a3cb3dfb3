"""``hub produce FILE.jsonl``: validate interchange lines and produce the good ones.

Each good line goes to its kind's topic (or ``--topic``), keyed by ``site_id`` (source events),
``building_id`` (registry) or ``incident_id``, as an Avro single-object value with a ``kind``
header. A bad line is reported as ``FILE:LINE: field: message`` and skipped, as is a line whose
delivery failed (``FILE:LINE: not delivered: why``); every good line is still delivered. The exit
status is 1 when any line was rejected or any delivery failed.

Only the hub's inputs are produced: source events and building records. Incident and dead-letter
lines are the hub's output and are refused, as is ``--topic`` naming a topic the hub writes.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from typing import Any

from hub.adapters.kafka import KafkaError
from hub.adapters.kafka.io import (
    DELIVERY_TIMEOUT_MS,
    DeliveryReport,
    KafkaIOError,
    flush,
    kafka_problem,
    make_producer,
    produce,
    topic_for_kind,
)
from hub.codec import format_error, load_codec, read_jsonl, topic_key
from hub.commands.argtypes import add_bootstrap, positive_seconds
from hub.commands.exits import EXIT_NOT_READY
from hub.model.errors import RecordError
from hub.model.events import REGISTRY_KIND, SOURCE_KINDS
from hub.observability.kafka_log import kafka_logger
from hub.settings import Settings, only_the_hub_writes

INPUT_KINDS = (*SOURCE_KINDS, REGISTRY_KIND)
#: Per-line messages printed before the rest are only counted.
SHOW = 20


def add_parser(subparsers: Any) -> None:
    """Register ``hub produce`` and its flags; the flags' help texts are its reference."""
    p = subparsers.add_parser(
        "produce",
        help="validate a JSON-lines file and produce its records",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE.jsonl", help="interchange lines; '-' reads stdin")
    p.add_argument("--topic", help="produce every line to this topic instead of its kind's")
    add_bootstrap(p)
    p.add_argument(
        "--timeout",
        type=positive_seconds,
        default=DELIVERY_TIMEOUT_MS / 1000,
        metavar="S",
        help="seconds a message may take to be delivered before it counts as failed "
        "(default: %(default)g)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 when every line was delivered, 1 when a line was rejected or not delivered, 2 on usage
    errors, 3 when Kafka does not answer (nothing sent)."""
    settings = Settings.from_env()
    if args.bootstrap:
        settings = dataclasses.replace(settings, bootstrap=args.bootstrap)
    if args.topic and only_the_hub_writes(args.topic):
        print(f"hub produce: --topic {args.topic}: only the hub writes that topic; produce "
              "source events or building records to their own topics", file=sys.stderr)
        return 2
    codec = load_codec(settings.schemas_dir)
    report = DeliveryReport()
    failed_lines: list[tuple[int, str]] = []
    rejected = queued = 0
    source = "<stdin>" if args.file == "-" else str(args.file)

    def say(text: str) -> None:
        nonlocal rejected
        rejected += 1
        if rejected <= SHOW:
            print(text, file=sys.stderr)

    #: lines the broker refused as part of a batch too large for the topic: tried again alone
    alone: list[tuple[int, Any]] = []

    def delivered(lineno: int, retry: bool = True) -> Any:
        def callback(err: Any, msg: Any) -> None:
            if err is not None and retry and err.code() == KafkaError.MSG_SIZE_TOO_LARGE:
                alone.append((lineno, msg))  # the batch was refused; this line may be fine
                return
            report.callback(err, msg)
            if err is not None:
                failed_lines.append((lineno, err.str()))
        return callback

    try:
        lines = read_jsonl(args.file, pseudonym_key=settings.pseudonym_key, codec=codec,
                           accept=INPUT_KINDS)
        producer = make_producer(settings, **{"message.timeout.ms": int(args.timeout * 1000)},
                                 logger=kafka_logger(verbose=args.verbose,
                                                     level=logging.CRITICAL))
        checked = False
        for line in lines:
            if line.error is not None or line.kind is None or line.record is None:
                assert line.error is not None
                say(format_error(line.error, source))
                continue
            try:
                value = codec.encode(line.kind, line.record)
            except RecordError as exc:
                say(f"{source}:{line.lineno}: {exc}")
                continue
            if not checked:  # before the first good line: is there a broker to send it to?
                checked = True
                # --topic names one topic for every line: a missing one is "not ready" too
                problem = kafka_problem(producer, settings.bootstrap, args.topic,
                                        timeout=min(10.0, args.timeout))
                if problem:
                    print(f"hub produce: {problem}; nothing was sent", file=sys.stderr)
                    return EXIT_NOT_READY
            try:
                produce(
                    producer,
                    args.topic or topic_for_kind(line.kind),
                    value,
                    key=topic_key(line.kind, line.record),
                    headers={"kind": line.kind.encode()},
                    on_delivery=delivered(line.lineno),
                )
            except KafkaIOError as exc:  # this message alone (e.g. larger than allowed)
                failed_lines.append((line.lineno, str(exc)))
                continue
            queued += 1
        pending = flush(producer, args.timeout + 10)
        for lineno, msg in sorted(alone, key=lambda x: x[0]):
            # One request each: librdkafka does not split a batch the broker refused as too
            # large, so a single oversize line would otherwise cost its whole batch.
            try:
                produce(producer, msg.topic(), msg.value(), key=msg.key(),
                        headers=dict(msg.headers() or []), on_delivery=delivered(lineno, False))
            except KafkaIOError as exc:
                failed_lines.append((lineno, str(exc)))
                continue
            pending += flush(producer, args.timeout + 10)
    except OSError as exc:
        print(f"hub produce: cannot read {source}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if rejected > SHOW:
        print(f"hub produce: ... and {rejected - SHOW} more rejected lines", file=sys.stderr)
    for lineno, why in sorted(failed_lines)[:SHOW]:
        print(f"{source}:{lineno}: not delivered: {why}", file=sys.stderr)
    if len(failed_lines) > SHOW:
        print(f"hub produce: ... and {len(failed_lines) - SHOW} more lines not delivered",
              file=sys.stderr)
    if report.errors:
        print(
            f"hub produce: check that Kafka runs at {settings.bootstrap} (`hub stack status`) and "
            "the topic exists (`hub topics apply`; topics are not created automatically)",
            file=sys.stderr,
        )
    if pending:
        print(
            f"hub produce: {pending} message(s) not delivered within {args.timeout:g}s; "
            f"is Kafka running at {settings.bootstrap}? (`hub stack up`)",
            file=sys.stderr,
        )
    failed = len(failed_lines) + pending
    topics = ", ".join(f"{t}: {n}" for t, n in sorted(report.by_topic.items()))
    print(
        f"produced {report.delivered}, rejected {rejected}"
        + (f", failed {failed}" if failed else "")
        + (f" ({topics})" if topics else "")
    )
    return 1 if rejected or failed or report.delivered != queued else 0
