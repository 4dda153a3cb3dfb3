"""``hub worker`` restarts its worker when it stops itself, as systemd or Kubernetes would.

A worker exits with status 70 when only a new process can go on (a fenced or fatally failed
transactional producer, a Kafka call that never returns, a batch that raised: hub/runtime/app.py
``run_worker``) rather than commit what it did not deliver. Its restart resumes from the last
commit and the changelog. Run bare, that exit would leave nobody consuming; so by default
``hub worker`` is a small parent that runs the worker as a child and restarts it after such an
exit, or after it was killed by a signal it was not sent by the parent (the kernel's OOM killer,
a crash), backing off and giving up after too many restarts in a row; any other exit is passed
on, said in one line when not 0. Signals to the parent go to the child; if the parent is killed,
the child is killed too (Linux parent-death signal).
``--no-supervise`` runs the worker in-process for supervisors of your own. No Kafka client here:
the parent stays small.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from types import FrameType

from hub.malloc_policy import child_environment

#: Exit status of a worker that stopped itself (see hub/runtime/app.py ``run_worker``).
EXIT_RESTARTABLE = 70
MAX_RESTARTS = 10  # ... within RESTART_WINDOW_S: then the fault is not transient; give up
RESTART_WINDOW_S = 600.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL us when the parent dies (Linux; elsewhere a no-op)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _signal_name(number: int) -> str:
    try:
        return f"{signal.Signals(number).name} ({number})"
    except ValueError:
        return str(number)


def supervise(argv: Sequence[str], *, say: Callable[[str], None] | None = None,
              max_restarts: int = MAX_RESTARTS, window_s: float = RESTART_WINDOW_S,
              first_delay_s: float = 1.0) -> int:
    """Run ``argv`` until it exits other than 70 or we are told to stop; its status is ours."""
    tell = say or (lambda text: print(f"hub worker: {text}", file=sys.stderr, flush=True))
    child: subprocess.Popen[bytes] | None = None
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    restarts: deque[float] = deque()
    delay = first_delay_s
    try:
        while True:
            started = time.monotonic()
            child = subprocess.Popen(list(argv), preexec_fn=_die_with_parent,
                                     env=child_environment())
            rc = child.wait()
            status = rc if rc >= 0 else 128 - rc  # killed by signal N: 128 + N, like a shell
            if stopping:
                return status
            if rc < 0:  # not by us: the kernel's OOM killer, an operator's kill -9, a crash
                why = f"was killed by signal {_signal_name(-rc)}"
            elif rc == EXIT_RESTARTABLE:
                why = f"stopped itself (status {rc}, see its log above)"
            else:
                if rc != 0:
                    tell(f"the worker exited with status {rc}; not restarting it (see its log "
                         "above)")
                return status
            now = time.monotonic()
            restarts.append(now)
            while restarts and now - restarts[0] > window_s:
                restarts.popleft()
            if len(restarts) > max_restarts:
                tell(f"the worker stopped {len(restarts)} times in {window_s:.0f} s; "
                     "giving up (see its log above)")
                return status
            if now - started > 60:
                delay = first_delay_s  # it ran a while: a new fault, not the same one again
            tell(f"the worker {why}; restarting it in {delay:.0f} s ({len(restarts)} "
                 f"restart(s) in {window_s:.0f} s)")
            deadline = time.monotonic() + delay
            while not stopping and time.monotonic() < deadline:
                time.sleep(0.1)
            if stopping:
                return 0
            delay = min(delay * 2, 30.0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
