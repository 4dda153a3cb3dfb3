"""The correlation stage's logic: one engine per (partition, lane), state in the changelog store.

State is written back per key at each checkpoint: each changed (rule, key) state is one entry
(``<partition>|<lane>|R|<rule>|<key>``), plus each lane's watermark progress
(``<partition>|<lane>|meta``). Entries go to the changelog partition of the correlation partition,
in the transaction that also commits the partition's consumed offsets (hub/runtime/pipeline.py),
so after a rebalance or a crash the new owner rebuilds exactly the state that goes with the
group's committed offsets and applies the messages after them again.

Control messages on the same topic: ``hub-tick`` (wall ms, with ``hub-tick-origins``: the source
partitions whose every message the sending worker has forwarded, so only those count quiet time;
and ``hub-tick-progress``: per source partition, the newest event time the sender has handled)
and ``hub-control: flush`` (end of input, as at the end of a file in ``hub correlate``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from hub.codec import Codec
from hub.codec.internal import (
    APP_HEADER,
    CONTROL_HEADER,
    EVENT_HEADER,
    FLUSH,
    FRAME_HEADER,
    INCIDENT_HEADER,
    LANE_HEADER,
    RISK_HEADER,
    RULE_HEADER,
    STATUS_HEADER,
    TICK_HEADER,
    TICK_ORIGINS_HEADER,
    TICK_PROGRESS_HEADER,
    VERSION_HEADER,
    early_key,
    meta_key,
    parse_state_key,
    state_key,
)
from hub.codec.seal import seal
from hub.core.clock_skew import DEFAULT_FUTURE_MS, corrected
from hub.core.early import EagerEngine, EarlyCorrelation, late_for_its_source
from hub.core.engine import CorrelationEngine, StepResult
from hub.core.outcomes import LateEvent
from hub.core.registry import BuildingRegistry
from hub.core.rules import RulePack
from hub.core.snapshot import compact_json
from hub.model.errors import RecordError
from hub.model.events import Event
from hub.model.incidents import RETRACTED, Incident
from hub.observability.metrics import HubMetrics
from hub.offline.correlate import describe_late
from hub.runtime.frames import FrameError, read_frame
from hub.runtime.handoff import EventHandoff
from hub.runtime.ingest import KIND_OF_TOPIC
from hub.runtime.outbox import Outbox, headers_of
from hub.runtime.provenance import LateError, Where
from hub.runtime.state_store import ChangelogStore, encode_state
from hub.runtime.transactions import Throttled
from hub.settings import CORRELATE_TOPIC, INCIDENTS_TOPIC, LEVEL_TOPICS, Settings

log = logging.getLogger(__name__)

#: A device's LATE events are logged at most this often (seconds), each naming the device.
LATE_SAY_S = 60.0


def read_tick(headers: Mapping[str, bytes]
              ) -> tuple[int, set[str], dict[str, dict[str, int]]]:
    """A tick's wall time, the source partitions it vouches quiet and their progress; ValueError
    or TypeError when a header does not read, which the caller dead-letters: one malformed
    message on the correlation topic must not fail every batch that reads it."""
    wall = int(headers[TICK_HEADER])
    listed = headers.get(TICK_ORIGINS_HEADER, b"").decode().split(",")
    return wall, {origin for origin in listed if origin}, progress_of(
        headers.get(TICK_PROGRESS_HEADER))


def progress_of(raw: bytes | None) -> dict[str, dict[str, int]]:
    """A tick's ``hub-tick-progress`` ({"topic/partition": newest ms}) grouped by source kind."""
    if not raw:
        return {}
    out: dict[str, dict[str, int]] = {}
    loaded = orjson.loads(raw)
    if not isinstance(loaded, dict):
        raise TypeError(f"{TICK_PROGRESS_HEADER} is a JSON {type(loaded).__name__}, not an object")
    for origin, newest in loaded.items():
        kind = KIND_OF_TOPIC.get(origin.rpartition("/")[0])
        if kind is not None:
            out.setdefault(kind, {})[origin] = int(newest)
    return out


@dataclass
class PartitionState:
    """One correlation partition's engines, per lane; restored from the changelog on first use."""

    engines: dict[str, CorrelationEngine] = field(default_factory=dict)
    #: lane -> the engine with an eager one beside it (hub.core.early), when early alerts are on
    early: dict[str, EarlyCorrelation] = field(default_factory=dict)


