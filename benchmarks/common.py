"""Shared helpers for the benchmarks: scenario input, decoding outside the timing, machine notes.

Benchmarks are programs, not tests: they print figures beside a baseline measured in the same run,
because this machine is shared (2 cores, other engineers' Kafka tests) and absolute numbers move.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hub.codec import load_codec, parse_line, to_building, to_event
from hub.core.registry import MemoryBuildingRegistry
from hub.model.errors import RecordError
from hub.model.events import REGISTRY_KIND, Event
from hub.replay.simulate.config import SimConfig
from hub.replay.simulate.simulator import Simulator
from hub.settings import Settings


@dataclass
class Scenario:
    registry: MemoryBuildingRegistry
    events: list[Event]
    source: str


def sim_lines(seed: int, buildings: int, days: int) -> Iterator[str]:
    """The interchange lines `hub simulate` would write (registry first), made lazily."""
    yield from Simulator(SimConfig(seed=seed, buildings=buildings, days=days)).lines()


def file_lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as fh:
        yield from fh


def decode_lines(lines: Iterable[str], settings: Settings,
                 registry: MemoryBuildingRegistry) -> Iterator[Event]:
    """Parse, pseudonymize and validate like `hub correlate`; registry lines fill ``registry``."""
    codec = load_codec(settings.schemas_dir)
    key = settings.pseudonym_key
    for lineno, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            kind, record = parse_line(text, lineno, pseudonym_key=key, codec=codec)
        except RecordError:
            continue
        if kind == REGISTRY_KIND:
            registry.put(to_building(record))
        else:
            yield to_event(kind, record)


def load_scenario(settings: Settings, *, path: Path | None, seed: int, buildings: int,
                  days: int) -> Scenario:
    """Every event of the scenario decoded into ``Event`` objects (done before any timing)."""
    registry = MemoryBuildingRegistry()
    if path is not None:
        lines: Iterable[str] = file_lines(path)
        source = str(path)
    else:
        lines = sim_lines(seed, buildings, days)
        source = f"simulate --seed {seed} --buildings {buildings} --days {days}"
    events = list(decode_lines(lines, settings, registry))
    return Scenario(registry, events, source)


def pin_to_cpu(cpu: int) -> str:
    """Pin this process to one core (``cpu`` < 0: leave it alone); a note for the report."""
    if cpu < 0 or not hasattr(os, "sched_setaffinity"):
        return "not pinned"
    os.sched_setaffinity(0, {cpu})
    return f"pinned to cpu {cpu}"


def git_rev() -> str:
    """The commit the code under test comes from (+ "-dirty" if hub/ has local changes)."""
    repo = Path(__file__).resolve().parents[1]
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, text=True,
                             capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "hub"], cwd=repo,
                               text=True, capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


def machine_note() -> str:
    load = os.getloadavg()
    return (f"{time.strftime('%Y-%m-%d %H:%M:%S %z')}  git {git_rev()}  "
            f"{platform.python_implementation()} "
            f"{platform.python_version()}  cpus={os.cpu_count()}  "
            f"load={load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def loadavg1() -> float:
    return os.getloadavg()[0]


def best_median(values: list[float]) -> tuple[float, float]:
    """(best, median) of rates: higher is better."""
    return max(values), statistics.median(values)


def fmt_rate(rate: float) -> str:
    return f"{rate:,.0f} ev/s"
