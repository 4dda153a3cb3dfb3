"""The broker the benchmarks run on: a private one (the default), or the shared one, politely.

A private stack is `hub stack up` with HUB_STATE_DIR in a temp directory and free loopback ports;
the shared stack's cached Kafka jars are copied in (no Maven fetch; same Kafka, same broker
config), and it is stopped at the end. The hub.* topic names are the public contract, not per
app, and other engineers' worker tests delete and re-create them at any moment on the shared
broker, so a benchmark on the shared stack takes ``<state dir>/hub-topics.lock`` (the lock the
worker integration tests hold), waits until nobody else has used the topics for a while, and
resets them.

Used by worker_bench and soak. Also: process CPU and memory from /proc.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka.admin import NewTopic

from hub.adapters.kafka import Consumer, KafkaError, KafkaException, TopicPartition
from hub.adapters.kafka.admin import admin_client, apply_topics
from hub.adapters.topic_specs import load_topic_specs
from hub.settings import Settings

REPO = Path(__file__).resolve().parents[1]
#: Every benchmark app id and benchmark-only topic starts with this (cleanup removes them).
APP_PREFIX = "hubbench-"
#: Command lines that mean someone else is using the hub.* topics.
#: Any pytest run counts: a plain `pytest` runs tests/integration, which resets the hub.* topics.
FOREIGN_MARKERS = ("hub worker", "benchmarks.naive_agent", "benchmarks.raw_loop", "pytest")
#: Our own programs: never counted as foreign users.
OWN_PROGRAMS = ("worker_bench", "benchmarks.soak")


# -- sharing the broker politely ------------------------------------------------------------


def foreign_users(own: set[int]) -> list[str]:
    """Other processes (not ours, not our children) that use the hub.* topics."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in own or int(entry) == me:
            continue
        try:
            raw = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        cmd = raw.replace(b"\0", b" ").decode(errors="replace")
        if any(p in cmd for p in OWN_PROGRAMS):
            continue
        if any(m in cmd.replace("-m hub worker", "hub worker") for m in FOREIGN_MARKERS):
            found.append(f"{entry}: {cmd[:120]}")
    return found


