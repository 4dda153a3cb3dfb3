"""Ingest: decode and validate source messages, drop duplicates, fan out to the engine's lanes.

Bad messages go to the dead-letter topic with their original bytes and a reason; the next message
is processed as usual. Accepted events are forwarded byte for byte (unless a personal field had to
be pseudonymized here) to the internal correlation topic, to the partition of their key per lane
(see hub.core.lanes), many to a message (hub.runtime.frames).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hub.adapters.dedup_store import CLAIM_CHUNK, Claim, DedupStore
from hub.adapters.kafka.io import KafkaIOError, topic_for_kind
from hub.codec import Codec
from hub.codec.interchange import pii_fields, scrubbed_fields
from hub.codec.internal import APP_HEADER, FRAME_HEADER
from hub.codec.seal import seal
from hub.core.clock_skew import DEFAULT_FUTURE_MS, ahead_by, arrived_at
from hub.core.lanes import Lane, lane_targets
from hub.core.pseudonym import shield
from hub.core.registry import BuildingRegistry
from hub.core.snapshot import event_json
from hub.model.errors import RecordError, ValidationError, a_or_an
from hub.model.events import Event, shared_strings
from hub.observability.metrics import HubMetrics
from hub.runtime.frames import FrameWriter
from hub.runtime.handoff import EventHandoff
from hub.runtime.outbox import Outbox, headers_of
from hub.settings import CORRELATE_TOPIC, SOURCE_TOPICS, Settings

log = logging.getLogger(__name__)
KIND_OF_TOPIC = {topic: kind for kind, topic in SOURCE_TOPICS.items()}


def _topic_of(kind: str) -> str:
    try:
        return topic_for_kind(kind)
    except KafkaIOError:
        return "no topic (not an input kind)"


class Ingestor:
    """The ingest stage: turns a batch of source messages into frames on the correlation topic
    and dead letters, all in the batch's outbox."""

    def __init__(
        self,
        *,
        codec: Codec,
        lanes: list[Lane],
        registry: BuildingRegistry,
        dedup: DedupStore,
        metrics: HubMetrics,
        pseudonym_key: str,
        future: Mapping[str, int] | None = None,
        deadletter_key: str = Settings.deadletter_key,
        handoff: EventHandoff | None = None,
        app_id: str = Settings.app_id,
    ) -> None:
        self.codec, self.lanes, self.registry = codec, lanes, registry
        #: on every frame (and the pipeline's ticks): only this app's workers apply them
        self.app_header = (APP_HEADER, app_id.encode())
        #: the events forwarded, for this worker's correlator (hub/runtime/handoff.py)
        self.handoff = handoff
        self.dedup, self.metrics, self.pseudonym_key = dedup, metrics, pseudonym_key
        self.deadletter_key = deadletter_key
        #: kind -> how far (ms) an event time may run past its record timestamp (sources.yaml)
        self.future = {kind: DEFAULT_FUTURE_MS for kind in SOURCE_TOPICS} | dict(future or {})
        self._warned: dict[tuple[str, str], float] = {}
        self._pii = {kind: pii_fields(codec.schema(kind)) for kind in SOURCE_TOPICS}
        #: free-text fields, where a personal number is replaced by its pseudonym
        self._text = {kind: scrubbed_fields(codec.schema(kind)) for kind in SOURCE_TOPICS}
        #: "topic/partition" -> newest event time accepted from it (the ticks carry it onwards)
        self.progress: dict[str, int] = {}

    def decode(self, topic: str, value: bytes | None, key: bytes | None = b"",
               arrived: int | None = None) -> tuple[Event, bytes]:
        """The event and the bytes to forward; raises RecordError for the dead-letter topic.

        ``arrived``: the record's timestamp; an event time too far past it is corrected
        (hub.core.clock_skew) by the correlator; such an event comes back with
        ``trusted_time`` False and its stamp as sent.
        """
        kind, record = self.codec.decode(value or b"")
        expected = KIND_OF_TOPIC.get(topic)
        if expected is not None and kind != expected:
            raise ValidationError(
                f"{a_or_an(kind)} record on {topic}; send {kind} to {_topic_of(kind)}", field="kind"
            )
        if key is None:
            # Without a key the producer's partitioner scatters a site's events over the
            # partitions: the per-site order the correlation relies on is gone. Say so loudly.
            raise ValidationError(
                f"the message has no key; source topics are keyed by site_id "
                f"({record.get('site_id')!r} here), partitioned with murmur2",
                field="key",
            )
        self.codec.check_rules(kind, record)
        pii = self._pii.get(kind, frozenset())
        text = self._text.get(kind)
        protected, raw = shield(record, self.pseudonym_key, pii, text or ())
        if raw:  # a producer skipped the edge: never forward the raw value
            record = shared_strings(protected)
            value = self.codec.encode(kind, record)
        # The correlator keeps this event (handed over, hub/runtime/handoff.py), so its short
        # strings are shared: the codec's decode shared them. It corrects a time too far ahead
        # of ``arrived`` (hub.core.clock_skew): here that is only counted.
        event = Event.from_record(kind, record, shared=False, arrived=arrived)
        ahead = ahead_by(event.event_time, arrived, self.future[kind])
        if ahead:
            object.__setattr__(event, "trusted_time", False)
            self._future(event, ahead)
        return event, value or b""

    def _future(self, event: Event, ahead: int) -> None:
        """Count a corrected clock per device; say so at most once a minute per device."""
        device = str(event.get("device_id", ""))
        self.metrics.future_events.labels(event.kind, device).inc()
        now = time.monotonic()
        if now - self._warned.get((event.kind, device), -60.0) >= 60.0:
            self._warned[(event.kind, device)] = now
            log.warning("%s device %s: event %s was stamped %.1f s after it reached Kafka (at "
                        "most %d s allowed: a clock running ahead?); its event time is taken as "
                        "its arrival", event.kind, device, event.event_id,
                        (ahead + self.future[event.kind]) / 1000,
                        self.future[event.kind] // 1000)

    def kept_for_dead_letter(self, value: bytes | None
                             ) -> tuple[bytes | None, list[str], bool]:
        """The bytes a dead letter keeps, the personal fields pseudonymized in them, and whether
        they are sealed.

        A record that decodes but fails validation may still carry a raw card number or phone
        in a personal field, and the dead-letter topic is a topic: raw values never reach one.
        Such a record is kept re-encoded (current schema) with those fields pseudonymized, as
        ingest would have forwarded it. Bytes that do not decode cannot be searched for personal
        values: they are kept sealed with the dead-letter key (hub.codec.seal), so that they can
        be re-driven after a fix by whoever holds that key, and read by nobody else.
        """
        try:
            kind, record = self.codec.decode(value or b"")
        except Exception:
            if not value:
                return value, [], False
            return seal(value, self.deadletter_key), [], True
        if kind not in self._pii:  # not a source event (a dead letter, an incident): it can
            return seal(value or b"", self.deadletter_key), [], True  # hold anything
        pii, text = self._pii[kind], self._text.get(kind, frozenset())
        scrubbed, raw = shield(record, self.pseudonym_key, pii, text)
        if not raw:
            return value, [], False
        try:
            return self.codec.encode(kind, scrubbed), raw, False
        except Exception:  # cannot happen for a record that decoded; never keep the raw value
            log.exception("cannot re-encode a dead letter with %s pseudonymized; keeping it "
                          "sealed", raw)
            return seal(value or b"", self.deadletter_key), raw, True

    def handle_batch(self, messages: Sequence[Any], outbox: Outbox, partitions: int) -> None:
        """Decode, validate, dedup and forward one batch of source messages (confluent-kafka)
        in frames to the ``partitions`` partitions of the correlation topic."""
        accepted: list[tuple[Event, bytes, Any, str]] = []
        outcomes: Counter[tuple[str, str]] = Counter()
        handoff = self.handoff
        if handoff is not None:
            handoff.new_batch()
        # The dedup store is asked a chunk at a time while the rest is decoded (Claim).
        claims: list[Claim] = []
        claimed = 0
        for msg in messages:
            topic, value = msg.topic(), msg.value()
            try:
                event, body = self.decode(topic, value, msg.key(),
                                          arrived_at(*msg.timestamp()))
            except Exception as exc:  # RecordError or a bug: either way the message is kept
                kind = KIND_OF_TOPIC.get(topic, "unknown")
                kept, pseudonymized, sealed = self.kept_for_dead_letter(value)
                ts_type, ts = msg.timestamp()
                reason = outbox.dead_letter(
                    exc, topic=topic, partition=msg.partition(), offset=msg.offset(),
                    key=msg.key(), value=kept, headers=list(headers_of(msg).items()),
                    timestamp_ms=ts if ts_type and ts > 0 else None,
                    source_kind=kind, pseudonymized=pseudonymized, sealed=sealed,
                    pseudonym_key=self.pseudonym_key,
                )
                if not isinstance(exc, RecordError):
                    log.exception("unexpected error decoding %s/%s@%s", topic,
                                  msg.partition(), msg.offset())
                self.metrics.dead_letters.labels(reason).inc()
                outcomes[(kind, "dead_letter")] += 1
                continue
            accepted.append((event, body, msg, f"{topic}/{msg.partition()}"))
            if len(accepted) - claimed >= CLAIM_CHUNK:
                claims.append(self._claim(accepted[claimed:]))
                claimed = len(accepted)
        claims.append(self._claim(accepted[claimed:]))
        flags = [flag for claim in claims for flag in claim.flags()]
        progress = self.progress
        frames = FrameWriter(partitions)
        for (event, body, msg, origin), duplicate in zip(accepted, flags, strict=True):
            if duplicate:
                outcomes[(event.kind, "duplicate")] += 1
                continue
            # As far as the engine's clock will move for it: never past the arrival, not at all
            # for a time the correlator will correct.
            seen = event.event_time
            if event.arrived is not None and event.arrived < seen:
                seen = event.arrived
            newest = progress.get(origin)
            if event.trusted_time and (newest is None or seen > newest):
                progress[origin] = seen
            targets = lane_targets(self.lanes, event, self.registry)
            outcomes[(event.kind, "accepted" if targets else "no_rule")] += 1
            if not targets:
                continue
            # Beside the original bytes (kept for a dead letter), the entry carries the event as
            # JSON (hub.core.snapshot.event_json): reading that back costs a quarter of an Avro
            # decode.
            src = f"{origin}/{msg.offset()}"
            as_json = event_json(event)
            frames.add_event(targets, src, body, as_json, event.arrived)
            if handoff is not None and event.trusted_time:
                # As the correlator would decode it from the frame; an event whose time it
                # will correct is decoded there, as before.
                handoff.put(src, event, len(targets))
        for p, value in frames.close():
            outbox.send(CORRELATE_TOPIC, None, value, [(FRAME_HEADER, b"1"), self.app_header],
                        partition=p)
        self._count(outcomes)

    def _claim(self, accepted: Sequence[tuple[Event, bytes, Any, str]]) -> Claim:
        return self.dedup.claim(
            [(e.kind, e.event_id, f"{origin}/{m.offset()}") for e, _, m, origin in accepted])

    def _count(self, outcomes: Counter[tuple[str, str]]) -> None:
        """Metrics once per batch and outcome, not once per event (labels() takes a lock)."""
        for (kind, outcome), n in outcomes.items():
            self.metrics.ingest_events.labels(kind, outcome).inc(n)
            if outcome == "duplicate":
                self.metrics.duplicates.labels(kind).inc(n)

    def forget(self, origins: Iterable[str]) -> None:
        """Source partitions revoked: their new owner reports their progress from now on."""
        for origin in origins:
            self.progress.pop(origin, None)
