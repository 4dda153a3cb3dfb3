"""``hub produce FILE.jsonl``: validate interchange lines and produce the good ones.

Each good line goes to its kind's topic (or ``--topic``), keyed by ``site_id`` (source events),
``building_id`` (registry) or ``incident_id``, as an Avro single-object value with a ``kind``
header. A bad line is reported as ``FILE:LINE: field: message`` and skipped; the exit status is 1
when any line was rejected or any delivery failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from hub.adapters.kafka_io import (
    DELIVERY_TIMEOUT_MS,
    DeliveryReport,
    KafkaIOError,
    flush,
    make_producer,
    produce,
    topic_for_kind,
)
from hub.codec import format_error, load_codec, read_jsonl, topic_key
from hub.model.errors import RecordError
from hub.settings import Settings


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "produce",
        help="validate a JSON-lines file and produce its records",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE.jsonl", help="interchange lines; '-' reads stdin")
    p.add_argument("--topic", help="produce every line to this topic instead of its kind's")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (default: HUB_BOOTSTRAP)")
    p.add_argument(
        "--timeout",
        type=float,
        default=DELIVERY_TIMEOUT_MS / 1000,
        metavar="S",
        help="seconds a message may take to be delivered before it counts as failed "
        "(default: %(default)g)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.bootstrap:
        settings = dataclasses.replace(settings, bootstrap=args.bootstrap)
    codec = load_codec(settings.schemas_dir)
    report = DeliveryReport()
    rejected = queued = 0
    source = "<stdin>" if args.file == "-" else str(args.file)
    try:
        lines = read_jsonl(args.file, pseudonym_key=settings.pseudonym_key, codec=codec)
        producer = make_producer(settings, **{"message.timeout.ms": int(args.timeout * 1000)})
        for line in lines:
            if line.error is not None or line.kind is None or line.record is None:
                assert line.error is not None
                print(format_error(line.error, source), file=sys.stderr)
                rejected += 1
                continue
            try:
                value = codec.encode(line.kind, line.record)
            except RecordError as exc:
                print(f"{source}:{line.lineno}: {exc}", file=sys.stderr)
                rejected += 1
                continue
            produce(
                producer,
                args.topic or topic_for_kind(line.kind),
                value,
                key=topic_key(line.kind, line.record),
                headers={"kind": line.kind.encode()},
                on_delivery=report.callback,
            )
            queued += 1
        pending = flush(producer, args.timeout + 10)
    except OSError as exc:
        print(f"hub produce: cannot read {source}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KafkaIOError as exc:
        print(f"hub produce: {exc}", file=sys.stderr)
        return 1
    for error, count in report.errors.items():
        print(f"hub produce: {count} message(s) not delivered: {error}", file=sys.stderr)
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
    topics = ", ".join(f"{t}: {n}" for t, n in sorted(report.by_topic.items()))
    print(
        f"produced {report.delivered}, rejected {rejected}"
        + (f", failed {report.failed + pending}" if report.failed or pending else "")
        + (f" ({topics})" if topics else "")
    )
    return 1 if rejected or report.failed or pending or report.delivered != queued else 0