def take_topics_lock(settings: Settings, timeout: float, who: str = "benchmark") -> Any:
    """Hold ``<state dir>/hub-topics.lock``, the lock the worker integration tests take
    (topic_reset.exclusive_topics) before they reset the hub.* topics; an open file."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    fh = (settings.state_dir / "hub-topics.lock").open("w")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fh
        except BlockingIOError:
            if time.monotonic() >= deadline:
                fh.close()
                print(f"{who}: the hub-topics lock stayed taken; not resetting the topics",
                      file=sys.stderr)
                sys.exit(3)
            time.sleep(0.5)


def wait_exclusive(timeout: float, quiet: float = 15.0, who: str = "benchmark") -> None:
    """Wait until nobody else has used the hub.* topics for ``quiet`` seconds (or give up)."""
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while True:
        users = foreign_users(set())
        now = time.monotonic()
        if users:
            quiet_since = now
            if now >= deadline:
                print(f"{who}: others are using the hub.* topics; not resetting them:\n  "
                      + "\n  ".join(users), file=sys.stderr)
                sys.exit(3)
            print(f"  waiting: {len(users)} other process(es) use the broker's hub.* topics",
                  flush=True)
        elif now - quiet_since >= quiet:
            return
        time.sleep(2)


# -- a private broker -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def private_settings(shared: Settings, root: Path) -> Settings:
    """Settings of a broker, Redis and Mosquitto of our own: free loopback ports, state under
    ``root`` (every port of the stack is private, or `hub stack up` meets the shared one's)."""
    kafka, controller, redis, mqtt = free_port(), free_port(), free_port(), free_port()
    return dataclasses.replace(
        shared, state_dir=root, bootstrap=f"127.0.0.1:{kafka}",
        redis_url=f"redis://127.0.0.1:{redis}/0", kafka_port=kafka, controller_port=controller,
        redis_port=redis, mqtt_port=mqtt, mqtt_url=f"mqtt://127.0.0.1:{mqtt}")


def stack_env(settings: Settings) -> dict[str, str]:
    """The HUB_* variables that point a `hub` subprocess at ``settings``' broker, Redis and
    Mosquitto."""
    return {"HUB_BOOTSTRAP": settings.bootstrap, "HUB_REDIS_URL": settings.redis_url,
            "HUB_STATE_DIR": str(settings.state_dir), "HUB_KAFKA_PORT": str(settings.kafka_port),
            "HUB_CONTROLLER_PORT": str(settings.controller_port),
            "HUB_REDIS_PORT": str(settings.redis_port), "HUB_MQTT_PORT": str(settings.mqtt_port),
            "HUB_MQTT_URL": settings.mqtt_url}


def private_stack_up(shared: Settings, root: Path) -> Settings:
    """`hub stack up` on private ports, with the shared stack's cached Kafka jars copied in."""
    settings = private_settings(shared, root)
    src = shared.state_dir / "kafka" / "libs" / shared.kafka_version
    dst = root / "kafka" / "libs" / shared.kafka_version
    if (src / ".complete").exists() and not dst.exists():
        shutil.copytree(src, dst)
    done = subprocess.run([sys.executable, "-m", "hub", "stack", "up"], cwd=REPO, text=True,
                          capture_output=True, env={**os.environ, **stack_env(settings)},
                          check=False, timeout=300)
    if done.returncode != 0:
        private_stack_down(settings)  # whatever half of it started
        raise RuntimeError(f"private `hub stack up` failed: {done.stdout}{done.stderr}")
    return settings


def private_stack_down(settings: Settings) -> None:
    subprocess.run([sys.executable, "-m", "hub", "stack", "down"], cwd=REPO, text=True,
                   capture_output=True, env={**os.environ, **stack_env(settings)}, check=False,
                   timeout=120)


# -- topics -----------------------------------------------------------------------------------


def reset_topics(settings: Settings, timeout: float = 90.0) -> None:
    """Delete every hub.* topic and earlier benchmark apps' topics; apply topics.yaml again."""
    admin = admin_client(settings.bootstrap)

    def doomed() -> list[str]:
        names = admin.list_topics(timeout=10).topics
        return sorted(n for n in names if n.startswith(("hub.", APP_PREFIX)))

    names = doomed()
    if names:
        for fut in admin.delete_topics(names, request_timeout=30).values():
            try:
                fut.result(timeout=30)
            except KafkaException:
                pass
    deadline = time.monotonic() + timeout
    while doomed():
        if time.monotonic() > deadline:
            raise RuntimeError("topics were not deleted in time")
        time.sleep(0.5)
    specs = load_topic_specs(settings.topics_file)
    while True:
        try:
            apply_topics(admin, specs)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    wait_leaders(settings, [s.name for s in specs], deadline - time.monotonic())


def create_topic(settings: Settings, name: str, partitions: int, timeout: float = 60.0) -> None:
    """Create a benchmark-only topic (replication 1) and wait for its leaders."""
    admin = admin_client(settings.bootstrap)
    if name not in admin.list_topics(timeout=10).topics:
        fut = admin.create_topics([NewTopic(name, partitions, 1)], request_timeout=30)[name]
        try:
            fut.result(timeout=30)
        except KafkaException as exc:
            if "already exists" not in str(exc).lower():
                raise
    wait_leaders(settings, [name], timeout)


def wait_leaders(settings: Settings, names: list[str], timeout: float) -> None:
    admin = admin_client(settings.bootstrap)
    deadline = time.monotonic() + max(timeout, 1.0)
    while True:
        meta = admin.list_topics(timeout=10).topics
        if all(n in meta and meta[n].partitions and meta[n].error is None
               and all(p.leader >= 0 for p in meta[n].partitions.values()) for n in names):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"topics {names} have no leaders in time")
        time.sleep(0.5)


