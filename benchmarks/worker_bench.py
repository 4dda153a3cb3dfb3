"""The Faust worker's sustained events/s through the real broker, beside a naive Faust agent.

    python -m benchmarks.worker_bench                     # 40k events, 1 then 2 processes
    python -m benchmarks.worker_bench --shared-stack      # on the `hub stack up` broker

By default it starts a broker and a Redis of its own (`hub stack up` with HUB_STATE_DIR in a temp
directory and free loopback ports; the shared stack's cached Kafka jars are copied in) and stops
them at the end: the hub.* topic names are the public contract, not per app, and other engineers'
worker tests delete and re-create them at any moment on the shared broker. ``--shared-stack`` uses
the configured broker instead: it then takes ``<state dir>/hub-topics.lock`` (the lock the worker
integration tests hold while they use the topics), also waits until no other `hub worker`, naive
agent or pytest run has been seen for 15 s, resets every hub.* topic (like
worker_harness.reset_topics), and flags its figures if such a process appears or the source topics
change during a run.

Steps: simulate a scenario; keep the registry and the first ``--events`` source events; produce
them with `hub produce` BEFORE any consumer runs; then, for each contender and process count,
start fresh processes under a fresh ``HUB_APP_ID`` (own consumer group, changelog and Redis dedup
namespace; the same preloaded source data, read from the beginning), poll the group's lag (end
offset − committed offset, hub.runtime.control.group_lag) every 0.5 s and stop when it is 0:

  hub      `hub worker` processes: lag 0 on the source topics AND on hub.internal.correlate
           (ingest → correlate). Ticks are disabled (HUB_TICK_SECONDS=3600) so the correlate
           topic has only the forwarded events; the correlate group starts at that topic's end.
  naive    benchmarks/naive_agent.py: one ``table[key] = value`` per event, plain ``async for``.

Figures: sustained events/s = events / (time lag reached 0 − time the group first committed
anything), so process start-up, rebalance and the registry load are left out (printed apart as
``startup``); ``end-to-end`` includes them. Commits happen every 1 s or 1000 messages, so the
end is known to within ~1 s. ``cpu ms/kev`` is the worker processes' CPU time per 1000 events,
which other load on the machine disturbs less than wall time.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from benchmarks.common import machine_note
from hub.adapters.kafka_admin import admin_client, apply_topics
from hub.adapters.topic_specs import load_topic_specs
from hub.runtime.control import group_lag
from hub.settings import CORRELATE_TOPIC, SOURCE_TOPICS, Settings

REPO = Path(__file__).resolve().parents[1]
APP_PREFIX = "hubbench-"
#: Command lines that mean someone else is using the hub.* topics.
#: Any pytest run counts: a plain `pytest` runs tests/integration, which resets the hub.* topics.
FOREIGN_MARKERS = ("hub worker", "benchmarks.naive_agent", "pytest")
SOURCE_LIST = list(SOURCE_TOPICS.values())


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
        if "worker_bench" in cmd:
            continue
        if any(m in cmd.replace("-m hub worker", "hub worker") for m in FOREIGN_MARKERS):
            found.append(f"{entry}: {cmd[:120]}")
    return found


def take_topics_lock(settings: Settings, timeout: float) -> Any:
    """Hold ``<state dir>/hub-topics.lock``, the lock the worker integration tests take
    (worker_harness.exclusive_topics) before they reset the hub.* topics; an open file."""
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
                print("worker_bench: the hub-topics lock stayed taken; not resetting the topics",
                      file=sys.stderr)
                sys.exit(3)
            time.sleep(0.5)


def wait_exclusive(timeout: float, quiet: float = 15.0) -> None:
    """Wait until nobody else has used the hub.* topics for ``quiet`` seconds (or give up)."""
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while True:
        users = foreign_users(set())
        now = time.monotonic()
        if users:
            quiet_since = now
            if now >= deadline:
                print("worker_bench: others are using the hub.* topics; not resetting them:\n  "
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
    """Settings of a broker and Redis of our own: free loopback ports, state under ``root``."""
    kafka, controller, redis = free_port(), free_port(), free_port()
    return dataclasses.replace(
        shared, state_dir=root, bootstrap=f"127.0.0.1:{kafka}",
        redis_url=f"redis://127.0.0.1:{redis}/0", kafka_port=kafka, controller_port=controller,
        redis_port=redis)


def stack_env(settings: Settings) -> dict[str, str]:
    """The HUB_* variables that point a `hub` subprocess at ``settings``' broker and Redis."""
    return {"HUB_BOOTSTRAP": settings.bootstrap, "HUB_REDIS_URL": settings.redis_url,
            "HUB_STATE_DIR": str(settings.state_dir), "HUB_KAFKA_PORT": str(settings.kafka_port),
            "HUB_CONTROLLER_PORT": str(settings.controller_port),
            "HUB_REDIS_PORT": str(settings.redis_port)}


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
    wanted = [s.name for s in specs]
    while True:
        meta = admin.list_topics(timeout=10).topics
        if all(n in meta and meta[n].partitions and meta[n].error is None
               and all(p.leader >= 0 for p in meta[n].partitions.values()) for n in wanted):
            return
        if time.monotonic() > deadline:
            raise RuntimeError("topics have no leaders in time")
        time.sleep(0.5)


