"""One single-process service of the local stack (Redis, Mosquitto): its pid, stop, status, ``up``.

Redis and Mosquitto differ in how they start (a daemon writing its own pidfile, a foreground child
we spawn) and how they answer (PING, MQTT CONNACK), but once started they are looked after the same
way: a pidfile whose pid counts only while it is still ours, a SIGTERM stop, a status that says who
holds the port when it is not us. That shared part lives here once; each service module describes
itself as a :class:`LocalService` and ``control`` loops over them. Kafka stays apart: its readiness
wait, hard stop and restart are its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hub.stack import procs
from hub.stack.errors import StackError
from hub.stack.status import ServiceStatus

Say = Callable[[str], None]


@dataclass(frozen=True)
class LocalService:
    """What ``up``/``down``/``status`` need to know of one service; built per call from Settings.

    ``name`` is the service as ``hub stack status`` lists it ("mqtt"), ``label`` the prefix of
    ``up``/``down`` messages ("mosquitto"), ``program`` the executable named in errors.
    """

    name: str
    label: str
    program: str
    port: int
    data_dir: Path
    pidfile: Path
    log: Path
    #: True when a live pid is the process ``up`` launched (command line / working dir match).
    is_ours: Callable[[int], bool]
    #: The real readiness probe (PING, CONNACK), never a sleep.
    answers: Callable[[], bool]
    #: Path of the executable, installing it first when missing.
    binary: Callable[[Say], str]
    #: Write the config, launch, wait until it answers; the new pid.
    start: Callable[[Say], int]

    def running_pid(self) -> int | None:
        """Pid of the process ``up`` started, if it still runs."""
        pid = procs.read_pid(self.pidfile)
        if pid is not None and procs.alive(pid) and self.is_ours(pid):
            return pid
        return None

    def stop(self) -> int | None:
        """SIGTERM our process (both services save their data on it); the pid stopped or None."""
        pid = self.running_pid()
        if pid is not None and not procs.stop(pid, timeout=20.0):
            raise StackError(f"{self.program} pid {pid} did not stop; kill it by hand")
        self.pidfile.unlink(missing_ok=True)
        return pid

    def status(self) -> ServiceStatus:
        """Where it runs and whether it answers now; who holds the port when it is not ours."""
        pid = self.running_pid()
        detail = ""
        if pid is None and procs.port_open(self.port):
            detail = f"port taken by {procs.describe_owner(self.port)}, not by hub stack"
        ready = pid is not None and self.answers()
        if pid is not None and not ready:
            detail = f"see {self.log}"
        return ServiceStatus(self.name, self.port, self.data_dir, pid, ready, detail)

    def ensure_up(self, say: Say) -> int:
        """Leave a running, answering instance alone; otherwise (re)start it. Its pid.

        An instance that runs but does not answer is stopped first, so ``up`` repairs a hung one.
        """
        pid = self.running_pid()
        if pid is not None and self.answers():
            say(f"{self.label}: already running (pid {pid}, 127.0.0.1:{self.port})")
            return pid
        if pid is not None:
            self.stop()
        pid = self.start(say)
        say(f"{self.label}: started (pid {pid}, 127.0.0.1:{self.port})")
        return pid
