"""A rate-limited progress line on stderr for long-running tools (record, replay, simulate,
correlate)."""

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
        unit: str = "messages",
        total: int | None = None,
        tty_only: bool = False,
    ) -> None:
        """``total``: how many there will be, for an ETA; ``tty_only``: say nothing at all when
        ``stream`` is not a terminal (a file or a pipe gets only the command's summary)."""
        self.stream = stream
        self.label = label
        self.interval = interval
        self.clock = clock
        self.unit = unit
        self.total = total
        self.started = clock()
        self._last = self.started
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._silent = tty_only and not self._tty
        self._shown = False

    def rate(self, count: int) -> float:
        """``count`` per second since the start, by ``clock`` (never divides by zero)."""
        return count / max(self.clock() - self.started, 1e-9)

    def update(self, count: int, detail: str = "", *, force: bool = False) -> None:
        """Show progress at ``count``, at most once per interval (5x less often when not a terminal,
        to keep logs short); ``force`` shows it regardless."""
        now = self.clock()
        every = self.interval if self._tty else 5 * self.interval
        if self._silent or (not force and now - self._last < every):
            return
        self._last = now
        rate = self.rate(count)
        of = ""
        if self.total:
            left = max(0, self.total - count) / max(rate, 1e-9)
            of = f" of {self.total:,} ({100 * count / self.total:.0f} %, ETA {left:,.0f} s)"
        text = f"{self.label}: {count:,}{of} {self.unit} ({rate:,.0f}/s){detail}"
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
