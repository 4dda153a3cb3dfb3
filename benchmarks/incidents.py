"""Incidents online (hub.incidents, read_committed) against `hub correlate` offline.

The comparison is the one the worker tests make (tests/integration/incident_compare.py:
incident_view, final_versions, describe_diff), kept here so the benchmarks do not import test code:
the highest version of each incident id, compared on id, version, rule, risk level, evidence and
route.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.adapters.kafka import OFFSET_BEGINNING, TopicPartition, make_consumer
from hub.codec import load_codec
from hub.settings import INCIDENTS_TOPIC, Settings

REPO = Path(__file__).resolve().parents[1]


def incident_view(rec: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of an incident that online and offline must agree on."""
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


def describe_diff(online: Mapping[str, Mapping[str, Any]],
                  offline: Mapping[str, Mapping[str, Any]], limit: int = 20) -> str:
    """How two sets of final versions differ, one line per incident id ('' when equal)."""
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
    more = f"\n... {len(lines) - limit} more" if len(lines) > limit else ""
    return "\n".join(lines[:limit]) + more


def correlate_offline(events: Path, out: Path, *, env: Mapping[str, str],
                      rules: Path | None = None) -> list[dict[str, Any]]:
    """Every incident version `hub correlate` emits over ``events`` (registry lines included).

    Exit status 1 says some line was invalid (rejected, as the worker dead-letters it): the
    incidents of the other lines still count.
    """
    argv = [sys.executable, "-m", "hub", "correlate", "--in", str(events), "--out", str(out)]
    if rules is not None:
        argv += ["--rules", str(rules)]
    done = subprocess.run(argv, cwd=REPO, env=dict(env), capture_output=True, text=True,
                          timeout=900, check=False)
    if done.returncode not in (0, 1) or not out.exists():
        raise RuntimeError(f"hub correlate failed ({done.returncode}): {done.stderr[-2000:]}")
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    for r in records:
        r.pop("kind", None)
    return records


@dataclass(frozen=True)
class Seen:
    """One incident version read from hub.incidents, with the wall time we read it."""

    at: float  # time.time() when read
    partition: int
    offset: int
    record: dict[str, Any] | None  # None: the value did not decode as an incident


class IncidentReader:
    """Reads hub.incidents with isolation.level=read_committed from given offsets (no group
    commits), decoding each value with the hub's codec. Keeps what it read in ``seen``."""

    def __init__(self, settings: Settings,
                 start: Mapping[tuple[str, int], int] | None = None) -> None:
        self.codec = load_codec(settings.schemas_dir)
        # Positions are assigned below, so this throw-away group never commits anything.
        self.consumer = make_consumer(
            settings, **{"group.id": f"hubbench-incidents-{uuid.uuid4().hex[:8]}"})
        meta = self.consumer.list_topics(INCIDENTS_TOPIC, timeout=10).topics[INCIDENTS_TOPIC]
        self.tps = [TopicPartition(INCIDENTS_TOPIC, p,
                                   (start or {}).get((INCIDENTS_TOPIC, p), OFFSET_BEGINNING))
                    for p in sorted(meta.partitions)]
        self.consumer.assign(self.tps)
        self.seen: list[Seen] = []

    def close(self) -> None:
        self.consumer.close()

    def poll(self, seconds: float) -> int:
        """Read for up to ``seconds``; how many versions arrived."""
        n = 0
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return n
            for msg in self.consumer.consume(num_messages=1000, timeout=min(left, 0.2)):
                if msg.error():
                    continue
                try:
                    kind, record = self.codec.decode(msg.value() or b"")
                except Exception:
                    kind, record = None, None
                self.seen.append(Seen(time.time(), msg.partition(), msg.offset(),
                                      record if kind == "incident" else None))
                n += 1

    def read_to_end(self, *, quiet: float = 2.0, timeout: float = 60.0) -> None:
        """Read up to the end offsets as they are now, or until nothing arrived for ``quiet``
        seconds (transaction markers can keep a read_committed position short of the end)."""
        ends = {}
        for tp in self.tps:
            ends[tp.partition] = self.consumer.get_watermark_offsets(tp, timeout=10,
                                                                     cached=False)[1]
        deadline = time.monotonic() + timeout
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            if self.poll(0.5):
                last_new = time.monotonic()
                continue
            positions = self.consumer.position(self.tps)
            if all(p.offset >= ends[p.partition] or ends[p.partition] == 0 for p in positions):
                return
            if time.monotonic() - last_new >= quiet:
                return

    def until_quiet(self, *, quiet: float, timeout: float) -> None:
        """Read until nothing new arrived for ``quiet`` seconds (at most ``timeout``)."""
        deadline = time.monotonic() + timeout
        last_new = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last_new < quiet:
            if self.poll(0.5):
                last_new = time.monotonic()

    def records(self) -> list[dict[str, Any]]:
        return [s.record for s in self.seen if s.record is not None]

    @property
    def undecodable(self) -> int:
        return sum(1 for s in self.seen if s.record is None)