def delete_topics(settings: Settings, prefix: str) -> None:
    """Delete the topics whose name starts with ``prefix`` (benchmark apps' changelogs etc.)."""
    admin = admin_client(settings.bootstrap)
    names = [n for n in admin.list_topics(timeout=10).topics if n.startswith(prefix)]
    if names:
        for fut in admin.delete_topics(names, request_timeout=30).values():
            try:
                fut.result(timeout=30)
            except KafkaException:
                pass


def delete_dedup_keys(settings: Settings, app_prefix: str) -> None:
    """Remove the Redis dedup keys of apps whose id starts with ``app_prefix`` (best effort:
    they expire on their own)."""
    try:
        import redis

        client = redis.Redis.from_url(settings.redis_url)
        batch = []
        for key in client.scan_iter(match=f"hub:dedup:{app_prefix}*", count=10_000):
            batch.append(key)
            if len(batch) >= 10_000:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)
    except Exception as exc:
        print(f"  (redis cleanup skipped: {exc})")


def topic_ends(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    """``(topic, partition)`` -> end offset (high watermark) now."""
    consumer = Consumer({"bootstrap.servers": settings.bootstrap,
                         "group.id": f"{APP_PREFIX}probe-{uuid.uuid4().hex[:8]}"})
    try:
        ends = {}
        for t in topics:
            for p in sorted(consumer.list_topics(t, timeout=10).topics[t].partitions):
                ends[(t, p)] = consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
        return ends
    finally:
        consumer.close()


def committed_offsets(settings: Settings, group: str,
                      topics: list[str]) -> dict[tuple[str, int], int]:
    """``(topic, partition)`` -> the offset ``group`` committed (-1: none)."""
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    try:
        out: dict[tuple[str, int], int] = {}
        for t in topics:
            parts = sorted(consumer.list_topics(t, timeout=10).topics[t].partitions)
            for c in consumer.committed([TopicPartition(t, p) for p in parts], timeout=10):
                out[(c.topic, c.partition)] = c.offset
        return out
    finally:
        consumer.close()


def commit_at_end(settings: Settings, group: str, topics: list[str]) -> None:
    """Start ``group`` at the current end of ``topics`` (what earlier runs left is skipped)."""
    ends = topic_ends(settings, topics)
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(t, p, off) for (t, p), off in ends.items()],
                        asynchronous=False)
    finally:
        consumer.close()


def records_between(settings: Settings, spans: dict[tuple[str, int], tuple[int, int]],
                    timeout: float = 10.0) -> int | None:
    """How many records a read_committed consumer sees in ``[start, end)`` of each partition;
    None when it could not read that far within ``timeout``.

    ``end - committed`` overstates what is left when transaction markers (which take offsets but
    are no records) follow the last record; this counts the records themselves.
    """
    spans = {tp: (max(s, 0), e) for tp, (s, e) in spans.items() if e > max(s, 0)}
    if not spans:
        return 0
    consumer = Consumer({"bootstrap.servers": settings.bootstrap,
                         "group.id": f"{APP_PREFIX}probe-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "isolation.level": "read_committed"})
    try:
        consumer.assign([TopicPartition(t, p, s) for (t, p), (s, _e) in spans.items()])
        found = 0
        open_parts = set(spans)
        deadline = time.monotonic() + timeout
        while open_parts and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                tp = (msg.topic(), msg.partition())
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:  # all that is readable now
                        open_parts.discard(tp)
                    continue
                if msg.offset() >= spans[tp][1]:
                    open_parts.discard(tp)
                else:
                    found += 1
        return None if open_parts else found
    finally:
        consumer.close()


# -- processes --------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc/*/stat)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            out.append(int(entry))
    return sorted(out)


def stop_process_group(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM the process group ``proc`` leads (started with start_new_session), then SIGKILL."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
    try:  # what is left of the group (a supervised child that outlived its parent)
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def group_members(settings: Settings, group: str) -> int:
    """Members of a consumer group when the broker calls it stable (0 otherwise or on error)."""
    admin = admin_client(settings.bootstrap)
    try:
        desc = admin.describe_consumer_groups([group])[group].result(timeout=10)
    except Exception:
        return 0
    if str(desc.state).rsplit(".", 1)[-1] != "STABLE":
        return 0
    return len(desc.members)
