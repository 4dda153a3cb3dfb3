"""Cycle-collector settings for the processes that run the engine (hub correlate, hub worker).

Per event the engine allocates a few small containers (heap entries, window entries, per-key
states) that live as long as a window: hundreds to thousands of events. With CPython's default
thresholds (700, 10, 10) the young generation is collected every 700 allocations, so each of these
objects is walked by several collections before it dies; on the 1.09 M-event benchmark that was a
quarter of the engine's time (BENCHMARKS.md). The engine builds no reference cycles (reference
counting frees everything it drops), so collecting less often changes no result; the garbage cycles
that other libraries leave wait a little longer, bounded by the first threshold.
"""

from __future__ import annotations

import gc

#: Young-generation collection every 100,000 container allocations instead of 700; the older
#: generations follow at 50 and 100 young collections.
THROUGHPUT_THRESHOLDS = (100_000, 50, 100)


def tune_for_throughput() -> None:
    """Collect start-up garbage, freeze what survives (modules, codec, rules), raise thresholds.

    Call once, after start-up and before the event loop: frozen objects are never walked again.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THROUGHPUT_THRESHOLDS)
