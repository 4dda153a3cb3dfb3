"""What ``hub correlate`` reads: interchange JSON lines, or a recording made by ``hub record``.

A recording keeps each message's Kafka timestamp, so an offline run knows when every event
arrived and applies the same clock rule as the worker (hub.core.clock_skew); a plain file does
not, unless the user gives ``--now``. Messages of a recording are taken in the order ``hub
replay`` would send them (per partition in offset order, earliest timestamp first).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path

from hub.codec import Codec, read_jsonl
from hub.codec.interchange import Line, pii_fields, scrubbed_fields
from hub.core.clock_skew import arrived_at
from hub.core.pseudonym import shield
from hub.model.errors import RecordError, ValidationError, a_or_an
from hub.model.events import REGISTRY_KIND, SOURCE_KINDS
from hub.replay.record import is_recording, read_recording
from hub.replay.replay_plan import merge_partitions
from hub.settings import REGISTRY_TOPIC, SOURCE_TOPICS

_INPUT_TOPICS = frozenset((*SOURCE_TOPICS.values(), REGISTRY_TOPIC))


def read_input(path: Path | str, *, pseudonym_key: str, codec: Codec,
               only: Collection[str] | None = None) -> Iterator[Line]:
    """The lines of ``path`` ('-' for stdin: JSON lines), a recording's messages as lines.
    ``only``: the kinds the caller needs (others may be skipped unread; see read_jsonl)."""
    if str(path) != "-" and is_recording(path):
        yield from recording_lines(path, pseudonym_key=pseudonym_key, codec=codec)
    else:
        yield from read_jsonl(path, pseudonym_key=pseudonym_key, codec=codec, only=only)


def recording_lines(path: Path | str, *, pseudonym_key: str, codec: Codec) -> Iterator[Line]:
    """Each recorded message of a source or the registry topic as a line (``lineno``: its
    place in send order, from 1), with its arrival; other topics (the hub's output and internal
    topics) are left out."""
    for n, m in enumerate(merge_partitions(read_recording(path)), start=1):
        if m.topic not in _INPUT_TOPICS:
            continue
        try:
            kind, record = codec.decode(m.value or b"")
            if kind not in (*SOURCE_KINDS, REGISTRY_KIND):
                raise ValidationError(f"{a_or_an(kind)} record on {m.topic}; only source events "
                                      "and building records are input", field="kind")
            pii, text = pii_fields(codec.schema(kind)), scrubbed_fields(codec.schema(kind))
            record, _ = shield(record, pseudonym_key, pii, text)  # as ingest does
            codec.check_rules(kind, record)
        except RecordError as exc:
            yield Line(n, None, None, exc)
            continue
        except Exception as exc:  # a value no decoder accepts is that message's error alone
            yield Line(n, None, None, ValidationError(
                f"{m.topic}/{m.partition}@{m.offset}: {exc}", field="value"))
            continue
        yield Line(n, kind, record, None, arrived_at(m.timestamp_type, m.timestamp))
