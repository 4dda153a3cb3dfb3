"""Watching the soak's worker while the traffic flows: its supervisor's log for restarts, its
process for RSS, its /metrics for counters, and its consumer group until it is stable.

Apart from the run (benchmarks/soak.py) and the verdicts (benchmarks/soak_report.py): these
are the samples both of them read.
"""

from __future__ import annotations

import dataclasses
import subprocess
import time
import urllib.request
from pathlib import Path

from benchmarks.stack import children_of, group_members, rss_bytes
from hub.settings import Settings

#: What the supervisor (hub/runtime/supervise.py) writes each time it restarts the worker.
RESTART_LINE = "the worker stopped itself"
REREAD_METRIC = "hub_liveness_partitions_reread_total"
INFO_METRICS = ("hub_deadletter_messages_total", "hub_correlate_late_events_total",
                "hub_redis_errors_total")


def scrape(port: int) -> dict[str, float] | None:
    """The worker's Prometheus samples, ``name{labels}`` -> value; None if unreachable. A metric
    declared without samples yet (a labelled counter nobody incremented) appears as ``name`` ->
    0.0, from its ``# TYPE`` line."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            out.setdefault(line.split()[2], 0.0)
        elif line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                continue
    return out


def metric_sum(samples: dict[str, float], name: str) -> float | None:
    """Sum of a metric's samples over its labels; None if the worker does not declare it."""
    found = [v for k, v in samples.items() if k == name or k.startswith(name + "{")]
    return sum(found) if found else None


@dataclasses.dataclass
class Watch:
    """What the monitor saw, sampled while the traffic flows."""

    lag: list[tuple[float, int]] = dataclasses.field(default_factory=list)  # (t, messages)
    lag_errors: int = 0
    rss: list[tuple[float, int, int]] = dataclasses.field(default_factory=list)  # (t, pid, B)
    child_pids: list[int] = dataclasses.field(default_factory=list)
    restart_lines: list[str] = dataclasses.field(default_factory=list)
    #: metric -> pid -> last value seen (counters restart at 0 with a new process)
    metrics: dict[str, dict[int, float]] = dataclasses.field(default_factory=dict)
    metrics_declared: set[str] = dataclasses.field(default_factory=set)
    scrapes_ok: int = 0
    log_pos: int = 0

    def metric_total(self, name: str) -> float | None:
        if name not in self.metrics_declared:
            return None
        return sum(self.metrics.get(name, {}).values())


def read_restarts(log_path: Path, watch: Watch) -> None:
    """New supervisor restart lines in the worker's log (read incrementally)."""
    try:
        with open(log_path, "rb") as fh:
            fh.seek(watch.log_pos)
            chunk = fh.read()
    except OSError:
        return
    cut = chunk.rfind(b"\n") + 1
    watch.log_pos += cut
    for line in chunk[:cut].decode(errors="replace").splitlines():
        if RESTART_LINE in line or "giving up" in line:
            watch.restart_lines.append(line.strip())


def sample_worker(sup_pid: int, port: int, watch: Watch, t: float) -> int | None:
    """RSS and metrics of the supervised worker process (the supervisor's child)."""
    kids = children_of(sup_pid)
    if not kids:
        return None
    pid = kids[-1]
    if pid not in watch.child_pids:
        watch.child_pids.append(pid)
    rss = rss_bytes(pid)
    if rss:
        watch.rss.append((t, pid, rss))
    samples = scrape(port)
    if samples is not None:
        watch.scrapes_ok += 1
        for name in (REREAD_METRIC, *INFO_METRICS):
            value = metric_sum(samples, name)
            if value is not None:
                watch.metrics_declared.add(name)
                watch.metrics.setdefault(name, {})[pid] = value
    return pid


def wait_stable(settings: Settings, group: str, sup: subprocess.Popen[bytes],
                timeout: float) -> float:
    """Seconds until ``group`` is stable with a member; raises if the worker exits or never
    joins."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if sup.poll() is not None:
            raise RuntimeError(f"`hub worker` exited with status {sup.returncode} at start-up")
        if group_members(settings, group) >= 1:
            return time.monotonic() - t0
        time.sleep(1.0)
    raise RuntimeError(f"the worker's consumer group {group} was not stable in {timeout:.0f} s")
