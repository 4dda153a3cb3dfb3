"""Helpers for the worker tests: real ``hub worker`` subprocesses against the real broker and Redis.

The source topics are shared (their names are the public contract), so every worker test starts
from a clean slate: :func:`reset_topics` deletes every ``hub.*`` topic and the topics of earlier
test apps, waits until the broker has forgotten them and applies topology/topics.yaml again. Each
test uses a unique ``HUB_APP_ID`` (:func:`new_app_id`): its own consumer group, changelog topic and
Redis dedup namespace. Nothing here sleeps for readiness: every wait polls a condition with a
deadline and fails with what it saw.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.adapters.kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from hub.adapters.kafka.admin import admin_client, apply_topics
from hub.adapters.topic_specs import load_topic_specs
from hub.codec import load_codec
from hub.settings import SOURCE_TOPICS, Settings

REPO = Path(__file__).resolve().parents[2]
#: Every test app id starts with this, so a reset also removes earlier test apps' changelogs.
APP_PREFIX = "hubit-"


def new_app_id(name: str) -> str:
    return f"{APP_PREFIX}{name}-{uuid.uuid4().hex[:8]}"


def wait_until(check: Callable[[], Any], *, timeout: float, interval: float = 0.25,
               what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# -- topics ----------------------------------------------------------------------------------


def reset_topics(settings: Settings, app_id: str | None = None, *, timeout: float = 90.0) -> None:
    """Delete all hub.* topics and test apps' topics, wait until gone, apply topics.yaml again."""
    admin = admin_client(settings.bootstrap)
    existing = admin.list_topics(timeout=10).topics

    def doomed_of(names: Iterable[str]) -> list[str]:
        return sorted(
            n for n in names
            if n.startswith(("hub.", APP_PREFIX)) or (app_id is not None and n.startswith(app_id))
        )

    doomed = doomed_of(existing)
    if doomed:
        for fut in admin.delete_topics(doomed, request_timeout=30).values():
            try:
                fut.result(timeout=30)
            except KafkaException:
                pass  # already gone
        wait_until(lambda: not doomed_of(admin.list_topics(timeout=10).topics),
                   timeout=timeout, what=f"deletion of {len(doomed)} topics")
    specs = load_topic_specs(settings.topics_file)
    deadline = time.monotonic() + timeout
    while True:  # the broker may still be finishing the deletion ("marked for deletion")
        try:
            apply_topics(admin, specs)
            break
        except Exception:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)
    names = [s.name for s in specs]
    wait_until(lambda: _all_have_leaders(admin, names), timeout=timeout,
               what="leaders for every declared topic")


def _all_have_leaders(admin: Any, names: list[str]) -> bool:
    topics = admin.list_topics(timeout=10).topics
    for name in names:
        meta = topics.get(name)
        if meta is None or meta.error is not None or not meta.partitions:
            return False
        if any(p.leader < 0 for p in meta.partitions.values()):
            return False
    return True


# -- reading topics --------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    kind: str | None = None
    record: dict[str, Any] | None = None
    #: the record's Kafka timestamp (ms; the producer's clock, this machine's), None if unset
    timestamp_ms: int | None = None


class TopicReader:
    """Reads whole topics from the beginning (no group commits) and decodes values with the codec.

    Keeps its position, so ``poll_new`` returns only what arrived since the last call.
    """

    def __init__(self, settings: Settings, topics: Iterable[str]) -> None:
        self.codec = load_codec(settings.schemas_dir)
        self.consumer = Consumer({
            "bootstrap.servers": settings.bootstrap,
            "group.id": f"hubit-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            "isolation.level": "read_committed",
            "log.connection.close": False,
        })
        self.topics = list(topics)
        meta = self.consumer.list_topics(timeout=10).topics
        self.tps = [TopicPartition(t, p, OFFSET_BEGINNING)
                    for t in self.topics for p in sorted(meta[t].partitions)]
        self.consumer.assign(self.tps)
        self.received: list[Received] = []

    def close(self) -> None:
        self.consumer.close()

    def _decode(self, msg: Any) -> Received:
        kind = record = None
        try:
            kind, record = self.codec.decode(msg.value() or b"")
        except Exception:
            pass
        ts_type, ts = msg.timestamp()
        return Received(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(),
                        {k: v for k, v in (msg.headers() or [])}, kind, record,
                        ts if ts_type and ts >= 0 else None)

    def poll_new(self, seconds: float = 0.5) -> list[Received]:
        out: list[Received] = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for msg in self.consumer.consume(num_messages=1000, timeout=min(left, 0.2)):
                if msg.error():
                    continue
                out.append(self._decode(msg))
        self.received.extend(out)
        return out

    def at_end(self) -> bool:
        """True when every assigned partition has been read up to its current end offset."""
        positions = {(tp.topic, tp.partition): tp.offset for tp in self.consumer.position(self.tps)}
        for tp in self.tps:
            _, high = self.consumer.get_watermark_offsets(tp, timeout=5, cached=False)
            pos = positions[(tp.topic, tp.partition)]
            if high > 0 and (pos < 0 or pos < high):
                return False
        return True

    def until(self, predicate: Callable[[list[Received]], bool], *, timeout: float,
              what: str = "messages") -> list[Received]:
        """Read until ``predicate(all received so far)`` holds; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not predicate(self.received):
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out after {timeout:.0f}s waiting for {what}; got "
                    f"{len(self.received)} messages on {self.topics}"
                )
            self.poll_new(0.5)
        return self.received

    def until_quiet(self, *, quiet: float, timeout: float) -> list[Received]:
        """Read until at the end of every partition with nothing new for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            if self.poll_new(0.5):
                last_new = time.monotonic()
            elif time.monotonic() - last_new >= quiet and self.at_end():
                return self.received
        raise AssertionError(f"{self.topics} never went quiet for {quiet}s within {timeout}s")


