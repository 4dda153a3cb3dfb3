"""``hub worker``'s own supervision (hub/runtime/supervise.py), with real child processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hub.runtime.supervise import EXIT_RESTARTABLE, supervise

PY = sys.executable


def _child_exiting(codes: list[int], counter: Path) -> list[str]:
    """A child that exits with codes[n] on its n-th run (the last code once they run out)."""
    script = (
        "import pathlib, sys\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) if p.exists() else 0\n"
        "p.write_text(str(n + 1))\n"
        f"codes = {codes!r}\n"
        "sys.exit(codes[min(n, len(codes) - 1)])\n"
    )
    return [PY, "-c", script]


def test_a_worker_that_stops_itself_is_restarted_until_it_ends_normally(tmp_path: Path) -> None:
    said: list[str] = []
    counter = tmp_path / "runs"
    rc = supervise(_child_exiting([EXIT_RESTARTABLE, EXIT_RESTARTABLE, 0], counter),
                   say=said.append, first_delay_s=0.05)
    assert rc == 0
    assert counter.read_text() == "3"
    assert len(said) == 2 and all("restarting" in s for s in said)


def test_other_exit_statuses_are_passed_through_without_restart(tmp_path: Path) -> None:
    said: list[str] = []
    counter = tmp_path / "runs"
    assert supervise(_child_exiting([2], counter), say=said.append) == 2  # e.g. bad rules
    assert counter.read_text() == "1"
    assert said == ["the worker exited with status 2; not restarting it (see its log above)"]


def test_a_worker_killed_by_a_signal_not_from_us_is_restarted(tmp_path: Path) -> None:
    """The OOM killer's SIGKILL left the hub without a worker and without a word."""
    said: list[str] = []
    counter = tmp_path / "runs"
    script = (
        "import os, pathlib, signal\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) if p.exists() else 0\n"
        "p.write_text(str(n + 1))\n"
        "if n == 0:\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    assert supervise([PY, "-c", script], say=said.append, first_delay_s=0.05) == 0
    assert counter.read_text() == "2"
    assert len(said) == 1 and "killed by signal SIGKILL (9); restarting" in said[0]


def test_it_gives_up_after_too_many_restarts(tmp_path: Path) -> None:
    said: list[str] = []
    counter = tmp_path / "runs"
    rc = supervise(_child_exiting([EXIT_RESTARTABLE], counter), say=said.append,
                   max_restarts=2, first_delay_s=0.01)
    assert rc == EXIT_RESTARTABLE
    assert counter.read_text() == "3"
    assert "giving up" in said[-1]


def _supervisor_with_sleeping_child(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    pid_file = tmp_path / "child.pid"
    child = ("import os, pathlib, time\n"
             f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))\n"
             "time.sleep(120)\n")
    parent = ("import sys\nfrom hub.runtime.supervise import supervise\n"
              f"sys.exit(supervise([{PY!r}, '-c', {child!r}]))\n")
    proc = subprocess.Popen([PY, "-c", parent])
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.05)
    return proc, int(pid_file.read_text())


def _gone(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # a zombie still answers kill(0); its state letter says it is dead
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists() and stat.read_text().split()[2] in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_sigterm_to_hub_worker_stops_the_worker_and_nothing_restarts(tmp_path: Path) -> None:
    proc, child = _supervisor_with_sleeping_child(tmp_path)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 128 + signal.SIGTERM  # the child's fate, reported like a shell
    assert _gone(child, 5)


def test_sigkill_to_hub_worker_takes_the_worker_with_it(tmp_path: Path) -> None:
    proc, child = _supervisor_with_sleeping_child(tmp_path)
    proc.kill()
    proc.wait(timeout=20)
    assert _gone(child, 5), "an orphaned worker would keep consuming unsupervised"
