"""The hub's internal message contract: the headers it writes and reads, and its state keys.

Everything a worker says to another worker (or to itself after a restart) goes through the names
below: the headers of the correlation topic (``hub.internal.correlate``), the headers the hub puts
on the messages it publishes (incidents, dead letters), and the key layout of the state changelog
(``<app_id>-engine-state-changelog``). Change one here and every writer and reader changes with it;
a name that is not here is not part of the contract. Pure: no Kafka, no I/O.

Layout of a changelog key, per correlation partition ``p`` and lane::

    <p>|<lane>|R|<rule>|<key>     one (rule, key) state of an engine   (state_key)
    <p>|<lane>|meta               the lane's watermark progress          (meta_key)
    <p>|<lane>|early              provisional incidents awaiting verdict (early_key)
    <key>\\x00<i>                  chunk i of a large value               (chunk_key)
"""

from __future__ import annotations

# --- Headers of the correlation topic (hub.internal.correlate) --------------------------------

#: A frame of forwards (value ``b"1"``; layout in hub/runtime/frames.py). Written by ingest
#: (hub/runtime/ingest.py), read by the correlator (hub/runtime/correlator.py).
FRAME_HEADER = "hub-frame"
#: A tick: the sender's wall clock in ms (ASCII). Written by the pipeline's tick
#: (hub/runtime/pipeline.py) to every correlation partition; read by the correlator.
TICK_HEADER = "hub-tick"
#: Beside ``hub-tick``: the comma-separated "topic/partition" sources whose every message the
#: sender has forwarded (only those count quiet time). Written by the pipeline, read by the
#: correlator.
TICK_ORIGINS_HEADER = "hub-tick-origins"
#: Beside ``hub-tick``: JSON {"topic/partition": newest event ms handled}. Written by the
#: pipeline, read by the correlator (``progress_of``).
TICK_PROGRESS_HEADER = "hub-tick-progress"
#: On frames and ticks: the app id (HUB_APP_ID) of the worker that wrote them. Two hubs on one
#: broker share this topic; a worker applies only its own app's frames and ticks (another app's
#: ticks would move its clocks past events its own frames bring later: all LATE). Written by
#: ingest and the pipeline's tick, read by the correlator; absent (``hub flush``, older
#: writers): applied by every app.
APP_HEADER = "hub-app"
#: A control message; its only value is :data:`FLUSH` (end of input). Written by ``hub flush``
#: (hub/runtime/control.py), read by the correlator.
CONTROL_HEADER = "hub-control"
#: The value of :data:`CONTROL_HEADER` that flushes every engine of the partition.
FLUSH = b"flush"
#: A one-event forward's source "topic/partition/offset". Written by workers from before frames
#: (no writer left); read by the correlator for such forwards still on the topic.
SOURCE_HEADER = "hub-src"
#: A one-event forward's lane. Pre-frame writers only; read by the correlator.
LANE_HEADER = "hub-lane"
#: A one-event forward's source kind. Pre-frame writers only; read by the correlator (dead
#: letters of such forwards name it).
KIND_HEADER = "hub-kind"
#: A one-event forward's event as JSON ``[kind, fields]``. Pre-frame writers only; read by the
#: correlator instead of decoding the Avro body.
EVENT_HEADER = "hub-event"
#: Headers starting with this are the hub's own: a dead letter of a forward keeps only the
#: source's headers (the correlator drops these).
HUB_HEADER_PREFIX = "hub-"

# --- Headers of what the hub publishes ---------------------------------------------------------

#: On every incident (hub.incidents and the level topics): the rule id. Written by the
#: correlator's ``publish``; read by consumers of incidents (``hub consume`` shows headers).
RULE_HEADER = "hub-rule"
#: On every incident: its risk level. Written by the correlator; read by incident consumers.
RISK_HEADER = "hub-risk"
#: On every incident: its version (ASCII int). Written by the correlator; read by consumers.
VERSION_HEADER = "hub-version"
#: On every incident: its status (PROVISIONAL, CONFIRMED, ...). Written by the correlator.
STATUS_HEADER = "hub-status"
#: On an incident routed to a level topic (keyed by department): the incident id. Written by
#: the correlator; read by the level topics' consumers.
INCIDENT_HEADER = "hub-incident"
#: On every dead letter: its reason code. Written by the outbox (hub/runtime/outbox.py); read by
#: whoever drains hub.deadletter.
REASON_HEADER = "hub-reason"
#: On a dead letter whose original value was re-encoded with personal values pseudonymized: the
#: comma-separated fields. Written by the outbox.
PSEUDONYMIZED_HEADER = "hub-pseudonymized"
#: On a dead letter whose original value is sealed with the dead-letter key (``b"1"``). Written
#: by the outbox; read by ``hub consume --unseal``.
SEALED_HEADER = "hub-sealed"

# --- The state changelog's keys and value markers ----------------------------------------------

#: A chunked value's manifest: this prefix, then the number of chunks (ASCII). Written and read
#: by the changelog store (hub/runtime/state_store.py). State values are JSON and keys never hold
#: a NUL (hub/codec/limits.py), so neither this nor :data:`COMPRESSED` is mistaken for them.
MANIFEST = b"\x00hub-chunks:"
#: A compressed value's prefix, then a zlib stream of the JSON text. Written and read by the
#: changelog store.
COMPRESSED = b"\x00hub-zlib:"


def state_key(partition: int, lane: str, ref: tuple[str, str, str]) -> bytes:
    """The changelog key of one engine state (``ref``: the engine's ("R", rule, key)). Written
    by the correlator's checkpoint; read back by :func:`parse_state_key` on restore."""
    return f"{partition}|{lane}|{ref[0]}|{ref[1]}|{ref[2]}".encode()


def meta_key(partition: int, lane: str) -> bytes:
    """The changelog key of a lane's watermark progress. Written and restored by the
    correlator."""
    return f"{partition}|{lane}|meta".encode()


def early_key(partition: int, lane: str) -> bytes:
    """The changelog key of a lane's provisional incidents awaiting their verdict. Written and
    restored by the correlator (early alerts)."""
    return f"{partition}|{lane}|early".encode()


def parse_state_key(raw: bytes) -> list[str]:
    """A changelog key split into its fields: ``[p, lane, "meta" | "early"]`` or ``[p, lane, R,
    rule, key]`` (a key may itself hold ``|``); any other length is another layout's entry."""
    return raw.decode().split("|", 4)


def chunk_key(key: bytes, i: int) -> bytes:
    """The key of chunk ``i`` of a value too large for one record. Written and read by the
    changelog store; the correlator never sees chunks."""
    return key + b"\x00" + str(i).encode()
