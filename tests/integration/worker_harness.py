"""Helpers for the worker tests: real ``hub worker`` subprocesses against the real broker and Redis.

A test's workers form a :class:`WorkerGroup`: one ``HUB_APP_ID`` (:func:`new_app_id`), so their
own consumer group, changelog topic and Redis dedup namespace, and one state dir; started, and
always stopped. The harness is their supervisor: a worker that exits 70 is started again and the
restart recorded. Nothing here sleeps for readiness: every wait polls a condition with a
deadline and fails with what it saw.

The rest of the harness lives beside it: the repository root, app ids and polling
(harness_common.py), resetting and locking the shared hub.* topics (topic_reset.py), reading and
writing topics directly (topic_io.py), simulated scenarios and rule copies (scenarios.py), and
online against offline incidents (incident_compare.py).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hub.adapters.kafka import Consumer, TopicPartition
from hub.adapters.kafka.admin import admin_client
from hub.settings import SOURCE_TOPICS, Settings
from tests.integration.harness_common import REPO, free_port, track_worker, wait_until
from tests.integration.scenarios import fast_rules
from tests.integration.topic_io import Received, reading
from tests.integration.topic_reset import reset_topics


@dataclass
class WorkerProc:
    """One ``hub worker`` subprocess with its own log file and metrics port."""

    worker_id: str
    env: dict[str, str]
    log_path: Path
    rules_dir: Path | None = None
    metrics_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    killed: bool = False  # stopped on purpose: not a failure

    def start(self) -> WorkerProc:
        self.killed = False
        # --no-supervise: the harness is the supervisor (wait_lag_zero restarts exit-70 workers
        # and reports it); `hub worker` alone would restart them itself (hub/runtime/supervise.py)
        argv = [sys.executable, "-m", "hub", "worker", "--no-supervise", "--worker-id",
                self.worker_id, "--metrics-port", str(self.metrics_port), "--loglevel", "info"]
        if self.rules_dir is not None:
            argv += ["--rules", str(self.rules_dir)]
        log = open(self.log_path, "ab")
        log.write(f"\n=== start {time.strftime('%H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     cwd=REPO, start_new_session=True)
        log.close()
        track_worker(f"{self.env.get('HUB_APP_ID', '?')}/{self.worker_id}", self.proc)
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: a crash, no chance to commit or flush anything."""
        self.killed = True
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(timeout=30)

    def metrics(self) -> dict[str, float]:
        """The worker's Prometheus samples, ``name{labels}`` -> value."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def metric_sum(self, name: str) -> float:
        try:
            samples = self.metrics()
        except OSError:
            return 0.0
        return sum(v for k, v in samples.items() if k == name or k.startswith(name + "{"))

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class WorkerGroup:
    """The workers of one test app: same HUB_APP_ID and state dir, started and always stopped."""

    def __init__(self, settings: Settings, tmp: Path, app_id: str, *,
                 rules_dir: Path | None = None, tick_seconds: float = 1.0,
                 extra_env: Mapping[str, str] | None = None) -> None:
        self.settings = dataclasses.replace(settings, app_id=app_id)
        self.tmp, self.app_id, self.rules_dir = tmp, app_id, rules_dir
        self.env = {
            **os.environ,
            "HUB_BOOTSTRAP": settings.bootstrap,
            "HUB_REDIS_URL": settings.redis_url,
            "HUB_APP_ID": app_id,
            "HUB_STATE_DIR": str(tmp / "state"),
            "HUB_TICK_SECONDS": str(tick_seconds),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.workers: dict[str, WorkerProc] = {}

    def start(self, worker_id: str) -> WorkerProc:
        w = self.workers.get(worker_id)
        if w is None:
            w = self.workers[worker_id] = WorkerProc(
                worker_id, self.env, self.tmp / f"{worker_id}.log", self.rules_dir
            )
        return w.start()

    def stop_all(self) -> None:
        for w in self.workers.values():
            try:
                w.stop()
            except Exception:
                if w.proc is not None and w.proc.poll() is None:
                    w.proc.kill()

    def logs(self, lines: int = 40) -> str:
        return "\n".join(f"--- {w.worker_id} ---\n{w.log_tail(lines)}"
                         for w in self.workers.values())

    def assert_alive(self) -> None:
        dead = [f"{w.worker_id} (exit {w.proc.returncode})" for w in self.workers.values()
                if w.proc is not None and not w.alive and not w.killed]
        assert not dead, f"workers exited: {dead}\n{self.logs()}"

    def members(self) -> int:
        """Members of the app's consumer group as the broker sees them (0 unless stable)."""
        return len(self.assignments())

    def assignments(self) -> list[dict[str, list[int]]]:
        """Each member's partitions per topic, as the broker has them ([] unless the group is
        stable)."""
        admin = admin_client(self.settings.bootstrap)
        try:
            desc = admin.describe_consumer_groups([self.app_id])[self.app_id].result(timeout=10)
        except Exception:
            return []
        if str(desc.state).rsplit(".", 1)[-1] != "STABLE":
            return []
        out = []
        for member in desc.members:
            topics: dict[str, list[int]] = {}
            for tp in member.assignment.topic_partitions:
                topics.setdefault(tp.topic, []).append(tp.partition)
            out.append({t: sorted(ps) for t, ps in sorted(topics.items())})
        return out

    def wait_members(self, n: int, *, timeout: float = 60.0) -> None:
        def ok() -> bool:
            self.assert_alive()
            return self.members() == n
        wait_until(ok, timeout=timeout, interval=0.5, what=f"{n} stable group members")

    def lag(self) -> int:
        from hub.runtime.control import group_lag

        return group_lag(self.settings, list(SOURCE_TOPICS.values()))

    def wait_lag_zero(self, *, timeout: float) -> None:
        """Wait for source lag 0, restarting workers that exit 70 as their supervisor would.

        The worker exits 70 when only a new process can go on (hub/runtime/app.py
        ``run_worker``); any other exit fails the test at once.
        """
        restarts = supervise_until_caught_up(self, timeout=timeout)
        for r in restarts:
            print(f"\nsupervisor restarted {r}")

    def hub(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run a ``hub`` command with this app's environment."""
        return subprocess.run([sys.executable, "-m", "hub", *args], env=self.env, cwd=REPO,
                              capture_output=True, text=True, timeout=timeout, check=False)


def produce_file(group: WorkerGroup, path: Path, *, timeout: float = 300) -> None:
    done = group.hub("produce", str(path), timeout=timeout)
    assert done.returncode == 0, f"hub produce {path.name}: {done.stdout}{done.stderr}"


def flush_and_collect(group: WorkerGroup, *, quiet: float = 4.0, timeout: float = 120,
                      restarts: list[Restart] | None = None,
                      ) -> tuple[list[Received], list[Received]]:
    """`hub flush` once the sources are consumed; then every incident and dead letter so far.

    With ``restarts`` (a list to append to), the flush and the reading are supervised: a worker
    that exits 70 meanwhile is started again, as its supervisor would, and recorded. After a
    broker restart a worker may still be inside a hung librdkafka call when the lag reads 0
    (its watchdog ends it 45 s later), so a fault test must keep supervising. Without it, any
    exit fails the test.
    """
    from benchmarks.contenders import correlate_consumed
    from benchmarks.stack import topic_ends
    from hub.settings import CORRELATE_TOPIC, DEADLETTER_TOPIC, INCIDENTS_TOPIC

    def restart_exited() -> None:
        if restarts is None:
            group.assert_alive()
            return
        restarts.extend(restart_exited_workers(group, began=time.monotonic()))

    flush = subprocess.Popen([sys.executable, "-m", "hub", "flush", "--wait", str(timeout)],
                             env=group.env, cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout + 60
    while flush.poll() is None and time.monotonic() < deadline:
        restart_exited()
        time.sleep(0.5)
    if flush.poll() is None:
        flush.kill()
    out = flush.communicate()[0]
    assert flush.returncode == 0, f"hub flush ({flush.returncode}): {out}\n{group.logs()}"
    # The flush is on the correlation topic; its incidents are committed in the transaction that
    # commits its offsets. Read only after that: a worker inside a hung librdkafka call (after a
    # broker restart) publishes nothing until its successor runs, longer than a quiet spell.
    target = topic_ends(group.settings, [CORRELATE_TOPIC])

    def flush_consumed() -> bool:
        restart_exited()
        try:
            return correlate_consumed(group.settings, group.app_id, target)
        except Exception:  # the broker may still be settling after a fault
            return False

    wait_until(flush_consumed, timeout=timeout, interval=0.5,
               what="the workers' commit of the flush (correlation offsets past it)")
    with reading(group.settings, INCIDENTS_TOPIC) as inc, \
            reading(group.settings, DEADLETTER_TOPIC) as dl:
        incidents = inc.until_quiet(quiet=quiet, timeout=timeout)
        dead = dl.until_quiet(quiet=0.5, timeout=timeout)
    restart_exited()
    return incidents, dead


class BackgroundProduce:
    """``hub produce FILE`` in a subprocess, so faults can land while events stream in.

    Always used as a context manager: the subprocess is killed on the way out if it still runs.
    """

    def __init__(self, group: WorkerGroup, path: Path, *, delivery_timeout: float = 30.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "produce", "--timeout", str(delivery_timeout),
             str(path)],
            env=group.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )

    def wait(self, timeout: float = 300) -> None:
        """Wait for the producer to finish; it must have delivered every line (exit 0)."""
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, (
            f"hub produce exited {self.proc.returncode}: {out.decode()[-2000:]}"
            f"{err.decode()[-2000:]}")

    def __enter__(self) -> BackgroundProduce:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@contextmanager
def redis_down(settings: Settings) -> Iterator[None]:
    """Stop the stack's Redis for the duration of the block, then start it again (PING-ready).

    Holds the stack lock (the one ``hub stack up`` takes) throughout, so another session's
    ``stack.up`` cannot bring Redis back in the middle of the outage; it waits instead.
    """
    from hub.stack import redis as stack_redis
    from hub.stack.control import _locked

    with _locked(settings):
        stopped = stack_redis.stop(settings)
        assert stopped is not None, "the stack's Redis was not running (start it: hub stack up)"
        try:
            yield
        finally:
            stack_redis.start(settings, lambda _msg: None)


@contextmanager
def single_worker(settings: Settings, tmp: Path, app_id: str, *,
                  before_start: Callable[[WorkerGroup], None] | None = None
                  ) -> Iterator[WorkerGroup]:
    """Fresh hub.* topics and one worker, "w1", on the fast rules; stopped at the end.

    ``before_start`` runs once the topics exist and before the worker starts (e.g. to produce
    the registry, which a worker loads before anything else).
    """
    reset_topics(settings, app_id)
    group = WorkerGroup(settings, tmp, app_id, rules_dir=fast_rules(tmp / "rules"))
    if before_start is not None:
        before_start(group)
    try:
        group.start("w1")
        group.wait_members(1, timeout=60)
        yield group
    finally:
        group.stop_all()


def metric_total(group: WorkerGroup, name: str, **labels: str) -> float:
    """Sum of a metric over the group's live workers (label filter optional, exact values)."""
    total = 0.0
    for w in group.workers.values():
        if not w.alive:
            continue
        try:
            samples = w.metrics()
        except OSError:
            continue
        for key, value in samples.items():
            base, _, rest = key.partition("{")
            if base != name:
                continue
            if all(f'{k}="{v}"' in rest for k, v in labels.items()):
                total += value
    return total


@dataclass(frozen=True)
class Restart:
    """A worker that exited on its own and was started again, as a supervisor would."""

    worker_id: str
    returncode: int | None
    reason: str  # the CRITICAL line of its log, if any
    at: float  # seconds since supervision began


def restart_exited_workers(group: WorkerGroup, *, began: float,
                           allowed: Iterable[int] = (70,)) -> list[Restart]:
    """Start again every worker that exited with an allowed status; fail on any other exit."""
    allowed = set(allowed)
    out: list[Restart] = []
    for w in group.workers.values():
        if w.proc is None or w.alive or w.killed:
            continue
        code = w.proc.returncode
        critical = [line for line in w.log_tail(400).splitlines() if "CRITICAL" in line]
        assert code in allowed, (
            f"{w.worker_id} exited {code}, not one of {sorted(allowed)}:\n{w.log_tail(40)}")
        out.append(Restart(w.worker_id, code, critical[-1] if critical else "",
                           time.monotonic() - began))
        w.start()
    return out


def supervise_until_caught_up(group: WorkerGroup, *, timeout: float,
                              allowed_exits: Iterable[int] = (70,)) -> list[Restart]:
    """Like systemd ``Restart=always``: restart workers that exit, until the source lag is 0.

    A worker that exits with a status outside ``allowed_exits`` fails the test at once (with its
    log). Errors while asking the broker for the lag (it may be restarting) count as "not yet".
    """
    allowed = set(allowed_exits)
    restarts: list[Restart] = []
    began = time.monotonic()

    def check() -> bool:
        restarts.extend(restart_exited_workers(group, began=began, allowed=allowed))
        if any(not w.alive for w in group.workers.values() if not w.killed):
            return False
        try:
            return group.lag() == 0
        except Exception:
            return False

    wait_until(check, timeout=timeout, interval=0.5, what="source lag 0 (supervising workers)")
    return restarts


def source_offsets(group: WorkerGroup) -> dict[str, tuple[int, int]]:
    """Every source partition: ``topic/partition`` -> (committed offset or -1001, end offset)."""
    consumer = Consumer({"bootstrap.servers": group.settings.bootstrap,
                         "group.id": group.app_id, "enable.auto.commit": False})
    try:
        out: dict[str, tuple[int, int]] = {}
        for topic in SOURCE_TOPICS.values():
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            tps = [TopicPartition(topic, p) for p in sorted(meta.partitions)]
            for tp, c in zip(tps, consumer.committed(tps, timeout=10), strict=True):
                _, high = consumer.get_watermark_offsets(tp, timeout=10)
                out[f"{topic}/{tp.partition}"] = (c.offset, high)
        return out
    finally:
        consumer.close()


def lag_by_partition(group: WorkerGroup) -> dict[str, tuple[int, int]]:
    """Source partitions with lag: ``topic/partition`` -> (committed offset, end offset)."""
    return {name: (c, high) for name, (c, high) in source_offsets(group).items()
            if high > max(c, 0)}


def wait_lag_zero_or_explain(group: WorkerGroup, *, timeout: float) -> None:
    """``group.wait_lag_zero``; on timeout, fail with the stuck partitions and ingest counts, and
    ask each worker for mode's task dump (SIGUSR1 writes every asyncio task's stack to its log)."""
    try:
        group.wait_lag_zero(timeout=timeout)
    except AssertionError as exc:
        stuck = lag_by_partition(group)
        per_worker = {w.worker_id: w.metric_sum("hub_ingest_events_total")
                      for w in group.workers.values()}
        for w in group.workers.values():
            if w.alive and w.proc is not None:
                w.proc.send_signal(signal.SIGUSR1)
        time.sleep(2)  # give the workers a moment to write the dump before teardown stops them
        raise AssertionError(f"{exc}; stuck partitions (committed, end): {stuck}; ingested per "
                             f"worker: {per_worker}; task dumps in {group.tmp}/w*.log") from exc
