"""librdkafka's own log, through Python logging, quiet by default and never a flood.

Without a logger librdkafka prints to stderr on its own, a line per reconnect attempt: a worker
whose broker is away for minutes would write thousands. Its lines go to the ``hub.kafka`` logger
instead, warnings and errors only unless verbose, and each kind of line (its text with the digits
left out) at most once per ``every`` seconds, with how often it was repeated in between.
"""

from __future__ import annotations

import logging
import re
import time

_DIGITS = re.compile(r"\d+")


class OncePer(logging.Filter):
    """Lets a record through once per ``every`` seconds per kind of message."""

    def __init__(self, every: float = 30.0) -> None:
        super().__init__()
        self.every = every
        self._seen: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a repeat of the same message (digits ignored) within ``every`` seconds; the
        next one let through says how many were dropped. librdkafka repeats its errors many times
        a second."""
        kind = _DIGITS.sub("#", str(record.msg if not record.args else record.getMessage()))[:120]
        now = time.monotonic()
        said, repeats = self._seen.get(kind, (-1e18, 0))
        if now - said < self.every:
            self._seen[kind] = (said, repeats + 1)
            return False
        if repeats:
            record.msg = f"{record.getMessage()} (repeated {repeats} times in between)"
            record.args = ()
        self._seen[kind] = (now, 0)
        return True


#: the logger librdkafka's lines go to; :func:`kafka_logger` sets what shows
KAFKA_LOGGER = "hub.kafka"


def kafka_logger(*, verbose: bool = False, every: float = 30.0,
                 level: int = logging.WARNING) -> logging.Logger:
    """The logger to pass as librdkafka's ``logger`` (one per process).

    ``level``: what shows without ``-v``. A long-running process keeps warnings; a command that
    says in one line what went wrong (``hub consume``, ``hub produce``) passes CRITICAL, so a
    missing broker is that line, not librdkafka's reconnect log.
    """
    logger = logging.getLogger(KAFKA_LOGGER)
    logger.setLevel(logging.DEBUG if verbose else level)
    if not any(isinstance(f, OncePer) for f in logger.filters):
        logger.addFilter(OncePer(every))
    return logger