@contextmanager
def reading(settings: Settings, *topics: str) -> Iterator[TopicReader]:
    reader = TopicReader(settings, topics)
    try:
        yield reader
    finally:
        reader.close()


# -- workers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        """Members of the app's consumer group as the broker sees them (0 if none)."""
        admin = admin_client(self.settings.bootstrap)
        try:
            desc = admin.describe_consumer_groups([self.app_id])[self.app_id].result(timeout=10)
        except Exception:
            return 0
        if str(desc.state).rsplit(".", 1)[-1] != "STABLE":
            return 0
        return len(desc.members)

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


# -- rules and scenarios ---------------------------------------------------------------------


def fast_rules(dst: Path, *, lateness: str = "1s", idle: str = "2s") -> Path:
    """A copy of topology/rules with a short default lateness and idle time (the test knob)."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in (REPO / "topology" / "rules").glob("*.yaml"):
        if f.name != "sources.yaml":
            shutil.copy(f, dst / f.name)
    sources = (REPO / "topology" / "rules" / "sources.yaml").read_text()
    _head, sep, tail = sources.partition("\nsuppress:")
    (dst / "sources.yaml").write_text(
        f"sources:\n  default: {{lateness: {lateness}, idle: {idle}}}\n" + sep + tail
    )
    return dst


def write_jsonl(path: Path, lines: Iterable[Mapping[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(dict(x), ensure_ascii=False) + "\n" for x in lines))
    return path


def incident_view(rec: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of an incident the online = offline property compares."""
    route = rec.get("route")
    return {
        "incident_id": rec["incident_id"],
        "version": rec["version"],
        "rule_id": rec["rule_id"],
        "risk_level": rec["risk_level"],
        "evidence": [(e["kind"], e["event_id"], e["event_time"]) for e in rec["evidence"]],
        "route": None if route is None else (route["level"], route["department_id"]),
    }


