"""The worker's malloc settings take effect on glibc (the machines the hub runs on).

At the top of tests/unit because hub/malloc_policy.py is at the top of hub/.
"""

from __future__ import annotations

import platform

import pytest

from hub.malloc_policy import return_big_buffers


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_takes_the_fixed_threshold_and_the_arena_cap() -> None:
    assert return_big_buffers() is True


def test_the_supervised_worker_starts_with_the_malloc_environment() -> None:
    import sys

    from hub.malloc_policy import child_environment
    from hub.runtime.supervise import supervise

    env = child_environment({"PATH": "/bin", "MALLOC_ARENA_MAX": "4"})
    assert env["MALLOC_ARENA_MAX"] == "4" and env["MALLOC_MMAP_THRESHOLD_"] == "131072"
    probe = ("import os, sys; sys.exit(0 if os.environ.get('MALLOC_ARENA_MAX') and "
             "os.environ.get('MALLOC_MMAP_THRESHOLD_') else 3)")
    assert supervise([sys.executable, "-c", probe], say=lambda _t: None) == 0
