"""The JSON-lines interchange form used by files, tests and tools.

One JSON object per line: ``"kind"`` plus the record's fields. Times are ISO-8601 with a UTC offset
or epoch milliseconds on input, and epoch milliseconds on output; bytes are base64 text. Personal
values are pseudonymized here, at the edge, before a record can reach a topic (see
:mod:`hub.core.pseudonym`).
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.codec.avro import Codec, load_codec
from hub.codec.json_names import loads_line, refuse_twice, why_not_json
from hub.codec.limits import (
    MAX_DEPTH,
    MAX_LINE_BYTES,
    RUNAWAY_LINE_BYTES,
    bounded_lines,
    check_depth,
    check_line_size,
)
from hub.codec.validate import conform
from hub.core.pseudonym import (
    RAW_ALIASES,
    pseudonymize_fields,
    scrub_fields,
    sources_that_differ,
)
from hub.model.errors import (
    DecodeError,
    RecordError,
    UnknownSchemaError,
    ValidationError,
    quoted,
)
from hub.model.events import (
    ALL_KINDS,
    INCIDENT_KIND,
    REGISTRY_KIND,
    SOURCE_KINDS,
    Building,
    Event,
)
from hub.model.incidents import CONFIRMED, Incident

#: Kinds a line may carry.
LINE_KINDS: tuple[str, ...] = (*ALL_KINDS, INCIDENT_KIND, "dead_letter", "incident_action",
                               "case_change", "dispute_funnel", "risk_warning", "safety_index")


#: Every line kind, quoted as in a line: what ``read_jsonl(only=...)`` may skip unread.
_KNOWN = tuple(f'"{k}"'.encode() for k in LINE_KINDS)


def pii_fields(schema: Mapping[str, Any]) -> frozenset[str]:
    """Top-level fields the schema marks ``"pii": "pseudonymized"``."""
    return frozenset(f["name"] for f in schema.get("fields", []) if f.get("pii") == "pseudonymized")


def scrubbed_fields(schema: Mapping[str, Any]) -> frozenset[str]:
    """Top-level free-text fields the schema marks ``"pii": "scrubbed"``: personal numbers in
    them are replaced by pseudonyms (hub.core.pseudonym.scrub_text)."""
    return frozenset(f["name"] for f in schema.get("fields", []) if f.get("pii") == "scrubbed")


def _with_line(exc: RecordError, lineno: int | None) -> RecordError:
    """Attach ``lineno`` to the error; ``str(exc)`` becomes ``line N: field: detail``."""
    if lineno is not None:
        exc.lineno = lineno  # type: ignore[attr-defined]
        exc.args = (f"line {lineno}: {exc.args[0] if exc.args else exc.detail}",)
    return exc


def error_lineno(exc: BaseException) -> int | None:
    """The line number :func:`parse_line` attached to an error, if any."""
    value = getattr(exc, "lineno", None)
    return value if isinstance(value, int) else None


def format_error(exc: RecordError, source: str | None = None) -> str:
    """``FILE:LINE: field: detail`` (parts left out when unknown), for people and editors."""
    lineno = error_lineno(exc)
    where = source
    if lineno is not None:
        where = f"{source}:{lineno}" if source else f"line {lineno}"
    return ": ".join(p for p in (where, exc.field, exc.detail) if p)


def parse_line(
    text: str,
    lineno: int | None = None,
    *,
    pseudonym_key: bytes | str,
    codec: Codec | None = None,
    accept: Collection[str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Parse, pseudonymize and validate one interchange line: ``(kind, record)``.

    The record is ready for :meth:`Codec.encode`: every schema field present (defaults filled in),
    times in epoch milliseconds, personal values replaced by pseudonyms.
    Raises :class:`DecodeError` (not JSON), :class:`UnknownSchemaError` (bad ``kind``) or
    :class:`ValidationError`, each naming the field and, when ``lineno`` is given, the line.
    """
    try:
        check_line_size(len(text))  # characters: at least as many bytes
        try:
            obj = loads_line(text)
        except ValueError as exc:
            raise DecodeError(why_not_json(exc, "write one JSON object per line")) from exc
        except RecursionError:
            raise DecodeError(f"JSON nested deeper than {MAX_DEPTH} levels; records are "
                              "flat") from None
        if text.count("[") + text.count("{") > MAX_DEPTH:
            check_depth(obj)
        if not isinstance(obj, dict):
            raise DecodeError(f"expected a JSON object, got {type(obj).__name__}")
        return parse_object(obj, pseudonym_key=pseudonym_key, codec=codec, accept=accept)
    except RecordError as exc:
        raise _with_line(exc, lineno) from exc.__cause__


