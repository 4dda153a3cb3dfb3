"""Process bookkeeping for the local stack: pidfiles, "is this pid really ours", ports, waiting.

``hub stack down`` must never kill a process it did not start, even when a stale pidfile points at
a pid the kernel has since reused. So a pid counts as ours only while its command line (or working
directory) still matches what ``up`` launched; the caller passes that predicate.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

#: Children started by this Python process, kept so they are reaped (no zombies, no
#: "subprocess still running" ResourceWarning) when a test process stops what it started.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def read_pid(pidfile: Path) -> int | None:
    """The pid stored in ``pidfile``, or None when the file is missing or unreadable."""
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def cmdline(pid: int) -> list[str]:
    """The argv of a live process; empty for zombies, vanished or foreign-namespace pids."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def cwd(pid: int) -> Path | None:
    """The working directory of ``pid`` (None when it cannot be read)."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a zombie has exited, awaiting reaping)."""
    _reap(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # Field 3 is the state; the command name in field 2 may contain spaces, so split after ')'.
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _reap(pid: int) -> None:
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[pid]
        return
    if child is None:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def spawn(argv: Sequence[str], *, cwd_dir: Path, log_file: Path) -> int:
    """Start ``argv`` detached (own session, stdin closed, output to ``log_file``); return its pid.

    Its own session keeps a Ctrl-C in the terminal that ran ``hub stack up`` from killing the
    broker.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        child = subprocess.Popen(
            list(argv),
            cwd=cwd_dir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN[child.pid] = child
    return child.pid


def stop(pid: int, *, timeout: float = 30.0, hard: bool = False) -> bool:
    """SIGTERM ``pid``, wait up to ``timeout`` for a clean exit, then SIGKILL. True if it is gone.

    A clean stop matters for Kafka: it flushes segments and writes a clean-shutdown marker, so the
    next start skips log recovery. ``hard`` sends SIGKILL at once (a simulated crash).
    """
    if not hard:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if wait_for(lambda: not alive(pid), timeout=timeout, interval=0.1):
            return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return wait_for(lambda: not alive(pid), timeout=10.0, interval=0.1)


def wait_for(check: Callable[[], bool], *, timeout: float, interval: float = 0.25) -> bool:
    """Poll ``check`` until it is true or ``timeout`` seconds pass; True when it became true.

    Readiness is always a real probe passed in here, never a fixed sleep.
    """
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_owner(port: int) -> int | None:
    """Best-effort pid of the process listening on TCP ``port`` (None if unknown, e.g. not root)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:  # gone, or not ours to read
            continue
        for fd in fds:
            try:  # one fd closed meanwhile must not hide the process's others (the listener)
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return int(proc.name)
    return None


def describe_owner(port: int) -> str:
    """``"pid 123 (redis-server ...)"`` for error messages, or ``"an unknown process"``."""
    pid = port_owner(port)
    if pid is None:
        return "an unknown process"
    return f"pid {pid} ({' '.join(cmdline(pid))[:120] or '?'})"


def tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, for error messages ("" when absent)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
