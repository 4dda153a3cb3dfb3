"""glibc malloc settings for the worker process: big buffers go back to the system.

The worker's transient buffers are large and short-lived: a checkpoint of a flooded key is a
multi-megabyte JSON string, its bytes and librdkafka's copy; a batch is thousands of decoded
records. glibc serves allocations over its mmap threshold (128 KiB) with mmap and returns them on
free, but after the first such free it raises the threshold up to 32 MiB, so later big buffers
come from the heap, whose freed space is reused but rarely returned; and every librdkafka thread
gets its own arena. Measured with benchmarks/flood_bench.py (BENCHMARKS.md §6): a fixed threshold
and two arenas took the flood's peak RSS from 1.65x the normal run's to 1.25x, same events/s.

The supervisor (``hub worker``) starts its child with these settings in the environment
(``child_environment``), which glibc reads before the first allocation; ``hub worker
--no-supervise`` applies them with mallopt as its first step (``return_big_buffers``), before any
Kafka client exists (arenas are per thread). In one flood_bench run the mallopt route gave 1.57x
where the environment gave 1.25x and 1.32x: prefer the environment (set it yourself when you
start the worker with --no-supervise). A no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from collections.abc import Mapping

log = logging.getLogger(__name__)

#: mallopt parameters (glibc malloc.h)
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024
ARENA_MAX = 2


def return_big_buffers() -> bool:
    """Fix the mmap threshold at 128 KiB and cap arenas at 2; True if glibc took both."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_ARENA_MAX, ARENA_MAX))
    log.debug("malloc: mmap threshold %d, arenas %d: %s", MMAP_THRESHOLD, ARENA_MAX, ok)
    return ok


#: glibc's environment names for the same two settings
ENVIRONMENT = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD), "MALLOC_ARENA_MAX": str(ARENA_MAX)}


def child_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (this process's environment) with the malloc settings, unless already set."""
    env = dict(os.environ if base is None else base)
    for name, value in ENVIRONMENT.items():
        env.setdefault(name, value)
    return env
