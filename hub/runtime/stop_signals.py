"""SIGTERM and SIGINT for the worker, taken by a thread of their own.

A Python signal handler runs in the main thread, between two bytecodes. The worker's main thread
spends its time in librdkafka calls, and some block in C for seconds when the broker is gone:
`committed()` in a rebalance callback waited out its 10 s timeout, and a SIGTERM sent 3 s after
the broker stopped was handled 6.8 s later (tests/integration/test_worker_faults.py,
``test_sigterm_stops_a_worker_within_5s_with_the_broker_down``). So the signals are blocked in
every thread and one thread waits for them with ``sigwait``: it asks the worker to stop and
starts the deadline after which the process exits whatever the main thread is doing.

``install`` must run before any other thread exists (librdkafka's, the metrics server's): a
thread inherits its creator's signal mask, and a signal is delivered to any thread that does
not block it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: After a stop request the process is gone within this many seconds: 4, not the 5 promised, so
#: that a supervising ``hub worker`` parent, which exits after its child, keeps inside them on
#: a loaded machine (an outside probe saw the parent leave 1.3-2 s after a 4.5 s child).
STOP_DEADLINE_S = 4.0

_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class StopSignals:
    """Turns SIGTERM/SIGINT into a stop request and a hard deadline."""

    def __init__(self, deadline_s: float = STOP_DEADLINE_S) -> None:
        self.deadline_s = deadline_s
        #: set at the first signal; the worker's loop checks it between batches
        self.requested = threading.Event()
        self._on_stop: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def install(self) -> None:
        """Block the signals in this (the main) thread and every thread created after it, and
        start the thread that waits for them."""
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        threading.Thread(target=self._wait, name="hub-stop-signals", daemon=True).start()

    def on_stop(self, callback: Callable[[], None]) -> None:
        """What a stop request does (set the pipeline's stop flag); called at once if the
        request came before."""
        with self._lock:
            self._on_stop = callback
            already = self.requested.is_set()
        if already:
            callback()

    def request(self, signum: int) -> None:
        """A stop request, as from the signal ``signum`` (the first one counts)."""
        with self._lock:
            if self.requested.is_set():
                return
            self.requested.set()
            callback = self._on_stop
        log.info("signal %d: stopping (at most %.1fs)", signum, self.deadline_s)
        timer = threading.Timer(self.deadline_s, self._hard_exit)
        timer.daemon = True
        timer.start()
        if callback is not None:
            callback()

    def _wait(self) -> None:
        while True:
            self.request(signal.sigwait(_SIGNALS))

    def _hard_exit(self) -> None:
        log.warning("Kafka did not let the worker stop in %.1fs; exiting without waiting for it "
                    "(the open batch stays uncommitted)", self.deadline_s)
        logging.shutdown()
        time.sleep(0.05)
        os._exit(0)


__all__ = ["STOP_DEADLINE_S", "StopSignals"]