def topic_ends(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
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


# -- scenario ---------------------------------------------------------------------------------


def make_preload(tmp: Path, args: argparse.Namespace) -> tuple[Path, int]:
    """Registry lines plus the first ``args.events`` source events of a simulated scenario."""
    if args.path is None:
        sim = tmp / "sim.jsonl"
        subprocess.run([sys.executable, "-m", "hub", "simulate", "--seed", str(args.seed),
                        "--buildings", str(args.buildings), "--days", str(args.days),
                        "--out", str(sim)], check=True, cwd=REPO, capture_output=True)
    else:
        sim = args.path
    out = tmp / "preload.jsonl"
    n = 0
    with open(sim, encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
        for line in src:
            if '"kind":"building_identity"' in line.replace(" ", ""):
                dst.write(line)
            elif n < args.events:
                dst.write(line)
                n += 1
    return out, n


# -- processes --------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class Result:
    contender: str
    procs: int
    events: int
    sustained_s: float = float("nan")
    startup_s: float = float("nan")
    total_s: float = float("nan")
    cpu_s: float = 0.0
    load1: float = 0.0
    done: bool = False
    foreign: bool = False
    note: str = ""

    @property
    def rate(self) -> float:
        return self.events / self.sustained_s if self.sustained_s > 0 else float("nan")

    @property
    def e2e_rate(self) -> float:
        return self.events / self.total_s if self.total_s > 0 else float("nan")


def run_contender(settings: Settings, tmp: Path, contender: str, procs: int, events: int,
                  timeout: float, spy_seconds: float = 0.0, *,
                  watch_foreign: bool = True) -> Result:
    app_id = f"{APP_PREFIX}{contender}{procs}-{uuid.uuid4().hex[:6]}"
    s = dataclasses.replace(settings, app_id=app_id)
    if contender == "hub":
        commit_at_end(settings, app_id, [CORRELATE_TOPIC])
    env = {**os.environ, **stack_env(settings), "HUB_APP_ID": app_id,
           "HUB_STATE_DIR": str(tmp / "state" / app_id), "HUB_TICK_SECONDS": "3600",
           "PYTHONUNBUFFERED": "1"}
    children: list[subprocess.Popen[bytes]] = []
    result = Result(contender, procs, events)
    t_start = time.monotonic()
    first_progress: float | None = None
    spy: subprocess.Popen[bytes] | None = None
    load_samples = []
    try:
        for i in range(procs):
            wid = f"{contender}{i + 1}"
            if contender == "hub":
                argv = [sys.executable, "-m", "hub", "worker", "--no-supervise", "--worker-id", wid,
                        "--metrics-port", "0", "--loglevel", "warning"]
            else:
                argv = [sys.executable, "-m", "benchmarks.naive_agent", "--worker-id", wid]
            log = open(tmp / f"{app_id}-{wid}.log", "wb")
            children.append(subprocess.Popen(argv, env=env, cwd=REPO, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True))
            log.close()
        own = {c.pid for c in children}
        deadline = t_start + timeout
        last_print = 0.0
        while time.monotonic() < deadline:
            time.sleep(0.5)
            dead = [c.pid for c in children if c.poll() is not None]
            if dead:
                result.note = f"worker process(es) {dead} exited; see {tmp}"
                break
            src_lag = group_lag(s, SOURCE_LIST)
            corr_lag = group_lag(s, [CORRELATE_TOPIC]) if contender == "hub" else 0
            now = time.monotonic()
            load_samples.append(os.getloadavg()[0])
            if watch_foreign and foreign_users(own):
                result.foreign = True
            if first_progress is None and src_lag < events:
                first_progress = now
                if spy_seconds:
                    spy = start_py_spy(children[0].pid, spy_seconds, tmp / f"{app_id}.raw")
            if now - last_print >= 5:
                last_print = now
                print(f"    {now - t_start:5.0f}s  source lag {src_lag:>8,}  correlate lag "
                      f"{corr_lag:>8,}", flush=True)
            if src_lag == 0 and corr_lag == 0:
                result.done = True
                break
        t_end = time.monotonic()
        result.cpu_s = sum(cpu_seconds(c.pid) for c in children)
        if first_progress is not None:
            result.startup_s = first_progress - t_start
            result.sustained_s = t_end - first_progress
        result.total_s = t_end - t_start
        if not result.done and not result.note:
            lag = group_lag(s, SOURCE_LIST)
            result.note = f"timed out after {timeout:.0f}s with source lag {lag:,}"
            result.events = events - lag  # what it got through
    finally:
        for c in children:
            if c.poll() is None:
                os.killpg(c.pid, signal.SIGTERM)
        for c in children:
            try:
                c.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(c.pid, signal.SIGKILL)
                c.wait(timeout=10)
    if spy is not None:
        spy.wait(timeout=spy_seconds + 30)
        print(hot_spots(tmp / f"{app_id}.raw"))
    result.load1 = sum(load_samples) / len(load_samples) if load_samples else os.getloadavg()[0]
    return result


def start_py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy")
    if exe is None:
        print("    (py-spy not installed: pip install py-spy)")
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                             "--rate", "200", "--format", "raw", "--output", str(out),
                             "--nonblocking"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def hot_spots(raw: Path, top: int = 18) -> str:
    """py-spy's collapsed stacks as two tables: own time per function, and time inside each
    hub/ function (inclusive), both as a share of all samples."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    try:
        text = raw.read_text()
    except OSError:
        return f"    (no py-spy output at {raw})"
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";")]
        own[frames[-1]] += n
        for f in set(frames):
            if f.startswith("hub/"):
                incl[f] += n
    if not total:
        return "    (py-spy recorded nothing)"
    lines = [f"    py-spy, {total} samples of the single hub worker: own time"]
    lines += [f"      {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("    time inside hub/ functions (inclusive)")
    lines += [f"      {100 * n / total:5.1f}%  {f}" for f, n in incl.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """``func (path/to/site-packages/faust/x.py:12)`` -> ``faust/x.py:func``."""
    func, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", f"{REPO}/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{func}"


def cleanup(settings: Settings) -> None:
    """Remove the benchmark apps' changelog topics and Redis dedup keys."""
    admin = admin_client(settings.bootstrap)
    names = [n for n in admin.list_topics(timeout=10).topics if n.startswith(APP_PREFIX)]
    if names:
        for fut in admin.delete_topics(names, request_timeout=30).values():
            try:
                fut.result(timeout=30)
            except KafkaException:
                pass
    try:
        import redis

        client = redis.Redis.from_url(settings.redis_url)
        batch = []
        for key in client.scan_iter(match=f"hub:dedup:{APP_PREFIX}*", count=10_000):
            batch.append(key)
            if len(batch) >= 10_000:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)
    except Exception as exc:  # best effort: the keys expire on their own
        print(f"  (redis cleanup skipped: {exc})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=40_000)
    p.add_argument("--in", dest="path", type=Path, help="interchange file (default: simulate)")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--buildings", type=int, default=80)
    p.add_argument("--days", type=int, default=8)
    p.add_argument("--workers", default="1,2", help="process counts to run, e.g. 1,2")
    p.add_argument("--contenders", default="hub,naive")
    p.add_argument("--timeout", type=float, default=240.0, help="seconds per contender run")
    p.add_argument("--shared-stack", action="store_true",
                   help="use the configured broker (HUB_BOOTSTRAP) instead of a private one; "
                   "waits until nobody else uses the hub.* topics, then resets them")
    p.add_argument("--wait-exclusive", type=float, default=300.0,
                   help="--shared-stack: how long to wait for other users before giving up")
    p.add_argument("--py-spy", type=float, default=0.0, metavar="S",
                   help="sample the single hub worker with py-spy for S seconds; print hot spots")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    # Started in the background from a script, SIGINT may be ignored: make both signals unwind
    # through the ``finally`` blocks that stop the worker processes and clean up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    shared = Settings.from_env()
    counts = [int(x) for x in args.workers.split(",")]
    contenders = args.contenders.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="hubbench-"))
    preload, n = make_preload(tmp, args)
    settings = shared
    results: list[Result] = []
    on_topics = 0
    lock = None
    try:
        if args.shared_stack:
            lock = take_topics_lock(shared, args.wait_exclusive)
            wait_exclusive(args.wait_exclusive)
        else:
            t0 = time.monotonic()
            settings = private_stack_up(shared, tmp / "stack")
            print(f"private stack (Kafka {settings.bootstrap}, Redis {settings.redis_url}) up in "
                  f"{time.monotonic() - t0:.1f} s", flush=True)
        print(f"# worker_bench  {machine_note()}  broker {settings.bootstrap}", flush=True)
        print(f"scenario: {n:,} source events (+ registry) in {preload}")
        t0 = time.monotonic()
        reset_topics(settings)
        print(f"topics reset in {time.monotonic() - t0:.1f} s")
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "hub", "produce", str(preload)], cwd=REPO,
                              capture_output=True, text=True, check=False,
                              env={**os.environ, **stack_env(settings)})
        took = time.monotonic() - t0
        if done.returncode != 0:
            print(f"hub produce failed: {done.stdout}{done.stderr}", file=sys.stderr)
            return 1
        on_topics = sum(topic_ends(settings, SOURCE_LIST).values())
        print(f"preloaded with `hub produce` in {took:.1f} s ({n / took:,.0f} lines/s): "
              f"{on_topics:,} messages on the source topics")
        for procs in counts:
            for contender in contenders:
                print(f"  {contender} x{procs} ...", flush=True)
                r = run_contender(settings, tmp, contender, procs, on_topics, args.timeout,
                                  args.py_spy if (contender, procs) == ("hub", 1) else 0,
                                  watch_foreign=args.shared_stack)
                now_on = sum(topic_ends(settings, SOURCE_LIST).values())
                if now_on != on_topics:
                    r.foreign = True
                    r.note += f" source topics changed under the run ({on_topics:,} -> {now_on:,})"
                results.append(r)
                print(f"  {contender} x{procs}: {r.rate:,.0f} ev/s sustained, startup "
                      f"{r.startup_s:.1f} s, total {r.total_s:.1f} s, cpu {r.cpu_s:.1f} s, "
                      f"load1 {r.load1:.2f} {r.note}", flush=True)
    finally:
        if lock is not None:
            lock.close()  # releases the flock
        if args.shared_stack:
            cleanup(settings)
        elif settings is not shared:
            private_stack_down(settings)
            shutil.rmtree(tmp / "stack", ignore_errors=True)

    print(f"\n{'contender':<10}{'procs':>6}{'events':>10}{'sustained ev/s':>16}"
          f"{'end-to-end ev/s':>17}{'startup s':>11}{'cpu ms/kev':>12}{'load1':>7}")
    for r in results:
        flag = "  (OTHER WORKERS RAN MEANWHILE)" if r.foreign else ""
        flag += "" if r.done else f"  NOT DONE: {r.note}"
        print(f"{r.contender:<10}{r.procs:>6}{r.events:>10,}{r.rate:>16,.0f}{r.e2e_rate:>17,.0f}"
              f"{r.startup_s:>11.1f}{1000 * r.cpu_s / max(r.events, 1) * 1000:>12.1f}"
              f"{r.load1:>7.2f}{flag}")
    by = {(r.contender, r.procs): r for r in results}
    for procs in counts:
        hub, naive = by.get(("hub", procs)), by.get(("naive", procs))
        if hub and naive:
            print(f"ratio hub/naive with {procs} process(es): sustained "
                  f"{hub.rate / naive.rate:.2f}, cpu per event "
                  f"{(hub.cpu_s / hub.events) / (naive.cpu_s / naive.events):.2f}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine_note(), "events": on_topics,
                                         "results": [dataclasses.asdict(r) | {
                                             "rate": r.rate, "e2e_rate": r.e2e_rate}
                                             for r in results]}, indent=2))
    print(f"logs: {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
