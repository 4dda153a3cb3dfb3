"""``hub flush``: tell the live workers the input has ended, as the end of a file does offline.

For replays and tests: every open window closes, pending absences fire, every incident reaches its
final version. Events that arrive afterwards for the time already flushed (up to the newest
event each engine had seen) are LATE (dead letters); newer ones are correlated as usual. Send it
only once the workers have consumed the replay (``--wait`` checks the consumer lag first).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from typing import Any

from hub.commands.argtypes import add_bootstrap, seconds_or_zero


def add_parser(sub: Any) -> None:
    """Register ``hub flush`` and its flags; the flags' help texts are its reference."""
    p = sub.add_parser("flush", help="end of input for replays/tests: close every window",
                       description=__doc__)
    p.add_argument("--wait", type=seconds_or_zero, default=60.0,
                   help="seconds to wait for the workers to catch up with the source topics "
                   "before flushing (0: flush at once)")
    add_bootstrap(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 once the flush was sent, 1 when workers are still behind after ``--wait`` or the flush
    was not delivered, 3 when Kafka does not answer or the correlation topic is missing (nothing
    sent)."""
    import logging

    from hub.adapters.kafka import KafkaException
    from hub.adapters.kafka.io import kafka_problem, make_producer
    from hub.commands.exits import EXIT_BAD_INPUT, EXIT_NOT_READY
    from hub.observability.kafka_log import kafka_logger
    from hub.runtime.control import send_flush, wait_caught_up
    from hub.settings import CORRELATE_TOPIC, Settings

    settings = Settings.from_env()
    if args.bootstrap:
        settings = dataclasses.replace(settings, bootstrap=args.bootstrap)
    # One metadata request first, as hub produce does: Kafka down is "not ready" in one line,
    # not the KafkaException the lag check or send_flush would raise.
    probe = make_producer(settings, logger=kafka_logger(verbose=args.verbose,
                                                        level=logging.CRITICAL))
    problem = kafka_problem(probe, settings.bootstrap, CORRELATE_TOPIC, timeout=10.0)
    if problem:
        print(f"hub flush: {problem}; nothing was sent", file=sys.stderr)
        return EXIT_NOT_READY
    try:
        if args.wait > 0:
            lag = wait_caught_up(settings, timeout=args.wait)
            if lag:
                print(f"hub flush: workers still {lag} messages behind after {args.wait:.0f}s; "
                      "not flushing (retry with a longer --wait, or check `hub worker`)",
                      file=sys.stderr)
                return EXIT_BAD_INPUT
        sent = send_flush(settings)
    except KafkaException as exc:  # Kafka went away after the probe answered
        why = exc.args[0].str() if exc.args else exc
        print(f"hub flush: Kafka at {settings.bootstrap} stopped answering ({why}); the flush "
              "may not have been sent: retry once it is back", file=sys.stderr)
        return EXIT_NOT_READY
    except RuntimeError as exc:  # send_flush: not delivered
        print(f"hub flush: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"hub flush: end-of-input sent to {sent} partitions at {time.strftime('%H:%M:%S')}")
    return 0
