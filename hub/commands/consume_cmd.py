"""``hub consume TOPIC``: print the topic's records as interchange JSON lines.

Values are decoded from Avro single-object encoding (any known schema version, resolved to the
current one); dead letters show their reason and detail, bytes (the original value) as base64.
Messages that cannot be decoded are reported on stderr with their coordinates.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from typing import Any

from hub.adapters.kafka import KafkaError, KafkaException
from hub.adapters.kafka.io import kafka_problem, make_consumer
from hub.codec import load_codec, record_to_json
from hub.codec.seal import SealError, unseal
from hub.commands.argtypes import add_bootstrap, positive_count, positive_seconds
from hub.commands.exits import EXIT_NOT_READY
from hub.model.errors import RecordError
from hub.observability.kafka_log import kafka_logger
from hub.settings import Settings


def add_parser(subparsers: Any) -> None:
    """Register ``hub consume`` and its flags; the flags' help texts are its reference."""
    p = subparsers.add_parser(
        "consume",
        help="print a topic's records as JSON lines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("topic", metavar="TOPIC")
    p.add_argument(
        "--from-beginning", action="store_true", help="start at the oldest retained message"
    )
    p.add_argument("--max", type=positive_count, metavar="N", help="stop after N messages")
    p.add_argument(
        "--timeout",
        type=positive_seconds,
        metavar="S",
        help="stop after S seconds without a message (default: run until interrupted)",
    )
    p.add_argument(
        "--group", help="consumer group (default: a throw-away group that commits nothing)"
    )
    add_bootstrap(p)
    p.add_argument(
        "--unseal",
        action="store_true",
        help="show sealed dead-letter bytes (original_sealed) unsealed with HUB_DEADLETTER_KEY, "
        "e.g. to re-drive them after a fix",
    )
    p.add_argument(
        "--meta",
        action="store_true",
        help="add _topic, _partition, _offset and _key to each printed line",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 when every message printed, 1 when one could not be decoded or Kafka failed, 3 when
    Kafka or the topic is not there."""
    settings = Settings.from_env()
    if args.bootstrap:
        settings = dataclasses.replace(settings, bootstrap=args.bootstrap)
    codec = load_codec(settings.schemas_dir)
    consumer = make_consumer(settings, group_id=args.group, from_beginning=args.from_beginning,
                             logger=kafka_logger(verbose=args.verbose, level=logging.CRITICAL))
    problem = kafka_problem(consumer, settings.bootstrap, args.topic,
                            timeout=min(10.0, args.timeout or 10.0))
    if problem:
        consumer.close()
        print(f"hub consume: {problem}", file=sys.stderr)
        return EXIT_NOT_READY
    consumer.subscribe([args.topic])
    seen = bad = 0
    last = time.monotonic()
    try:
        while args.max is None or seen < args.max:
            if args.timeout is not None and time.monotonic() - last >= args.timeout:
                break
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    print(f"hub consume: topic {args.topic} does not exist yet", file=sys.stderr)
                    continue
                if err.fatal():
                    raise KafkaException(err)
                print(f"hub consume: {err.str()}", file=sys.stderr)
                continue
            last = time.monotonic()
            seen += 1
            where = f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"
            value = msg.value()
            if value is None:
                line: dict[str, Any] = {"kind": "tombstone"}
                text = json.dumps(line, separators=(",", ":"))
            else:
                try:
                    kind, record = codec.decode(value)
                except RecordError as exc:
                    bad += 1
                    print(f"hub consume: {where}: {exc.reason}: {exc}", file=sys.stderr)
                    continue
                if args.unseal and kind == "dead_letter" and record.get("original_sealed"):
                    try:
                        record = {**record, "original_sealed": False, "original_value":
                                  unseal(record["original_value"], settings.deadletter_key)}
                    except SealError as exc:
                        bad += 1
                        print(f"hub consume: {where}: {exc}", file=sys.stderr)
                        continue
                text = record_to_json(kind, record, codec=codec)
            if args.meta:
                key = msg.key()
                meta = {
                    "_topic": msg.topic(),
                    "_partition": msg.partition(),
                    "_offset": msg.offset(),
                    "_key": key.decode("utf-8", "replace") if key is not None else None,
                }
                text = (
                    text[:-1]
                    + ","
                    + json.dumps(meta, ensure_ascii=False, separators=(",", ":"))[1:]
                )
            print(text, flush=True)
    except KafkaException as exc:
        print(f"hub consume: {exc}; is Kafka running at {settings.bootstrap}?", file=sys.stderr)
        return 1
    finally:
        consumer.close()
    return 1 if bad else 0
