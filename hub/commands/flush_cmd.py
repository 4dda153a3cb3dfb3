"""``hub flush``: tell the live workers the input has ended, as the end of a file does offline.

For replays and tests: every open window closes, pending absences fire, every incident reaches its
final version. Events that arrive afterwards for the time already flushed (up to the newest
event each engine had seen) are LATE (dead letters); newer ones are correlated as usual. Send it
only once the workers have consumed the replay (``--wait`` checks the consumer lag first).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from hub.commands.argtypes import seconds_or_zero


def add_parser(sub: Any) -> None:
    """Register ``hub flush`` and its flags; the flags' help texts are its reference."""
    p = sub.add_parser("flush", help="end of input for replays/tests: close every window",
                       description=__doc__)
    p.add_argument("--wait", type=seconds_or_zero, default=60.0,
                   help="seconds to wait for the workers to catch up with the source topics "
                   "before flushing (0: flush at once)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 once the flush was sent, 1 when workers are still behind after ``--wait`` (nothing
    sent)."""
    from hub.runtime.control import send_flush, wait_caught_up
    from hub.settings import Settings

    settings = Settings.from_env()
    if args.wait > 0:
        lag = wait_caught_up(settings, timeout=args.wait)
        if lag:
            print(f"hub flush: workers still {lag} messages behind after {args.wait:.0f}s; "
                  "not flushing (retry with a longer --wait, or check `hub worker`)",
                  file=sys.stderr)
            return 1
    sent = send_flush(settings)
    print(f"hub flush: end-of-input sent to {sent} partitions at {time.strftime('%H:%M:%S')}")
    return 0
