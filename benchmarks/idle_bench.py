"""What an idle worker costs the broker, and how soon a registry write reaches the worker.

    python -m benchmarks.idle_bench                 # ~1.5 min, a private stack
    python -m benchmarks.idle_bench --json idle.json

A worker spends most of a city's day waiting: its readers long-poll the broker. Each poll is a
request the broker answers, so a short poll wait costs the broker CPU all day long, and on a
machine the broker shares with the workers that CPU is theirs. The benchmark prints the broker's
CPU (cores) alone, then with one idle `hub worker` beside it (the ratio: what the worker adds);
then, through the worker's own registry reader (hub/runtime/registry_reader.py), the time from a
registry write to ``sync()`` returning with it applied: a batch that follows a registry change
waits that long before it is handled.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine_note
from benchmarks.stack import (
    cpu_seconds,
    private_stack_down,
    private_stack_up,
    stack_env,
    stop_process_group,
)
from hub.adapters.kafka import make_producer
from hub.codec import load_codec
from hub.core.registry import MemoryBuildingRegistry
from hub.malloc_policy import child_environment
from hub.runtime.registry_reader import RegistryReader
from hub.settings import REGISTRY_TOPIC, Settings
from hub.stack.kafka import KafkaPaths
from hub.stack.procs import read_pid


def broker_cores(pid: int, seconds: float) -> float:
    """The broker JVM's CPU over ``seconds``, in cores."""
    start = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - start) / seconds


def registry_delays(settings: Settings, writes: int) -> list[float]:
    """Milliseconds from a registry write (flushed) to the reader's ``sync()`` having it; the
    reader idles 1 s before each write, so its fetch is waiting on the broker as in a worker."""
    reader = RegistryReader(settings.bootstrap, REGISTRY_TOPIC, load_codec(settings.schemas_dir),
                            MemoryBuildingRegistry())
    producer = make_producer(settings, **{"linger.ms": 0})
    try:
        if not reader.sync():
            raise RuntimeError("the registry reader could not reach the topic's end")
        delays = []
        for i in range(writes):
            time.sleep(1.0)
            # A tombstone of a building nobody registered: read and applied, changes nothing.
            producer.produce(REGISTRY_TOPIC, key=f"idle-bench-{i}".encode(), value=None)
            producer.flush(10)
            started = time.perf_counter()
            if not reader.sync():
                raise RuntimeError("sync() gave up after a registry write")
            delays.append(1000 * (time.perf_counter() - started))
        return delays
    finally:
        reader.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20.0, help="each CPU measurement's length")
    p.add_argument("--writes", type=int, default=15, help="registry writes timed")
    p.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = p.parse_args(argv)
    shared = Settings.from_env()
    with tempfile.TemporaryDirectory(prefix="hub-idle-bench-") as tmp:
        settings = private_stack_up(shared, Path(tmp) / "stack")
        worker = None
        try:
            broker = read_pid(KafkaPaths.of(settings).pidfile)
            assert broker is not None, "the private broker wrote no pid file"
            subprocess.run([sys.executable, "-m", "hub", "topics", "apply"], check=True,
                           env={**os.environ, **stack_env(settings)}, capture_output=True)
            print(f"# idle_bench  {machine_note()}  broker {settings.bootstrap}", flush=True)
            time.sleep(5)  # the topics' creation settles
            alone = broker_cores(broker, args.seconds)
            env = child_environment({**os.environ, **stack_env(settings),
                                     "HUB_STATE_DIR": str(Path(tmp) / "worker")})
            worker = subprocess.Popen([sys.executable, "-m", "hub", "worker"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)
            time.sleep(15)  # started, joined its group, restored nothing, idle
            beside = broker_cores(broker, args.seconds)
            print(f"broker CPU: alone {alone:.3f} cores, beside an idle `hub worker` "
                  f"{beside:.3f} (x{beside / alone:.2f}; the worker adds {beside - alone:.3f})")
            delays = registry_delays(settings, args.writes)
            print(f"registry write -> reader synced, over {len(delays)} writes: median "
                  f"{statistics.median(delays):.1f} ms, max {max(delays):.1f} ms")
            if args.json:
                Path(args.json).write_text(json.dumps({
                    "broker_cores_alone": alone, "broker_cores_beside_idle_worker": beside,
                    "registry_sync_ms": delays}, indent=2) + "\n", encoding="utf-8")
        finally:
            if worker is not None:
                stop_process_group(worker)
            private_stack_down(settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
