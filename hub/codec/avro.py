"""Avro single-object encoding: ``C3 01`` + 8-byte CRC-64-AVRO fingerprint + Avro binary body.

Any consumer finds the writer schema from the fingerprint, without a registry server, and resolves
it to its own (reader) schema, so producers and consumers can be upgraded in either order. Times
stay int milliseconds (logical types are stripped for reading and writing; they are not part of the
fingerprint). fastavro errors are translated into the hub's own errors at this boundary.
Confluent Schema Registry framing (0 + 4-byte schema id) is recognized only to say so in the error.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fastavro
from fastavro.validation import validate as fastavro_validate

from hub.codec.fast_reader import Reader, compile_reader
from hub.codec.limits import LIMITED_KINDS
from hub.codec.plain_check import PlainCheck, compile_plain_check
from hub.codec.schemas import (
    DEFAULT_NAMESPACE,
    expand,
    fingerprint,
    fullname,
    iter_history,
    load_named_types,
    strip_logical_types,
)
from hub.codec.validate import FIELD_RANGES, check_rules
from hub.model.errors import DecodeError, UnknownSchemaError, ValidationError, quoted
from hub.model.events import MAX_TIME_MS, MIN_TIME_MS, RECORD_NAMES, shared_strings

if TYPE_CHECKING:
    from hub.core.rules import EnumType, FieldType

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8
#: Confluent Schema Registry framing (not supported, recognized to say so): 0 + 4-byte id.
CONFLUENT_MAGIC = 0
CONFLUENT_HEADER_SIZE = 5

#: Avro record name -> interchange kind (``DeadLetter`` -> ``dead_letter``).
KIND_OF_RECORD: dict[str, str] = {name: kind for kind, name in RECORD_NAMES.items()}


@dataclass(frozen=True)
class WriterSchema:
    """A schema some producer may have written with: current or released (historical)."""

    name: str  # full name
    version: int | None  # history version; None for a current schema not (yet) released
    fingerprint: bytes
    parsed: Any


class Codec:
    """Encoder/decoder for one schema directory (current schemas plus history)."""

    def __init__(self, schemas_dir: Path) -> None:
        self.schemas_dir = schemas_dir
        self.types = load_named_types(schemas_dir)
        #: full name -> self-contained schema JSON (docs and attributes kept)
        self.schemas: dict[str, dict[str, Any]] = {
            name: expand(name, self.types)
            for name, schema in self.types.items()
            if schema.get("type") == "record"
        }
        self._parsed: dict[str, Any] = {
            name: _parse(schema) for name, schema in self.schemas.items()
        }
        self._fingerprints: dict[str, bytes] = {
            name: fingerprint(schema) for name, schema in self.schemas.items()
        }
        self.writers: dict[bytes, WriterSchema] = {}
        for hist in iter_history(schemas_dir):
            fp = fingerprint(hist.schema)
            self.writers[fp] = WriterSchema(hist.name, hist.version, fp, _parse(hist.schema))
        for name, fp in self._fingerprints.items():
            if fp not in self.writers:
                self.writers[fp] = WriterSchema(name, None, fp, self._parsed[name])
        #: fingerprint -> (kind, compiled reader) for bodies read as their own schema: the
        #: current ones, or a historical one with no current schema of its name
        self._fast: dict[bytes, tuple[str, Reader]] = {}
        for fp, writer in self.writers.items():
            if self._fingerprints.get(writer.name, fp) == fp:
                reader = compile_reader(writer.parsed)
                if reader is not None:
                    self._fast[fp] = (self.kind_of(writer.name), reader)
        #: kind -> its compiled plain check (hub.codec.plain_check), for the input kinds
        self._plain: dict[str, PlainCheck] = {}
        for kind in LIMITED_KINDS:
            name = self.record_name(kind)
            if name in self.schemas:
                check = compile_plain_check(self.schemas[name], min_time=MIN_TIME_MS,
                                            max_time=MAX_TIME_MS)
                if check is not None:
                    self._plain[kind] = check

    # -- names -----------------------------------------------------------------------------
    def record_name(self, kind_or_name: str) -> str:
        """Full record name for an interchange kind or a (short or full) record name."""
        short = RECORD_NAMES.get(kind_or_name, kind_or_name)
        name = fullname(short, DEFAULT_NAMESPACE)
        if name not in self.schemas:
            known = ", ".join(sorted(RECORD_NAMES))
            raise UnknownSchemaError(
                f"no schema for {kind_or_name!r}; known kinds: {known}", field="kind"
            )
        return name

    def kind_of(self, name: str) -> str:
        """The hub kind (e.g. ``perimeter_alarm``) of an Avro record name, full or short; unknown
        names map to their short name."""
        short = name.rsplit(".", 1)[-1]
        return KIND_OF_RECORD.get(short, short)

    def schema(self, kind_or_name: str) -> dict[str, Any]:
        """The current self-contained schema JSON (with docs and ``pii`` markers)."""
        return self.schemas[self.record_name(kind_or_name)]

    def fingerprint(self, kind_or_name: str) -> bytes:
        """The 8-byte Rabin fingerprint that prefixes single-object encoded values of this schema;
        raises UnknownSchemaError for an unknown kind or name."""
        return self._fingerprints[self.record_name(kind_or_name)]

    def check_rules(self, kind: str, record: Mapping[str, Any]) -> None:
        """hub.codec.validate.check_rules, through this codec's check compiled for the kind."""
        check_rules(kind, record, self._plain.get(kind))

    # -- wire ------------------------------------------------------------------------------
    def encode(self, kind_or_name: str, record: Mapping[str, Any]) -> bytes:
        """Single-object encoding of ``record`` with the current schema of that kind."""
        name = self.record_name(kind_or_name)
        parsed = self._parsed[name]
        buf = io.BytesIO()
        buf.write(MAGIC)
        buf.write(self._fingerprints[name])
        try:
            fastavro.schemaless_writer(buf, parsed, dict(record))
        except Exception as exc:  # fastavro raises many types for bad data
            raise _explain_write_error(parsed, record, exc) from exc
        return buf.getvalue()

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """``(kind, record)`` from single-object bytes, resolved to the current reader schema;
        the record's field names and short strings are shared (hub.model.events.shared_strings):
        ingest builds its events from them as they are."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DecodeError(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
        if len(data) < HEADER_SIZE or data[:2] != MAGIC:
            raise _not_single_object(data)
        fp = data[2:HEADER_SIZE]
        fast = self._fast.get(fp)
        if fast is not None:  # hub.codec.fast_reader; None from it: fastavro decides
            compiled = fast[1](data, HEADER_SIZE)
            if compiled is not None:
                return fast[0], compiled
        writer = self.writers.get(fp)
        if writer is None:
            # bytes apart (01:01:...): sixteen hex digits that happen to be all digits read as
            # a card number, and a dead letter's detail is scrubbed of those
            raise UnknownSchemaError(
                f"unknown schema fingerprint {fp.hex(':')}: the writer used a schema that is "
                f"neither current nor in {self.schemas_dir / 'history'}; upgrade the hub's schemas"
            )
        reader = self._parsed.get(writer.name)
        same = reader is None or self._fingerprints[writer.name] == fp
        body = io.BytesIO(data[HEADER_SIZE:])
        try:
            record = fastavro.schemaless_reader(body, writer.parsed, None if same else reader)
        except Exception as exc:  # EOFError, UnicodeDecodeError, SchemaResolutionError, ...
            if isinstance(exc, EOFError):
                why = "the body ends before the record does (truncated?)"
            elif isinstance(exc, IndexError):  # fastavro's "list index out of range"
                why = ("an enum symbol or union branch number past the schema's (corrupt bytes, "
                       "or written with a schema other than the one its fingerprint names)")
            else:
                why = f"{type(exc).__name__}: {exc}"
            raise DecodeError(
                f"body does not decode as {writer.name} (fingerprint {fp.hex()}): {why}"
            ) from exc
        rest = len(data) - HEADER_SIZE - body.tell()
        if rest:
            raise DecodeError(f"{rest} unexpected bytes after the {writer.name} record")
        if not isinstance(record, dict):
            raise DecodeError(f"{writer.name} did not decode to a record")
        return self.kind_of(writer.name), shared_strings(record)


def _not_single_object(data: bytes) -> DecodeError:
    """The DECODE_ERROR for bytes without the single-object marker, naming Confluent's framing.

    Confluent's serializers write magic byte 0 + a 4-byte big-endian Schema Registry id before
    the Avro body. The hub has no registry to look such an id up in (and an id means nothing
    outside the registry that issued it), so it refuses them like any other bytes without the
    marker, but says what it saw and what to send instead.
    """
    if len(data) >= CONFLUENT_HEADER_SIZE and data[0] == CONFLUENT_MAGIC:
        schema_id = int.from_bytes(data[1:CONFLUENT_HEADER_SIZE], "big")
        return DecodeError(
            f"Confluent Schema Registry framing (magic byte 0, schema id {schema_id}), not Avro "
            "single-object encoding: the hub has no registry; send single-object encoding "
            "(2 bytes C3 01 + the schema's 8-byte CRC-64-AVRO fingerprint + the Avro body; "
            "docs/contracts.md 'Vendors using Confluent's serializer') or JSON lines through "
            "`hub produce`"
        )
    # Only the two bytes where the marker belongs: these bytes are sealed in their dead letter
    # (they cannot be searched for a personal number), and ten of them in the detail showed ten
    # digits of a phone number sent as text (an outside probe)
    seen = f"{data[:2].hex(' ')} ... ({len(data)} bytes)" if data else "an empty value"
    return DecodeError(
        "not Avro single-object encoding: expected the bytes C3 01 and an 8-byte schema "
        f"fingerprint, got {seen}"
    )


def _parse(schema: Mapping[str, Any]) -> Any:
    return fastavro.parse_schema(strip_logical_types(dict(schema)), named_schemas={})


def _explain_write_error(parsed: Any, record: Mapping[str, Any], exc: Exception) -> ValidationError:
    """Turn a fastavro write failure into a ValidationError naming the field."""
    name = str(parsed.get("name", "record")) if isinstance(parsed, dict) else "record"
    field: str | None = None
    if isinstance(parsed, dict):
        for fld in parsed.get("fields", []):
            fname = fld["name"]
            if fname not in record and "default" not in fld:
                return ValidationError(f"required field missing in {name}", field=fname)
            value = record.get(fname, fld.get("default"))
            if not fastavro_validate(value, fld["type"], raise_errors=False):
                field = fname
                return ValidationError(
                    f"{quoted(value)} does not fit the {name} schema type "
                    f"{_type_name(fld['type'])}",
                    field=field,
                )
    return ValidationError(f"cannot encode {name}: {type(exc).__name__}: {exc}")


def _type_name(avro_type: Any) -> str:
    if isinstance(avro_type, list):
        return " | ".join(_type_name(t) for t in avro_type)
    if isinstance(avro_type, dict):
        return str(avro_type.get("name") or avro_type.get("type"))
    return str(avro_type)


@lru_cache(maxsize=8)
def load_codec(schemas_dir: Path | None = None) -> Codec:
    """The codec for ``schemas_dir`` (default: the project's schemas/avro), built once per path."""
    if schemas_dir is None:
        from hub.settings import Settings

        schemas_dir = Settings().schemas_dir
    return Codec(Path(schemas_dir))


def encode(kind_or_name: str, record: Mapping[str, Any]) -> bytes:
    """Encode with the project's current schemas (see :class:`Codec` for other directories)."""
    return load_codec().encode(kind_or_name, record)


def decode(data: bytes) -> tuple[str, dict[str, Any]]:
    """Decode with the project's schemas and their history."""
    return load_codec().decode(data)


def event_fields(codec: Codec) -> dict[str, frozenset[str]]:
    """Field names of each source event kind, for checking rule files against the contracts."""
    from hub.model.events import SOURCE_KINDS

    return {
        kind: frozenset(f["name"] for f in codec.schema(kind)["fields"]) for kind in SOURCE_KINDS
    }


def rule_contracts(codec: Codec) -> tuple[dict[str, frozenset[str]], dict[str, dict[str, EnumType]],
                                          dict[str, dict[str, FieldType]]]:
    """What ``hub.core.rule_loading.load_rules`` checks a rule pack against, from the contracts:
    ``load_rules(directory, *rule_contracts(codec))``."""
    return event_fields(codec), event_enums(codec), event_types(codec)


def event_types(codec: Codec) -> dict[str, dict[str, FieldType]]:
    """The plain fields of each source kind (kind -> field -> its Avro primitive types and, for
    a number ingest checks, its range), for checking the values rule filters compare them with
    (``severity: {eq: "4"}``, ``similarity: {gte: 90}``). Enum, record and array fields are left
    out: enums are checked by their symbols (``event_enums``)."""
    from hub.core.rules import FieldType as Field
    from hub.model.events import SOURCE_KINDS

    primitives = {"int", "long", "float", "double", "string", "boolean", "null"}
    out: dict[str, dict[str, FieldType]] = {}
    for kind in SOURCE_KINDS:
        out[kind] = {}
        for fld in codec.schema(kind)["fields"]:
            branches = fld["type"] if isinstance(fld["type"], list) else [fld["type"]]
            names = {b if isinstance(b, str) else b.get("type") for b in branches}
            if names <= primitives:
                low, high = FIELD_RANGES.get(fld["name"], (None, None))
                out[kind][fld["name"]] = Field(frozenset(str(n) for n in names), low, high)
    return out


def event_enums(codec: Codec) -> dict[str, dict[str, EnumType]]:
    """The enum-typed fields of each source event kind (kind -> field -> its Avro enum), for
    checking the values rule filters name against the contracts (``result: FORCED_OPENED``)."""
    from hub.core.rules import EnumType
    from hub.model.events import SOURCE_KINDS

    out: dict[str, dict[str, EnumType]] = {}
    for kind in SOURCE_KINDS:
        out[kind] = {}
        for fld in codec.schema(kind)["fields"]:
            branches = fld["type"] if isinstance(fld["type"], list) else [fld["type"]]
            enums = [b for b in branches if isinstance(b, dict) and b.get("type") == "enum"]
            if len(enums) == 1:
                out[kind][fld["name"]] = EnumType(
                    name=str(enums[0]["name"]).rsplit(".", 1)[-1],
                    symbols=tuple(enums[0]["symbols"]),
                    nullable="null" in branches,
                )
    return out
