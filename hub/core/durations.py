"""Durations in rule files ("30s", "5m", "7d") as int milliseconds."""

from __future__ import annotations

import re

_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")


#: The longest duration a file may give: the hub's event times lie between 2000 and 2100, so a
#: longer window, lateness or deadline is a typo (``99999999999999999999999d`` was taken).
MAX_DURATION_MS = 100 * 365 * 86_400_000


def parse_duration(value: object) -> int:
    """Parse ``"5m"``-style text (or an int of milliseconds); errors say the accepted form."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 5m, 2h, 7d")
    ms: int | None = None
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        ms = value
    elif isinstance(value, str):
        m = _PATTERN.match(value)
        if m:
            ms = int(float(m.group(1)) * _UNITS[m.group(2)])
    if ms is None:
        raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 5m, 2h, 7d (or int ms)")
    if ms > MAX_DURATION_MS:
        raise ValueError(f"{str(value)[:40]!r} is longer than 100 years (36500d); the hub's "
                         "times lie between 2000 and 2100")
    return ms


def format_duration(ms: int) -> str:
    """The shortest exact text for ``ms`` (``90s`` -> ``90s``, 3600000 -> ``1h``), the inverse of
    parse_duration, so configs and messages show durations as people write them."""
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