class Correlator:
    """The correlation stage: applies a batch of correlation-topic messages to the engines and
    puts incidents, dead letters and changed states in the batch's outbox."""

    def __init__(
        self,
        *,
        pack: RulePack,
        codec: Codec,
        registry: BuildingRegistry,
        store: ChangelogStore,
        metrics: HubMetrics,
        origins: dict[str, list[str]] | None = None,
        early: bool = False,
        handoff: EventHandoff | None = None,
        app_id: str = Settings.app_id,
        deadletter_key: str = Settings.deadletter_key,
        pseudonym_key: str = Settings.pseudonym_key,
    ) -> None:
        self.pack, self.codec, self.registry, self.store = pack, codec, registry, store
        #: a message on the correlation topic that no hub worker wrote may hold anything: its
        #: dead letter keeps it sealed, its detail, key and headers scrubbed (``_dead_letter``)
        self.deadletter_key, self.pseudonym_key = deadletter_key, pseudonym_key
        #: frames and ticks of another app id (another hub on this broker) are skipped
        self.app = app_id.encode()
        self._foreign_apps: set[bytes] = set()
        #: events this worker's ingest already decoded (hub/runtime/handoff.py)
        self.handoff = handoff
        #: publish PROVISIONAL incidents at arrival (and RETRACTED ones), not only CONFIRMED
        self.early = early
        #: kind -> the source partitions ("topic/partition") whose events may reach an engine
        self.origins = origins
        self.metrics = metrics
        self.partitions: dict[int, PartitionState] = {}
        self._suppressed_seen: dict[tuple[int, str], int] = {}
        #: partition -> lanes changed since their states were last written (``persist``)
        self._touched: dict[int, set[str]] = {}
        #: (partition, lane) whose changelog holds provisional incidents awaiting a verdict
        self._early_kept: set[tuple[int, str]] = set()
        #: LATE events said once a minute per (kind, device) (``_say_late``)
        self._say_late_once = Throttled(every=LATE_SAY_S, logger=log)

    # -- partitions -------------------------------------------------------------------------

    def forget(self, partitions: Iterable[int] | None = None) -> None:
        """Drop engines and their state (a rebalance took the partitions, or a batch was
        aborted): both are rebuilt from the changelog when needed. None: all partitions."""
        doomed = list(self.partitions) if partitions is None else list(partitions)
        for p in doomed:
            self.partitions.pop(p, None)
            self._touched.pop(p, None)
        self._early_kept = {(p, lane) for p, lane in self._early_kept if p not in doomed}
        if partitions is None:
            self._touched.clear()
        self.store.drop(None if partitions is None else doomed)

    def _new_engine(self, lane: str) -> CorrelationEngine:
        return CorrelationEngine(self.pack, self.registry, lanes={lane}, track_changes=True,
                                 origins=self.origins)

    def _stepper(self, part: PartitionState, lane: str) -> CorrelationEngine | EarlyCorrelation:
        """What a lane's events, ticks and flushes go to: the engine, or with early alerts on,
        the engine and an eager one beside it (whose state is not kept: a successor's eager
        engine starts from the restored confirmed state, EarlyCorrelation.resume)."""
        engine = part.engines[lane]
        if not self.early:
            return engine
        both = part.early.get(lane)
        if both is None:  # part.engines[lane] is set once per PartitionState, as is this
            both = part.early[lane] = EarlyCorrelation(
                engine, EagerEngine(self.pack, self.registry, lanes={lane}, dedup=False))
        return both

    def partition(self, p: int) -> PartitionState:
        """The partition's engines, restored from the changelog on first use after an assignment."""
        state = self.partitions.get(p)
        if state is not None:
            return state
        state = PartitionState()
        # Fresh engines count suppressions from zero: so does the metric's bookkeeping.
        for seen_key in [k for k in self._suppressed_seen if k[0] == p]:
            del self._suppressed_seen[seen_key]
        loaded = 0
        pending: dict[str, list[dict[str, Any]]] = {}
        for raw_key, raw_value in self.store.take(p).items():
            try:
                parts = parse_state_key(raw_key)
                if (len(parts) not in (3, 5) or parts[0] != str(p)
                        or parts[1] not in self.pack.lanes):
                    continue  # another layout's entry, or a lane of rules this worker does not run
                lane = parts[1]
                engine = state.engines.get(lane) or state.engines.setdefault(
                    lane, self._new_engine(lane)
                )
                if len(parts) == 3 and parts[2] == "meta":
                    engine.load_meta(orjson.loads(raw_value))
                elif len(parts) == 3 and parts[2] == "early":
                    pending[lane] = orjson.loads(raw_value)
                elif len(parts) == 5:
                    if engine.load_state((parts[2], parts[3], parts[4]),
                                         orjson.loads(raw_value)):
                        loaded += 1
            except Exception as exc:  # one entry's, whatever it is: not every restore's
                # Raised, it would fail every batch of this partition for as long as the
                # changelog keeps the entry. Only workers write there; say it loudly.
                log.error("partition %d: state entry %r does not read (%s: %s); that state "
                          "starts empty", p, raw_key[:200], type(exc).__name__, exc)
        for engine in state.engines.values():
            engine.take_dirty()
        if self.early:
            for lane, records in pending.items():
                stepper = self._stepper(state, lane)
                assert isinstance(stepper, EarlyCorrelation)
                stepper.load_pending(records)
                self._early_kept.add((p, lane))
            for lane in list(state.engines):  # the eager engines start from the state
                stepper = self._stepper(state, lane)
                assert isinstance(stepper, EarlyCorrelation)
                stepper.resume()
        log.info("partition %d: restored %d states", p, loaded)
        self.partitions[p] = state
        return state

    # -- batches ----------------------------------------------------------------------------

    def handle_batch(self, messages: Sequence[Any], outbox: Outbox) -> None:
        """Apply one batch of correlation-topic messages (confluent-kafka) in offset order.

        The changed states are written by ``persist`` (at the next checkpoint), not here.
        """
        touched = self._touched
        self.store.load({m.partition() for m in messages} - set(self.partitions))
        for msg in messages:
            p = msg.partition()
            part = self.partition(p)
            lanes = touched.setdefault(p, set())
            headers = headers_of(msg)
            app = headers.get(APP_HEADER)
            if app is not None and app != self.app:
                self._foreign(app)
                continue
            if TICK_HEADER in headers:
                here = Where.of(msg, headers)
                try:
                    wall, vouched, progress = read_tick(headers)
                except (ValueError, TypeError) as exc:  # orjson's and Unicode's are ValueErrors
                    self._dead_letter(RecordError(
                        f"a tick that does not read ({type(exc).__name__}: {exc}): hub workers "
                        f"write {TICK_HEADER} as epoch ms, {TICK_ORIGINS_HEADER} as "
                        f"'topic/partition' joined by commas and {TICK_PROGRESS_HEADER} as a "
                        "JSON object of 'topic/partition': ms; only they should write here",
                        field=TICK_HEADER, reason="PROCESSING_ERROR"), here, outbox)
                    continue
                for lane in part.engines:
                    self._emit(self._stepper(part, lane).tick(wall, vouched, progress), here,
                               outbox, lane=lane)
                    lanes.add(lane)
            elif headers.get(CONTROL_HEADER) == FLUSH:
                here = Where.of(msg, headers)
                for lane in part.engines:
                    self._emit(self._stepper(part, lane).flush(), here, outbox, lane=lane)
                    lanes.add(lane)
            elif FRAME_HEADER in headers:
                self._frame(part, msg, headers, outbox, lanes)
            else:
                self._event(part, msg, headers, outbox, lanes)

    def _foreign(self, app: bytes) -> None:
        """Another hub's frame or tick: its ticks would move this app's clocks past events its
        own frames bring later (each then LATE), and its frames would apply events twice."""
        self.metrics.foreign_messages.inc()
        if app not in self._foreign_apps and len(self._foreign_apps) < 100:
            self._foreign_apps.add(app)
            log.warning("%s carries frames and ticks of app id %r, another hub on this broker; "
                        "this worker (app id %r) skips them (metric "
                        "hub_correlate_foreign_messages_total)", CORRELATE_TOPIC,
                        app.decode(errors="replace"), self.app.decode())

    def pending_events(self) -> int:
        """Events the engines of every partition hold until their release (see
        CorrelationEngine.pending_events); the eager engines hold none for long."""
        return sum(engine.pending_events() for part in self.partitions.values()
                   for engine in part.engines.values())

    def persist(self, outbox: Outbox, partitions: Iterable[int] | None = None) -> list[int]:
        """Write every state changed since the last call (of ``partitions``, else all) to the
        changelog; the partitions written."""
        wanted = list(self._touched) if partitions is None else [
            p for p in partitions if p in self._touched]
        for p in wanted:
            lanes = self._touched.pop(p)
            if p in self.partitions:
                self._persist(p, lanes, outbox)
        return wanted

    def _frame(self, part: PartitionState, msg: Any, headers: dict[str, bytes],
               outbox: Outbox, lanes: set[str]) -> None:
        """A frame's entries in order, each as a forward of its own (hub.runtime.frames)."""
        try:
            entries = read_frame(msg.value())
        except FrameError as exc:
            err = RecordError(str(exc), field="value", reason="PROCESSING_ERROR")
            self._dead_letter(err, Where.of(msg, headers), outbox)
            return
        # per lane, looked up once per frame: its engine (or both), and with early alerts the
        # frame's events for the eager engine after the loop
        steppers: dict[str, CorrelationEngine | EarlyCorrelation] = {}
        waiting: dict[str, tuple[EarlyCorrelation, list[Event]]] = {}
        handoff = self.handoff
        future_ms = self.pack.future_ms
        for entry in entries:
            lane = entry.lane
            try:
                handed = handoff.take(entry.src) if handoff is not None else None
                if handed is None:
                    kind, fields = entry.event()
                    handed = Event.from_record(kind, fields, arrived=entry.arrived)
                event, _ = corrected(handed, future_ms.get(handed.kind, DEFAULT_FUTURE_MS))
                engine = steppers.get(lane)
                if engine is None:
                    engine = steppers[lane] = self._engine(part, lane)
                    lanes.add(lane)
            except Exception as exc:
                self._dead_letter(exc, Where.of_entry(entry, msg), outbox)
                continue
            origin = entry.src.rpartition("/")[0]
            if isinstance(engine, EarlyCorrelation):
                result = engine.process(event, origin, eager=False)
                if not (result.late and late_for_its_source(result, event)):
                    held = waiting.get(lane)
                    if held is None:
                        held = waiting[lane] = (engine, [])
                    held[1].append(event)
            else:
                result = engine.process(event, origin)
            if result.late or result.incidents:
                self._emit(result, Where.of_entry(entry, msg), outbox, event, lane=lane)
        for both, events in waiting.values():
            early = both.process_eager(events)
            if early.incidents:
                self._emit(early, Where.of(msg, headers), outbox)

    def _event(self, part: PartitionState, msg: Any, headers: dict[str, bytes],
               outbox: Outbox, lanes: set[str]) -> None:
        """A forward of one event (written by workers from before frames)."""
        lane = headers.get(LANE_HEADER, b"").decode(errors="replace")
        where = Where.of(msg, headers)
        try:
            event = self.event_of(msg.value(), headers.get(EVENT_HEADER))
            engine = self._engine(part, lane)
        except Exception as exc:
            self._dead_letter(exc, where, outbox)
            return
        lanes.add(lane)
        self._emit(engine.process(event, where.origin), where, outbox, event, lane=lane)

    def _engine(self, part: PartitionState, lane: str) -> CorrelationEngine | EarlyCorrelation:
        if lane not in part.engines:
            if lane not in self.pack.lanes:
                raise RecordError(f"no rule of this worker uses lane {lane!r}",
                                  field=LANE_HEADER, reason="PROCESSING_ERROR")
            part.engines[lane] = self._new_engine(lane)
        return self._stepper(part, lane)

    def event_of(self, value: bytes | None, as_json: bytes | None = None) -> Event:
        """A forward's event: from its ``hub-event`` header (JSON ``[kind, fields]``, which
        ingest adds), else from the Avro bytes (forwards written before that header)."""
        if as_json:
            kind, record = orjson.loads(as_json)
            event = Event.from_record(kind, record)
            object.__setattr__(event, "json_cache", as_json.decode())
            return event
        kind, record = self.codec.decode(value or b"")
        return Event.from_record(kind, record)

    def _emit(self, result: StepResult, where: Where, outbox: Outbox,
              event: Event | None = None, *, lane: str = "") -> None:
        """Publish the incidents, dead-letter the LATE events: ``where`` is ``event``'s
        source; a LATE event other than ``event`` (one a suppression held back) gets its own.
        ``lane``: whose engine found them LATE, said in the detail (an event read in two lanes
        can be LATE in one and taken in the other: two letters must say which is which)."""
        for late in result.late:
            self.metrics.late_events.labels(late.event.kind).inc()
            self._say_late(late)
            here = where if late.event is event else Where.of_event(late.event, self.codec)
            detail = (describe_late(late) + (f" (lane {lane})" if lane else "")
                      + (f" {here.note}" if here.note else ""))
            self._dead_letter(LateError(detail, field="event_time"), here, outbox)
        for incident in result.incidents:
            self.publish(incident, outbox)

    def _say_late(self, late: LateEvent) -> None:
        """Name the device, at most once a minute: a device whose clock runs behind (or whose
        uplink delivers late) has every event dead-lettered LATE, and an operator should find
        it by its id in the log rather than by reading the dead letters."""
        event = late.event
        device = str(event.get("device_id") or "")
        arrival = ("" if event.arrived is None else
                   f"; it reached Kafka {(event.arrived - event.event_time) / 1000:.1f} s after "
                   "its stamp (a clock running behind, or an uplink that delivers late?)")
        self._say_late_once(
            f"{event.kind}\x00{device}", logging.WARNING, "%s device %s: event %s is %.1f s behind "
            "its source's watermark, past the allowed lateness%s; it goes to hub.deadletter as "
            "LATE", event.kind, device or "(none)", event.event_id,
            (late.watermark - event.event_time) / 1000, arrival)

    def _dead_letter(self, exc: BaseException, where: Where, outbox: Outbox) -> None:
        """A LATE event keeps the bytes ingest forwarded (validated, pseudonymized); anything
        else here is a message no hub worker wrote as it is (a tick or frame that does not
        read, a lane no rule uses): its bytes were never searched for a personal number, so
        they are kept sealed (an outside probe's raw card number was kept as sent)."""
        late = isinstance(exc, LateError)
        sealed = not late and bool(where.value)
        reason = outbox.dead_letter(
            exc, topic=where.topic, partition=where.partition, offset=where.offset, key=where.key,
            value=seal(where.value or b"", self.deadletter_key) if sealed else where.value,
            headers=where.headers, timestamp_ms=where.timestamp_ms, source_kind=where.kind,
            sealed=sealed,
            # a LATE letter's detail is the hub's own (event times in ms, which a scrub would
            # take for card numbers); another quotes what the sender wrote
            pseudonym_key=None if late else self.pseudonym_key,
        )
        self.metrics.dead_letters.labels(reason).inc()

    def publish(self, incident: Incident, outbox: Outbox) -> None:
        """All incidents on hub.incidents; routed ones also on their level's topic (三级联动)."""
        body = self.codec.encode("incident", incident.to_record())
        headers = [
            (RULE_HEADER, incident.rule_id.encode()),
            (RISK_HEADER, incident.risk_level.encode()),
            (VERSION_HEADER, str(incident.version).encode()),
            (STATUS_HEADER, incident.status.encode()),
        ]
        outbox.send(INCIDENTS_TOPIC, incident.incident_id.encode(), body, headers)
        self.metrics.incident_versions.labels(incident.rule_id, incident.risk_level).inc()
        self.metrics.incident_statuses.labels(incident.rule_id, incident.status).inc()
        if incident.version == 1 and incident.status != RETRACTED:
            # event time -> first publication (PROVISIONAL) or confirmation, in wall seconds
            self.metrics.incident_delay.labels(incident.rule_id, incident.status).observe(
                max(0.0, time.time() - incident.emitted_time / 1000))
        if incident.route is None:
            self.metrics.incidents_unrouted.labels(incident.rule_id).inc()
            return
        outbox.send(
            LEVEL_TOPICS[incident.route.level], incident.route.department_id.encode(), body,
            [*headers, (INCIDENT_HEADER, incident.incident_id.encode())],
        )

    def _persist(self, p: int, lanes: set[str], outbox: Outbox) -> None:
        part = self.partitions[p]
        now = time.time() * 1000
        for lane in sorted(lanes):
            engine = part.engines[lane]
            for ref in engine.take_dirty():
                parts = engine.export_state_parts(ref)
                key = state_key(p, lane, ref)
                value = None if parts is None else encode_state(parts)
                self.store.put(p, key, value, outbox)
            meta = compact_json(engine.export_meta()).encode()
            self.store.put(p, meta_key(p, lane), meta, outbox)
            both = part.early.get(lane)
            if both is not None and (both.pending or (p, lane) in self._early_kept):
                # the provisional incidents awaiting their verdict, so a successor still
                # retracts them; a tombstone once none are left
                pending = both.export_pending()
                self.store.put(p, early_key(p, lane),
                               compact_json(pending).encode()
                               if pending else None, outbox)
                if pending:
                    self._early_kept.add((p, lane))
                else:
                    self._early_kept.discard((p, lane))
            seen = self._suppressed_seen.get((p, lane), 0)
            self.metrics.suppressed_events.inc(max(0, engine.stats.suppressed - seen))
            self._suppressed_seen[(p, lane)] = engine.stats.suppressed
            for kind, clock in engine.clocks.items():
                if clock.max_seen is not None:
                    self.metrics.watermark_lag.labels(kind).set((now - clock.max_seen) / 1000)
        self.metrics.state_keys.labels(str(p)).set(
            sum(e.state_size() for e in part.engines.values())
        )
