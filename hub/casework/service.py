"""The 综治中心's casework as a Faust agent: cases in a changelog-backed table, changes out.

Low volume (one message per incident version, operator action or clock tick) and keyed by
incident id: the natural home for a Faust agent and table (docs/faust.md, "Trusted"). The decisions
are the pure CaseBook's (hub/core/cases.py); this module only moves bytes:

- hub.incidents opens, updates and (RETRACTED) closes cases; a case's deadline runs from the
  incident's ``emitted_time``, so the same inputs give the same changes.
- hub.incident.actions moves them; an action the case cannot take goes to hub.deadletter with its
  original bytes and the reason (VALIDATION_ERROR, the field, why), never silently.
- ticks on the app's own clock topic (``<app id>-casework-clock``) escalate what is overdue:
  the escalated incident is published on the new level's topic with the escalation in its tags.
  ``clock="wall"`` sends a tick to every partition each ``tick_seconds``; ``clock="driven"``
  leaves it to whoever drives it (tests).

All three topics have the same partition count and key (incident id), so Faust co-partitions
them with the table; each partition has its own CaseBook, rebuilt from the table after a
rebalance. At least once: an action or incident seen again changes nothing (action ids are kept
in the case, versions only move forward); a change published just before a crash may be
published again with the same (incident_id, version), which identifies it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import faust

from hub.adapters.kafka.admin import admin_client, ensure_topic
from hub.adapters.topic_specs import load_topic_specs, partitions_of
from hub.codec import Codec
from hub.codec.deadletter import dead_letter_record
from hub.codec.seal import seal
from hub.core.cases import ActionRejected, CaseBook, DispatchPolicy, escalated
from hub.core.pseudonym import scrub_text
from hub.model.cases import CaseChange, IncidentAction
from hub.model.errors import ConfigError, RecordError, ValidationError, a_or_an
from hub.model.incidents import Incident, version_rank
from hub.settings import (
    ACTIONS_TOPIC,
    CASES_TOPIC,
    DEADLETTER_TOPIC,
    INCIDENTS_TOPIC,
    LEVEL_TOPICS,
    Settings,
)

log = logging.getLogger(__name__)

CLOCKS = ("wall", "driven")


def clock_topic(app_id: str) -> str:
    """The casework's own clock topic: like a changelog, it belongs to one app id, so a test's
    (or a replay's) driven ticks never move another deployment's deadlines."""
    return f"{app_id}-casework-clock"


def case_partitions(settings: Settings) -> int:
    """hub.incidents and hub.incident.actions must agree (co-partitioned by incident id)."""
    declared = load_topic_specs(settings.topics_file)
    specs = {s.name: s.partitions for s in declared}
    n = partitions_of(declared, INCIDENTS_TOPIC)
    if specs.get(ACTIONS_TOPIC, n) != n:
        raise ConfigError(f"{settings.topics_file}: {ACTIONS_TOPIC} has {specs[ACTIONS_TOPIC]} "
                          f"partitions and {INCIDENTS_TOPIC} {n}; give both the same count "
                          "(the casework reads an incident and its actions together)")
    return n


def ensure_clock_topic(settings: Settings) -> str:
    """Create the clock topic if missing (one day of ticks kept); its name."""
    name = clock_topic(settings.app_id)
    ensure_topic(admin_client(settings.bootstrap), name, partitions=case_partitions(settings),
                 configs={"retention.ms": str(86_400_000)})
    return name


def tick_value(now_ms: int) -> bytes:
    """A clock tick's value: epoch milliseconds as ASCII digits."""
    return str(int(now_ms)).encode()


class Casework:
    """Per-partition case books over one Faust table; what each input message changes."""

    def __init__(self, policy: DispatchPolicy, codec: Codec, table: Any,
                 pseudonym_key: str = Settings.pseudonym_key,
                 deadletter_key: str = Settings.deadletter_key) -> None:
        self.policy = policy
        self.codec = codec
        self.table = table
        #: a personal number in an action's note or assignee (an app other than the console
        #: put it there) is kept in the case as its pseudonym: hub.cases is a topic too
        self.pseudonym_key = pseudonym_key
        #: bytes that do not decode are kept sealed with it in their dead letter
        self.deadletter_key = deadletter_key
        self.books: dict[int, CaseBook] = {}
        #: the latest incident record per case, for republishing it when it escalates
        self.incidents: dict[str, bytes] = {}

    def forget(self) -> None:
        """Partitions moved: rebuild each book from the table when next needed."""
        self.books.clear()
        self.incidents.clear()

    def book(self, partition: int) -> CaseBook:
        """The case book of ``partition``, rebuilt lazily from the table after a rebalance
        (``forget``)."""
        book = self.books.get(partition)
        if book is None:
            book = self.books[partition] = CaseBook(self.policy)
            for raw in list(self.table.values()):
                data = json.loads(raw)
                if data.get("p") == partition:
                    book.load_case(data)
                    self.incidents[data["id"]] = base64.b64decode(data["inc"])
        return book

    def save(self, partition: int, book: CaseBook, incident_ids: Iterable[str]) -> None:
        """Write the named cases of ``book`` back to the changelogged table, with their partition
        and latest incident bytes, so a restart or rebalance can rebuild them; ids the book no
        longer exports are skipped."""
        for iid in set(incident_ids):
            data = book.export_case(iid)
            if data is None:
                continue
            data["p"] = partition
            data["inc"] = base64.b64encode(self.incidents.get(iid, b"")).decode()
            self.table[iid.encode()] = json.dumps(data, separators=(",", ":")).encode()

    def kept_for_dead_letter(self, value: bytes) -> tuple[bytes, list[str], bool]:
        """What a dead letter keeps of ``value``, which fields of it were pseudonymized, and
        whether it is sealed: bytes that do not decode sealed with the dead-letter key (they
        cannot be searched for a personal number, as the worker keeps them); an action
        re-encoded with its note and assignee scrubbed (a rejected action's note held a raw
        phone number, an outside probe); anything else as it came."""
        try:
            kind, record = self.codec.decode(value)
        except Exception:
            return (seal(value, self.deadletter_key), [], True) if value else (value, [], False)
        changed = self._scrub_action(record) if kind == "incident_action" else []
        return (self.codec.encode(kind, record) if changed else value), changed, False

    def _scrub_action(self, record: dict[str, Any]) -> list[str]:
        """Replace the personal numbers in an action's note and assignee by their pseudonyms,
        in place; the fields that changed."""
        changed = []
        for name in ("note", "assignee"):
            text = record.get(name)
            if isinstance(text, str) and (clean := scrub_text(text, self.pseudonym_key)) != text:
                record[name] = clean
                changed.append(name)
        return changed

    def _decode(self, value: bytes, kind: str, topic: str) -> dict[str, Any]:
        """The record of ``kind`` in ``value``; a ValidationError naming the kind when it is
        another (a perimeter alarm on the actions topic failed with "KeyError: 'action_id'",
        an outside probe)."""
        got, record = self.codec.decode(value)
        if got != kind:
            raise ValidationError(f"{a_or_an(got)} record on {topic}; only {kind} records go "
                                  "there", field="kind")
        return record

    def on_incident(self, partition: int, value: bytes) -> list[CaseChange]:
        """Apply one encoded incident to its partition's book and persist what changed."""
        record = self._decode(value, "incident", INCIDENTS_TOPIC)
        incident = Incident.from_record(record)
        book = self.book(partition)
        changes = book.on_incident(incident, incident.emitted_time)
        if incident.incident_id in book.cases and self._stands(incident.incident_id, record):
            self.incidents[incident.incident_id] = value
        self.save(partition, book, (c.incident_id for c in changes))
        return changes

    def _stands(self, incident_id: str, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` replaces the version kept for republishing: a PROVISIONAL one read
        after the CONFIRMED one must not be what the level above receives (version_rank)."""
        kept = self.incidents.get(incident_id)
        if not kept:
            return True
        return version_rank(self.codec.decode(kept)[1]) <= version_rank(record)

    def on_action(self, partition: int, value: bytes) -> list[CaseChange]:
        """Apply one encoded operator action (acknowledge, resolve, ...) and persist what
        changed."""
        record = self._decode(value, "incident_action", ACTIONS_TOPIC)
        self._scrub_action(record)
        book = self.book(partition)
        try:
            changes = book.on_action(IncidentAction.from_record(record))
        except ActionRejected as exc:
            if exc.change is not None:  # recorded in the case: kept like any change
                self.save(partition, book, [exc.change.incident_id])
            raise
        self.save(partition, book, (c.incident_id for c in changes))
        return changes

    def on_tick(self, partition: int, value: bytes) -> list[CaseChange]:
        """Advance the partition's book to a clock tick (epoch ms as ASCII) so deadlines fire
        without new events; a malformed tick is logged and ignored."""
        try:
            now = int(value)
        except ValueError:
            log.warning("clock tick %r on partition %d is not epoch ms; ignored", value, partition)
            return []
        book = self.book(partition)
        changes = book.advance(now)
        self.save(partition, book, [*(c.incident_id for c in changes), *book.take_clocked_in()])
        return changes

    def above(self, partition: int, value: bytes) -> list[tuple[str, str, bytes]]:
        """(topic, key, value) of an incident version just applied (``on_incident``) for the
        level its case was escalated to, when it is the version that now stands; its
        retraction goes there through :meth:`escalations`."""
        _kind, record = self.codec.decode(value)
        iid = str(record["incident_id"])
        routed = self.book(partition).routed_above(iid)
        if routed is None or record.get("status") == "RETRACTED" \
                or self.incidents.get(iid) is not value:
            return []
        out = self.codec.encode("incident", escalated(record, routed))
        return [(LEVEL_TOPICS[routed.level], routed.department_code or "", out)]

    def escalations(self, changes: Iterable[CaseChange]) -> list[tuple[str, str, bytes]]:
        """(topic, key, value) of each escalated incident, for the level that now must act; and
        of each retraction of an escalated one, which that level's topic must hear as well (the
        worker withdraws it only where it routed it)."""
        out = []
        for change in changes:
            if change.change != "ESCALATED" and not (change.change == "RETRACTED"
                                                     and change.escalations):
                continue
            raw = self.incidents.get(change.incident_id)
            if not raw:
                continue
            _kind, record = self.codec.decode(raw)
            value = self.codec.encode("incident", escalated(record, change))
            out.append((LEVEL_TOPICS[change.level], change.department_code or "", value))
        return out


def create_casework_app(settings: Settings, policy: DispatchPolicy, codec: Codec, *,
                        clock: str = "wall", datadir: Path | None = None) -> faust.App:
    """The Faust app that runs the casework (``hub casework``); nothing runs until started."""
    if clock not in CLOCKS:
        raise ValueError(f"clock {clock!r}: use one of {', '.join(CLOCKS)}")
    datadir = datadir or settings.state_dir / "casework"
    datadir.mkdir(parents=True, exist_ok=True)
    clock_partitions = case_partitions(settings)
    clock_name = clock_topic(settings.app_id)
    app = faust.App(
        f"{settings.app_id}-casework",
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",
        datadir=str(datadir),
        topic_partitions=clock_partitions,
        topic_replication_factor=1,
        web_enabled=False,
        web_tables_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        # A killed member's partitions wait this long for a new owner (Faust's default: 60 s).
        broker_session_timeout=10.0,
    )
    def raw(*names: str) -> Any:
        return app.topic(*names, key_serializer="raw", value_serializer="raw")

    inputs = raw(INCIDENTS_TOPIC, ACTIONS_TOPIC, clock_name)
    ticks = raw(clock_name)
    outputs = {name: raw(name)
               for name in (CASES_TOPIC, DEADLETTER_TOPIC, *LEVEL_TOPICS.values())}
    schema: Any = faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw",
                          value_serializer="raw")
    table = app.Table("cases", partitions=clock_partitions, schema=schema, key_type=bytes,
                      value_type=bytes)
    work = Casework(policy, codec, table, settings.pseudonym_key, settings.deadletter_key)

    @app.on_partitions_revoked.connect
    async def _revoked(*_args: Any, **_kwargs: Any) -> None:
        work.forget()

    @app.on_partitions_assigned.connect
    async def _assigned(*_args: Any, **_kwargs: Any) -> None:
        work.forget()

    async def handle(event: Any) -> list[Any]:
        msg = event.message
        topic, partition, value = msg.topic, msg.partition, msg.value or b""
        followed: list[tuple[str, str, bytes]] = []
        try:
            if topic == clock_name:
                changes = work.on_tick(partition, value)
            elif topic == INCIDENTS_TOPIC:
                changes = work.on_incident(partition, value)
                followed = work.above(partition, value)
            else:
                changes = work.on_action(partition, value)
        except Exception as exc:  # nothing is lost: a bug of ours is a dead letter too
            kind = "incident_action" if topic == ACTIONS_TOPIC else "incident"
            if isinstance(exc, RecordError):
                log.info("%s at %s[%d]@%d rejected: %s", kind, topic, partition, msg.offset, exc)
            else:
                log.exception("%s at %s[%d]@%d failed", kind, topic, partition, msg.offset)
            kept, scrubbed, sealed = work.kept_for_dead_letter(value)
            letter = dead_letter_record(
                exc, topic=topic, partition=partition, offset=msg.offset, key=msg.key,
                value=kept, headers=list(msg.headers or ()), time_ms=int(time.time() * 1000),
                timestamp_ms=msg.timestamp and int(msg.timestamp * 1000), source_kind=kind,
                worker_id=app.conf.id, sealed=sealed, pseudonym_key=settings.pseudonym_key)
            if scrubbed:
                letter["detail"] += (f" (original_value re-encoded with the personal numbers in "
                                     f"{', '.join(scrubbed)} pseudonymized)")
            sent = [await outputs[DEADLETTER_TOPIC].send(  # the key as kept (scrubbed)
                key=letter["original_key"], value=codec.encode("dead_letter", letter))]
            rejected = exc.change if isinstance(exc, ActionRejected) else None
            if rejected is not None:  # the case's history says so too
                sent.append(await outputs[CASES_TOPIC].send(
                    key=rejected.incident_id.encode(),
                    value=codec.encode("case_change", rejected.to_record())))
            return sent
        sent = [await outputs[CASES_TOPIC].send(
                    key=c.incident_id.encode(), value=codec.encode("case_change", c.to_record()))
                for c in changes]
        for out_topic, key, out_value in [*work.escalations(changes), *followed]:
            sent.append(await outputs[out_topic].send(key=key.encode(), value=out_value))
        return sent

    @app.agent(inputs, concurrency=1)
    async def casework(stream: Any) -> None:
        async for event in stream.events():
            # Every output is acknowledged before the input's offset can be committed.
            pending = await handle(event)
            if pending:
                await asyncio.gather(*pending)

    if clock == "wall":
        async def _tick() -> None:
            now = tick_value(int(time.time() * 1000))
            for partition in range(clock_partitions):
                await ticks.send(value=now, partition=partition)

        # Registered by a call, not as a decorator: Faust's timer() is untyped (no_type_check,
        # a bare Callable), so decorating would leave _tick untyped (as hub/online/analytics_app).
        app.timer(interval=settings.tick_seconds)(_tick)

    return app


def run_casework(settings: Settings, app: faust.App, *, loglevel: str = "info") -> int:
    """Run the casework app in this process until SIGTERM/SIGINT (Faust's worker exits)."""
    ensure_clock_topic(settings)
    faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
    return 0
