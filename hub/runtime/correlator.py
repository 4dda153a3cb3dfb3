"""The correlation agent's logic: one engine per (partition, lane), state in a Faust table.

State is written back per key per batch: each changed (rule, key) state is one table entry
(``<partition>|<lane>|R|<rule>|<key>``), plus watermark progress per lane and the last offset
processed per partition. Entries go to the changelog partition of the message's own partition, so
after a rebalance the new owner rebuilds exactly this partition's engines. A message at or below
the stored offset was already applied (a redelivery after a crash) and is skipped; so is an event
at or below the offset stored in its lane's meta, which a crash in mid-write can leave ahead of the
partition's offset (``PartitionState.lane_seq``).

Control messages on the same topic: ``hub-tick`` (wall ms, with ``hub-tick-origins``: the source
partitions whose every message the sending worker has forwarded; only those count quiet time) and
``hub-control: flush`` (end of input, as at the end of a file in ``hub correlate``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.codec import Codec
from hub.core.engine import CorrelationEngine, StepResult
from hub.core.registry import BuildingRegistry
from hub.core.rules import RulePack
from hub.model.errors import RecordError
from hub.model.events import Event
from hub.model.incidents import Incident
from hub.observability.metrics import HubMetrics
from hub.offline.correlate import describe_late
from hub.runtime.outbox import Outbox, headers_of
from hub.settings import INCIDENTS_TOPIC, LEVEL_TOPICS

log = logging.getLogger(__name__)


def source_of(headers: dict[str, bytes]) -> tuple[str, int] | None:
    """The source message a forward carries (``hub-src``): its origin "topic/partition" and
    offset; None on a message without one (ticks, control)."""
    origin, _, offset = headers.get("hub-src", b"").decode().rpartition("/")
    return (origin, int(offset)) if origin and offset.isdigit() else None


class LateError(RecordError):
    reason = "LATE"


@dataclass
class PartitionState:
    engines: dict[str, CorrelationEngine] = field(default_factory=dict)
    offset: int = -1
    #: "<lane>|<source topic>/<source partition>" -> highest source offset applied. After a crash
    #: the ingest agent forwards again what it had forwarded but not committed; those copies are
    #: recognised here (a source partition's forwards to one lane arrive in source order).
    applied: dict[str, int] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)
    #: lane -> the offset of this partition up to which the lane's restored state is complete
    #: (written in the lane's meta entry, after all of the lane's states of a batch). A SIGKILL
    #: while a batch's writes are in flight leaves a prefix of them in the changelog: a lane
    #: whose meta landed already holds the batch's events, which are delivered again and must
    #: not be applied twice (its clocks would call them LATE).
    lane_seq: dict[str, int] = field(default_factory=dict)


class StateTable:
    """What the correlator needs of a Faust table: read the store, write store + changelog."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def items_with_prefix(self, prefix: bytes) -> Iterable[tuple[bytes, bytes]]:
        data = self.table.data
        return [(k, data[k]) for k in list(data.keys()) if k.startswith(prefix)]

    async def put(self, partition: int, key: bytes, value: bytes | None, outbox: Outbox) -> None:
        data = self.table.data
        if value is None:
            if key in data:
                del data[key]
        else:
            data[key] = value
        await outbox.send(self.table.changelog_topic.get_topic_name(), key, value,
                          partition=partition)


