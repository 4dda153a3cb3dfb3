"""A rate-limited progress line on stderr for long-running tools (record, replay)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    """Rewrites one status line at most every ``interval`` seconds (a new line when not a TTY)."""

    def __init__(
        self,
        stream: TextIO,
        label: str,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.label = label
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self._last = self.started
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._shown = False

    def rate(self, count: int) -> float:
        return count / max(self.clock() - self.started, 1e-9)

    def update(self, count: int, detail: str = "", *, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last < (self.interval if self._tty else 5 * self.interval):
            return
        self._last = now
        text = f"{self.label}: {count:,} messages ({self.rate(count):,.0f}/s){detail}"
        if self._tty:
            self.stream.write("\r\x1b[2K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        """End the status line so the summary starts on a fresh one."""
        if self._shown and self._tty:
            self.stream.write("\n")
            self.stream.flush()
