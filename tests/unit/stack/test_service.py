"""The generic single-process service of the stack: which pid is ours, ``up``'s leave-or-start."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from hub.stack.service import LocalService


def _service(tmp_path: Path, *, ours: bool, answers: bool,
             start: Callable[[Callable[[str], None]], int] | None = None) -> LocalService:
    pidfile = tmp_path / "svc.pid"
    pidfile.write_text(f"{os.getpid()}\n")  # a live pid: this test process
    return LocalService(
        name="svc", label="svcd", program="svc-server", port=1, data_dir=tmp_path / "data",
        pidfile=pidfile, log=tmp_path / "svc.log", is_ours=lambda _pid: ours,
        answers=lambda: answers, binary=lambda _say: "/bin/true",
        start=start or (lambda _say: 4242),
    )  # fmt: skip


def test_a_live_pid_that_is_not_ours_is_not_running(tmp_path: Path) -> None:
    svc = _service(tmp_path, ours=False, answers=True)
    assert svc.running_pid() is None
    assert svc.stop() is None  # never signals a stranger; the stale pidfile goes
    assert not svc.pidfile.exists()
    st = svc.status()
    assert (st.name, st.pid, st.ready, st.data_dir) == ("svc", None, False, tmp_path / "data")


def _must_not_start(_say: Callable[[str], None]) -> int:
    raise AssertionError("up restarted a service that runs and answers")


def test_up_leaves_a_running_answering_instance_alone(tmp_path: Path) -> None:
    said: list[str] = []
    svc = _service(tmp_path, ours=True, answers=True, start=_must_not_start)
    assert svc.ensure_up(said.append) == os.getpid()
    assert said == [f"svcd: already running (pid {os.getpid()}, 127.0.0.1:1)"]
    assert svc.status().ready


def test_up_starts_what_does_not_run(tmp_path: Path) -> None:
    said: list[str] = []
    svc = _service(tmp_path, ours=False, answers=False)
    assert svc.ensure_up(said.append) == 4242
    assert said == ["svcd: started (pid 4242, 127.0.0.1:1)"]