class Correlator:
    def __init__(
        self,
        *,
        pack: RulePack,
        codec: Codec,
        registry: BuildingRegistry,
        table: StateTable,
        metrics: HubMetrics,
        origins: dict[str, list[str]] | None = None,
    ) -> None:
        self.pack, self.codec, self.registry, self.table = pack, codec, registry, table
        #: kind -> the source partitions ("topic/partition") whose events may reach an engine
        self.origins = origins
        self.metrics = metrics
        self.partitions: dict[int, PartitionState] = {}
        self._suppressed_seen: dict[tuple[int, str], int] = {}

    # -- partitions -------------------------------------------------------------------------

    def forget(self, partitions: Iterable[int]) -> None:
        """A rebalance took these partitions away: drop their engines (the table keeps state)."""
        for p in partitions:
            self.partitions.pop(p, None)

    def _new_engine(self, lane: str) -> CorrelationEngine:
        return CorrelationEngine(self.pack, self.registry, lanes={lane}, track_changes=True,
                                 origins=self.origins)

    def partition(self, p: int) -> PartitionState:
        state = self.partitions.get(p)
        if state is not None:
            return state
        state = PartitionState()
        # Fresh engines count suppressions from zero: so does the metric's bookkeeping.
        for seen_key in [k for k in self._suppressed_seen if k[0] == p]:
            del self._suppressed_seen[seen_key]
        loaded = 0
        for raw_key, raw_value in self.table.items_with_prefix(f"{p}|".encode()):
            parts = raw_key.decode().split("|", 4)
            if len(parts) == 2 and parts[1] == "offset":
                state.offset = int(raw_value)
                continue
            if len(parts) == 4 and parts[1] == "src":
                state.applied[f"{parts[2]}|{parts[3]}"] = int(raw_value)
                continue
            lane = parts[1]
            engine = state.engines.get(lane) or state.engines.setdefault(
                lane, self._new_engine(lane)
            )
            if len(parts) == 3 and parts[2] == "meta":
                meta = json.loads(raw_value)
                engine.load_meta(meta)
                state.lane_seq[lane] = int(meta.get("seq", -1))
            elif len(parts) == 5:
                if engine.load_state((parts[2], parts[3], parts[4]), json.loads(raw_value)):
                    loaded += 1
        for engine in state.engines.values():
            engine.take_dirty()
        log.info("partition %d: restored %d states, offset %d", p, loaded, state.offset)
        self.partitions[p] = state
        return state

    # -- batches ----------------------------------------------------------------------------

    async def handle_batch(self, events: Sequence[Any], outbox: Outbox) -> None:
        touched: dict[int, set[str]] = {}
        for ev in events:
            msg = ev.message
            p = msg.partition
            part = self.partition(p)
            if msg.offset <= part.offset:
                continue  # applied before a crash; its effects are already in the table
            part.offset = msg.offset
            lanes = touched.setdefault(p, set())
            headers = headers_of(msg)
            if "hub-tick" in headers:
                wall = int(headers["hub-tick"])
                listed = headers.get("hub-tick-origins", b"").decode().split(",")
                vouched = {origin for origin in listed if origin}
                for lane, engine in part.engines.items():
                    await self._emit(engine.tick(wall, vouched), msg, headers, outbox)
                    lanes.add(lane)
            elif headers.get("hub-control") == b"flush":
                for lane, engine in part.engines.items():
                    await self._emit(engine.flush(), msg, headers, outbox)
                    lanes.add(lane)
            else:
                await self._event(part, msg, headers, outbox, lanes)
        for p, lanes in touched.items():
            await self._persist(p, lanes, outbox)

    async def _event(self, part: PartitionState, msg: Any, headers: dict[str, bytes],
                     outbox: Outbox, lanes: set[str]) -> None:
        lane = headers.get("hub-lane", b"").decode()
        source = source_of(headers)
        origin = source[0] if source else ""
        mark = f"{lane}|{origin}"
        if msg.offset <= part.lane_seq.get(lane, -1) or (
                source is not None and source[1] <= part.applied.get(mark, -1)):
            # This lane has the event already: applied before a crash cut the batch's writes
            # short (see lane_seq), or a redelivered forward (ingest crashed after forwarding,
            # before committing). Not new, not late, just a repeat.
            self.metrics.duplicates.labels(headers.get("hub-kind", b"").decode() or "unknown").inc()
            return
        if source is not None:
            part.applied[mark] = source[1]
            part.changed.add(mark)
        try:
            kind, record = self.codec.decode(msg.value)
            event = Event.from_record(kind, record)
            engine = part.engines.get(lane)
            if engine is None:
                if lane not in self.pack.lanes:
                    raise RecordError(f"no rule of this worker uses lane {lane!r}",
                                      field="hub-lane", reason="PROCESSING_ERROR")
                engine = part.engines[lane] = self._new_engine(lane)
        except Exception as exc:
            await self._dead_letter(exc, msg, headers, outbox)
            return
        lanes.add(lane)
        await self._emit(engine.process(event, origin), msg, headers, outbox)

    async def _emit(self, result: StepResult, msg: Any, headers: dict[str, bytes],
                    outbox: Outbox) -> None:
        for late in result.late:
            self.metrics.late_events.labels(late.event.kind).inc()
            await self._dead_letter(LateError(describe_late(late), field="event_time"), msg,
                                    headers, outbox)
        for incident in result.incidents:
            await self.publish(incident, outbox)

    async def _dead_letter(self, exc: BaseException, msg: Any, headers: dict[str, bytes],
                           outbox: Outbox) -> None:
        # Report the event's own source coordinates, not the internal topic's.
        topic, partition, offset = msg.topic, msg.partition, msg.offset
        source = source_of(headers)
        if source is not None:
            src_topic, _, src_partition = source[0].rpartition("/")
            if src_topic and src_partition.isdigit():
                topic, partition, offset = src_topic, int(src_partition), source[1]
        reason = await outbox.dead_letter(
            exc, topic=topic, partition=partition, offset=offset, key=msg.key, value=msg.value,
            headers=[(k, v) for k, v in headers.items() if not k.startswith("hub-")],
            source_kind=headers.get("hub-kind", b"").decode() or None,
        )
        self.metrics.dead_letters.labels(reason).inc()

    async def publish(self, incident: Incident, outbox: Outbox) -> None:
        """All incidents on hub.incidents; routed ones also on their level's topic (三级联动)."""
        body = self.codec.encode("incident", incident.to_record())
        headers = [
            ("hub-rule", incident.rule_id.encode()),
            ("hub-risk", incident.risk_level.encode()),
            ("hub-version", str(incident.version).encode()),
        ]
        await outbox.send(INCIDENTS_TOPIC, incident.incident_id.encode(), body, headers)
        self.metrics.incident_versions.labels(incident.rule_id, incident.risk_level).inc()
        if incident.route is None:
            self.metrics.incidents_unrouted.labels(incident.rule_id).inc()
            return
        await outbox.send(
            LEVEL_TOPICS[incident.route.level], incident.route.department_id.encode(), body,
            [*headers, ("hub-incident", incident.incident_id.encode())],
        )

    async def _persist(self, p: int, lanes: set[str], outbox: Outbox) -> None:
        part = self.partitions[p]
        now = time.time() * 1000
        for lane in sorted(lanes):
            engine = part.engines[lane]
            for ref in engine.take_dirty():
                data = engine.export_state(ref)
                key = f"{p}|{lane}|{ref[0]}|{ref[1]}|{ref[2]}".encode()
                value = None if data is None else json.dumps(data, separators=(",", ":")).encode()
                await self.table.put(p, key, value, outbox)
            # The lane's source marks before its meta: a lane whose meta landed has them too.
            await self._put_marks(p, part, [m for m in part.changed if m.startswith(f"{lane}|")],
                                  outbox)
            meta = json.dumps({**engine.export_meta(), "seq": part.offset},
                              separators=(",", ":")).encode()
            await self.table.put(p, f"{p}|{lane}|meta".encode(), meta, outbox)
            seen = self._suppressed_seen.get((p, lane), 0)
            self.metrics.suppressed_events.inc(max(0, engine.stats.suppressed - seen))
            self._suppressed_seen[(p, lane)] = engine.stats.suppressed
            for kind, clock in engine.clocks.items():
                if clock.max_seen is not None:
                    self.metrics.watermark_lag.labels(kind).set((now - clock.max_seen) / 1000)
        await self._put_marks(p, part, list(part.changed), outbox)  # lanes with no event applied
        await self.table.put(p, f"{p}|offset".encode(), str(part.offset).encode(), outbox)
        self.metrics.state_keys.labels(str(p)).set(
            sum(e.state_size() for e in part.engines.values())
        )

    async def _put_marks(self, p: int, part: PartitionState, marks: list[str],
                         outbox: Outbox) -> None:
        for mark in sorted(marks):
            await self.table.put(p, f"{p}|src|{mark}".encode(), str(part.applied[mark]).encode(),
                                 outbox)
            part.changed.discard(mark)