def parse_object(
    obj: Mapping[str, Any], *, pseudonym_key: bytes | str, codec: Codec | None = None,
    accept: Collection[str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Like :func:`parse_line` for an already-parsed JSON object. ``accept``: the kinds the
    caller takes (any line kind when None); another kind is refused before validation."""
    codec = codec or load_codec()
    refuse_twice(obj)
    fields = dict(obj)
    kind = fields.pop("kind", None)
    if kind not in LINE_KINDS:
        if kind is None:
            raise UnknownSchemaError(
                f'missing; add "kind": one of {", ".join(LINE_KINDS)}', field="kind"
            )
        raise UnknownSchemaError(
            f"{quoted(kind)} is not a known kind; use one of {', '.join(LINE_KINDS)}", field="kind"
        )
    if accept is not None and kind not in accept:
        raise UnknownSchemaError(
            f"{kind} lines are not taken here; use one of {', '.join(accept)}", field="kind")
    schema = codec.schema(kind)
    personal = pii_fields(schema)
    check_one_source(fields, personal, pseudonym_key)
    fields = pseudonymize_fields(fields, pseudonym_key, personal)
    free_text = scrubbed_fields(schema)
    if free_text:
        fields = scrub_fields(fields, pseudonym_key, free_text)
    try:
        record = conform(schema, fields, from_json=True)
    except ValidationError as exc:
        raise _with_raw_names(exc, schema, personal) from None
    codec.check_rules(kind, record)
    return kind, record


def check_one_source(fields: Mapping[str, Any], personal: frozenset[str],
                     pseudonym_key: bytes | str) -> None:
    """Refuse a personal value given under two names that disagree (``card_no`` and
    ``credential``): one of them would be kept without a word, and nobody can tell which the
    sender meant."""
    differ = sources_that_differ(fields, personal, pseudonym_key)
    if differ:
        first, *others = differ
        raise ValidationError(
            f"given with {' and '.join(others)} and the two differ; send the value once, under "
            "one name", field=first)


def _with_raw_names(exc: ValidationError, schema: Mapping[str, Any],
                    personal: frozenset[str]) -> ValidationError:
    """An unknown field of a kind with personal fields: the allowed list names the schema's
    fields, not the raw names taken for them, so a vendor who sent ``card_number`` was not told
    that ``card_no`` or ``credential`` would have been hashed and kept."""
    names = {f["name"] for f in schema.get("fields", [])}
    aliases: dict[str, list[str]] = {}
    for alias, target in RAW_ALIASES.items():
        if target in personal:
            aliases.setdefault(target, []).append(alias)
    if exc.field is None or exc.field in names or "." in exc.field or not aliases:
        return exc
    raw = "; ".join(f"{' or '.join(a)} for {target}" for target, a in aliases.items())
    return ValidationError(f"{exc.detail}; a raw personal value is taken as {raw} (hashed "
                           "here, at the edge)", field=exc.field)


@dataclass(frozen=True)
class Line:
    """One non-blank line of a JSON-lines file: parsed, or the error that stopped it."""

    lineno: int
    kind: str | None
    record: dict[str, Any] | None
    error: RecordError | None
    #: When the record reached Kafka (a recording's record timestamp, ms); None in a plain file
    arrived: int | None = None

    @property
    def ok(self) -> bool:
        """True when the line decoded; then ``kind`` and ``record`` are set and ``error`` is
        None."""
        return self.error is None


def read_jsonl(
    path: Path | str, *, pseudonym_key: bytes | str, codec: Codec | None = None,
    accept: Collection[str] | None = None, only: Collection[str] | None = None,
) -> Iterator[Line]:
    """Every non-blank line of ``path`` (``-`` for stdin) as a :class:`Line`; never stops early.
    ``accept``: the kinds taken (see :func:`parse_object`). ``only``: skip, unparsed, every line
    that names a ``"kind"`` and another kind the hub knows, but none of these (a reader that
    needs two kinds of a city's 700,000 lines should not validate the other 690,000); a line
    naming no known kind (garbage, a binary record, ``"grid_reprot"``) is read, so that it is
    rejected, not skipped. Line numbers stay the file's."""
    codec = codec or load_codec()
    wanted = tuple(f'"{k}"'.encode() for k in only) if only is not None else None
    if str(path) == "-":
        yield from _read_lines(bounded_lines(sys.stdin.buffer), pseudonym_key, codec, accept,
                               wanted)
        return
    with open(path, "rb") as handle:
        yield from _read_lines(bounded_lines(handle), pseudonym_key, codec, accept, wanted)


def _read_lines(lines: Any, key: bytes | str, codec: Codec,
                accept: Collection[str] | None = None,
                wanted: tuple[bytes, ...] | None = None) -> Iterator[Line]:
    """Lines are decoded one by one, so a line that is not UTF-8 is one rejected line."""
    for lineno, raw in enumerate(lines, start=1):
        if type(raw) is int:  # longer than a line may be: only its size was kept
            err = DecodeError(
                f"the line is {raw:,} bytes; a record has at most {MAX_LINE_BYTES:,}"
                if raw <= RUNAWAY_LINE_BYTES else
                f"over {RUNAWAY_LINE_BYTES:,} bytes without a line break: not a JSON-lines "
                "file; the rest of it is not read")
            yield Line(lineno, None, None, _with_line(err, lineno))
            continue
        if (wanted is not None and isinstance(raw, bytes) and b'"kind"' in raw
                and not any(w in raw for w in wanted) and any(k in raw for k in _KNOWN)):
            continue
        try:
            check_line_size(len(raw.encode() if isinstance(raw, str) else raw))
        except RecordError as exc:
            yield Line(lineno, None, None, _with_line(exc, lineno))
            continue
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as exc:
            err = DecodeError(f"not UTF-8 text ({exc.reason} at byte {exc.start}); write "
                              "interchange lines in UTF-8")
            yield Line(lineno, None, None, _with_line(err, lineno))
            continue
        if text.startswith("\ufeff"):  # a byte-order mark (Windows editors write one; files
            text = text[1:]  # joined with cat carry it into the middle), not part of the line
        if not text.strip():
            continue
        try:
            kind, record = parse_line(text, lineno, pseudonym_key=key, codec=codec, accept=accept)
        except RecordError as exc:
            yield Line(lineno, None, None, exc)
        else:
            yield Line(lineno, kind, record, None)


# -- conversions ---------------------------------------------------------------------------------


def to_event(kind: str, record: Mapping[str, Any], arrived: int | None = None) -> Event:
    """The engine's value type for a source record (``arrived``: its record timestamp)."""
    if kind not in SOURCE_KINDS:
        raise UnknownSchemaError(f"{kind!r} is not a source event kind", field="kind")
    return Event.from_record(kind, record, arrived=arrived)


def to_building(record: Mapping[str, Any]) -> Building:
    """A building registry record as the model type; kept beside the event readers so callers decode
    every interchange kind from one module."""
    return Building.from_record(record)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _ordered(schema: Any, value: Any, names: dict[str, Any]) -> Any:
    """``value`` with record fields in schema order (unknown keys dropped)."""
    if isinstance(schema, str):
        schema = names.get(schema, schema)
    if isinstance(schema, list):
        if value is None:
            return None
        for branch in schema:
            if branch != "null":
                resolved = names.get(branch, branch) if isinstance(branch, str) else branch
                if isinstance(value, Mapping) == _is_record(resolved):
                    return _ordered(resolved, value, names)
        return value
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "record" and isinstance(value, Mapping):
            names.setdefault(f"{schema.get('namespace', 'hub')}.{schema['name']}", schema)
            return {
                f["name"]: _ordered(f["type"], value.get(f["name"]), names)
                for f in schema["fields"]
            }
        if kind in ("enum", "fixed"):
            names.setdefault(f"{schema.get('namespace', 'hub')}.{schema['name']}", schema)
        if kind == "array" and isinstance(value, (list, tuple)):
            return [_ordered(schema["items"], v, names) for v in value]
        if isinstance(kind, (dict, list)):
            return _ordered(kind, value, names)
    return value


def _is_record(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "record"


def record_to_json(kind: str, record: Mapping[str, Any], *, codec: Codec | None = None,
                   omit: Collection[str] = ()) -> str:
    """One interchange line (no newline): ``kind`` first, then the fields in schema order.

    Deterministic: compact separators, times as epoch milliseconds, bytes as base64,
    non-ASCII text kept as is. Keys the schema does not know are left out, and so are the
    top-level fields named in ``omit`` (a reader fills their schema defaults).
    """
    codec = codec or load_codec()
    schema = codec.schema(kind)
    body = _ordered(schema, record, {})
    for name in omit:
        body.pop(name, None)
    return json.dumps({"kind": kind, **_jsonable(body)}, ensure_ascii=False, separators=(",", ":"))


def incident_to_json(incident: Incident, *, codec: Codec | None = None) -> str:
    """An incident's line; ``status`` and ``status_reason`` are left out while they hold their
    defaults (CONFIRMED, null), and ``evidence_count`` while the list is complete, so these lines
    are the same as before the fields existed: ``hub correlate`` output and recordings compared
    with it do not change."""
    omit = ["status", "status_reason"] if (
        incident.status == CONFIRMED and incident.status_reason is None) else []
    if incident.evidence_count in (0, len(incident.evidence)):
        omit.append("evidence_count")  # the list is complete: the line is as it always was
    return record_to_json(INCIDENT_KIND, incident.to_record(), codec=codec, omit=omit)


def topic_key(kind: str, record: Mapping[str, Any]) -> str:
    """The message key contract: ``site_id`` for source events, ``building_id`` for the registry,
    ``incident_id`` for incidents."""
    if kind == REGISTRY_KIND:
        return str(record["building_id"])
    if kind == INCIDENT_KIND:
        return str(record["incident_id"])
    return str(record["site_id"])