def final_versions(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The highest CONFIRMED version of each incident_id (PROVISIONAL and RETRACTED versions are
    the early alerts: online = offline holds for the confirmed ones, docs/contracts.md)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        if rec.get("status", "CONFIRMED") != "CONFIRMED":
            continue
        held = out.get(rec["incident_id"])
        if held is None or rec["version"] > held["version"]:
            out[rec["incident_id"]] = dict(rec)
    return out


def read_offline(path: Path) -> dict[str, dict[str, Any]]:
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for r in recs:
        r.pop("kind", None)
    return final_versions(recs)


def describe_diff(online: Mapping[str, Mapping[str, Any]],
                  offline: Mapping[str, Mapping[str, Any]]) -> str:
    """A readable account of how two incident sets differ (for assertion messages)."""
    lines = []
    for iid in sorted(set(offline) - set(online)):
        lines.append(f"MISSING online: {iid} {incident_view(offline[iid])}")
    for iid in sorted(set(online) - set(offline)):
        lines.append(f"EXTRA online:   {iid} {incident_view(online[iid])}")
    for iid in sorted(set(online) & set(offline)):
        a, b = incident_view(online[iid]), incident_view(offline[iid])
        if a != b:
            fields = [k for k in a if a[k] != b[k]]
            lines.append(f"DIFFERS {iid} in {fields}: online={a} offline={b}")
    return "\n".join(lines[:40]) + (f"\n... {len(lines) - 40} more" if len(lines) > 40 else "")


# -- scenarios: simulate, correlate offline, run online ----------------------------------------


@dataclass(frozen=True)
class Scenario:
    registry: Path
    events: Path
    events_count: int
    offline: dict[str, dict[str, Any]]  # incident_id -> final version, from `hub correlate --final`
    labelled_rules: frozenset[str]


def rules_without(dst: Path, rule_ids: Iterable[str]) -> Path:
    """A copy of topology/rules without the named rules."""
    import yaml

    drop = set(rule_ids)
    dst.mkdir(parents=True, exist_ok=True)
    for f in (REPO / "topology" / "rules").glob("*.yaml"):
        doc = yaml.safe_load(f.read_text())
        if isinstance(doc, dict) and "rules" in doc:
            doc["rules"] = [r for r in doc["rules"] if r.get("id") not in drop]
        (dst / f.name).write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    return dst


def make_scenario(tmp: Path, *, seed: int, buildings: int, days: int,
                  situations_per_rule: int | None = None,
                  rules_dir: Path | None = None) -> Scenario:
    """`hub simulate`, split into registry and events files, and `hub correlate --final` on it."""
    tmp.mkdir(parents=True, exist_ok=True)
    sim, labels, offline = tmp / "sim.jsonl", tmp / "labels.jsonl", tmp / "offline.jsonl"
    argv = ["simulate", "--seed", str(seed), "--buildings", str(buildings), "--days", str(days),
            "--out", str(sim), "--labels", str(labels)]
    if situations_per_rule is not None:
        argv += ["--situations-per-rule", str(situations_per_rule)]
    correlate = ["correlate", "--in", str(sim), "--out", str(offline), "--final"]
    if rules_dir is not None:
        correlate += ["--rules", str(rules_dir)]
    for args in (argv, correlate):
        done = subprocess.run([sys.executable, "-m", "hub", *args], cwd=REPO, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, f"hub {args[0]}: {done.stderr}"
    registry_lines, event_lines = [], []
    for line in sim.read_text().splitlines():
        if line.strip():
            is_registry = '"kind":"building_identity"' in line.replace(" ", "")
            (registry_lines if is_registry else event_lines).append(line + "\n")
    registry, events = tmp / "registry.jsonl", tmp / "events.jsonl"
    registry.write_text("".join(registry_lines))
    events.write_text("".join(event_lines))
    rules = frozenset(json.loads(x)["rule_id"] for x in labels.read_text().splitlines() if x)
    return Scenario(registry, events, len(event_lines), read_offline(offline), rules)


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
    from hub.settings import DEADLETTER_TOPIC, INCIDENTS_TOPIC

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
    with reading(group.settings, INCIDENTS_TOPIC) as inc, \
            reading(group.settings, DEADLETTER_TOPIC) as dl:
        incidents = inc.until_quiet(quiet=quiet, timeout=timeout)
        dead = dl.until_quiet(quiet=0.5, timeout=timeout)
    restart_exited()
    return incidents, dead


def dead_letter_summary(dead: list[Received]) -> dict[tuple[str, str], int]:
    """(reason, source kind) -> count."""
    out: dict[tuple[str, str], int] = {}
    for r in dead:
        rec = r.record or {}
        k = (str(rec.get("reason")), str(rec.get("source_kind")))
        out[k] = out.get(k, 0) + 1
    return out


def assert_same_incidents(incidents: list[Received], scenario: Scenario,
                          dead: list[Received] | None = None) -> None:
    """Last version per incident_id online == `hub correlate --final` offline."""
    undecoded = [(r.partition, r.offset) for r in incidents if r.record is None]
    assert not undecoded, f"undecodable incidents at {undecoded[:5]}"
    online = final_versions(r.record for r in incidents if r.record is not None)
    diff = describe_diff(online, scenario.offline)
    assert not diff, (
        f"online != offline ({len(online)} vs {len(scenario.offline)} ids; dead letters "
        f"{dead_letter_summary(dead or [])}):\n{diff}"
    )
    assert len(online) == len(scenario.offline)
    # Every version seen online for an id is one the offline run also went through: an
    # at-least-once redelivery may repeat (id, version) but must repeat it identically.
    by_version: dict[tuple[str, int], dict[str, Any]] = {}
    for r in incidents:
        assert r.record is not None
        if r.record.get("status", "CONFIRMED") != "CONFIRMED":
            continue  # early alerts: provisional versions number their own sequence
        view = incident_view(r.record)
        held = by_version.setdefault((view["incident_id"], view["version"]), view)
        assert held == view, f"two different incidents share id+version: {held} / {view}"


# -- raw messages, background producers, outages (fault and hostile-input tests) -------------


@dataclass(frozen=True)
class Sent:
    """One message produced by :func:`produce_raw`, with the coordinates the broker gave it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


def produce_raw(settings: Settings, topic: str, value: bytes | None, *, key: bytes | None = None,
                headers: Iterable[tuple[str, bytes]] = (), **config: Any) -> Sent:
    """Produce one message exactly as given (murmur2 like the hub's tools); its coordinates."""
    from hub.adapters.kafka.io import make_producer

    delivered: list[tuple[Any, Any]] = []
    producer = make_producer(settings, **config)
    hdrs = tuple(headers)
    producer.produce(topic, value=value, key=key, headers=list(hdrs) or None,
                     on_delivery=lambda err, msg: delivered.append((err, msg)))
    assert producer.flush(30) == 0, f"a message to {topic} was not delivered in 30 s"
    [(err, msg)] = delivered
    assert err is None, f"producing to {topic} failed: {err}"
    return Sent(topic, int(msg.partition()), int(msg.offset()), key, value, hdrs)


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


def read_to_end(settings: Settings, topics: Iterable[str], *,
                timeout: float = 60) -> list[Received]:
    """Every message on ``topics`` up to their end offsets as they are now (others may still write).

    Unlike :meth:`TopicReader.until_quiet`, this ends on topics that never go quiet, such as the
    correlation topic with its tick messages.
    """
    with reading(settings, *topics) as rd:
        ends = {}
        for tp in rd.tps:
            _, high = rd.consumer.get_watermark_offsets(tp, timeout=10, cached=False)
            ends[(tp.topic, tp.partition)] = high
        deadline = time.monotonic() + timeout

        def done() -> bool:
            return all(pos.offset >= ends[(pos.topic, pos.partition)] or
                       ends[(pos.topic, pos.partition)] == 0
                       for pos in rd.consumer.position(rd.tps))

        while not done():
            if time.monotonic() >= deadline:
                raise AssertionError(f"could not read {rd.topics} to their ends in {timeout}s")
            rd.poll_new(0.5)
        return [r for r in rd.received if r.offset < ends[(r.topic, r.partition)]]


def topics_of(settings: Settings, app_id: str) -> list[str]:
    """The hub's topics plus the app's own (state changelog) that exist on the broker now."""
    admin = admin_client(settings.bootstrap)
    names = admin.list_topics(timeout=10).topics
    return sorted(n for n in names if n.startswith(("hub.", app_id)))


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


_topics_lock_depth = 0  # re-entrant within this process: module and function fixtures nest


@contextmanager
def exclusive_topics(settings: Settings, *, timeout: float = 900) -> Iterator[None]:
    """Hold ``<state dir>/hub-topics.lock`` for the block: one worker test at a time on hub.*.

    The hub.* topics are shared by every session on this broker and :func:`reset_topics` deletes
    them; tests that take this lock never reset them under each other's feet. Re-entrant within
    one process (a module fixture and a test's own fixture may both hold it).
    """
    import fcntl

    global _topics_lock_depth
    if _topics_lock_depth:
        _topics_lock_depth += 1
        try:
            yield
        finally:
            _topics_lock_depth -= 1
        return
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with (settings.state_dir / "hub-topics.lock").open("w") as fh:
        wait_until(lambda: _try_lock(fh.fileno(), fcntl), timeout=timeout, interval=0.5,
                   what="the hub-topics lock (another worker test is running)")
        _topics_lock_depth = 1
        try:
            yield
        finally:
            _topics_lock_depth = 0
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _try_lock(fd: int, fcntl: Any) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


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


def lag_by_partition(group: WorkerGroup) -> dict[str, tuple[int, int]]:
    """Source partitions with lag: ``topic/partition`` -> (committed offset, end offset)."""
    consumer = Consumer({"bootstrap.servers": group.settings.bootstrap,
                         "group.id": group.app_id, "enable.auto.commit": False})
    try:
        out: dict[str, tuple[int, int]] = {}
        for topic in SOURCE_TOPICS.values():
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            tps = [TopicPartition(topic, p) for p in sorted(meta.partitions)]
            for tp, c in zip(tps, consumer.committed(tps, timeout=10), strict=True):
                _, high = consumer.get_watermark_offsets(tp, timeout=10)
                if high > max(c.offset, 0):
                    out[f"{topic}/{tp.partition}"] = (c.offset, high)
        return out
    finally:
        consumer.close()


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


def assert_no_version_differs(incidents: list[Received]) -> int:
    """A version (incident id, version) published more than once must be the same each time
    (docs/architecture.md, "restarts change nothing"): a crash makes the successor apply up to
    one checkpoint interval of the correlation topic again, which publishes those versions again,
    identical. How many were published again."""
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    again = 0
    for r in incidents:
        if r.record is None or r.record.get("status", "CONFIRMED") != "CONFIRMED":
            continue
        ident = (str(r.record["incident_id"]), int(r.record["version"]))
        view = incident_view(r.record)
        if ident in seen:
            again += 1
            assert seen[ident] == view, f"{ident} published twice with different content"
        else:
            seen[ident] = view
    return again

