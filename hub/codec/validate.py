"""Contract checks for records: shape against the Avro schema, then the semantic rules.

:func:`conform` walks a record against its (self-contained) schema: unknown fields, missing
required fields, types, enum symbols; with ``from_json=True`` it also converts the interchange
forms (ISO-8601 times with offset, base64 bytes) into what Avro carries. :func:`check_rules` adds
what the schema cannot say: severity 1–5, similarity 0–1, non-empty ids, sane event times.
Every error is a :class:`~hub.model.errors.ValidationError` naming the field and the fix.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.codec.limits import BAD_IN_ID, LIMITED_KINDS, MAX_ID_CHARS, check_limits
from hub.codec.plain_check import TIME_FIELDS, PlainCheck
from hub.codec.schemas import PRIMITIVES, fullname
from hub.model.errors import ValidationError, not_text, quoted
from hub.model.events import MAX_TIME_MS, MIN_TIME_MS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIME_HINT = "write ISO-8601 with an offset (2024-05-01T08:30:00+08:00) or epoch milliseconds"


def _is_time(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("logicalType") == "timestamp-millis"


def parse_time(value: Any, field: str) -> int:
    """Epoch milliseconds from an int or an ISO-8601 string with a UTC offset."""
    if isinstance(value, bool):
        raise ValidationError(f"expected a time, got {quoted(value)}; {_TIME_HINT}", field=field)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, str):
        raise ValidationError(f"expected a time, got {quoted(value)}; {_TIME_HINT}", field=field)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(
            f"{quoted(value)} is not an ISO-8601 time; {_TIME_HINT}", field=field
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValidationError(
            f"{value!r} has no UTC offset, so the instant is ambiguous; add one "
            f"(e.g. {value.strip()}+08:00 or {value.strip()}Z) or use epoch milliseconds",
            field=field,
        )
    return (parsed - _EPOCH) // timedelta(milliseconds=1)


class _Walker:
    def __init__(self, root: Mapping[str, Any], from_json: bool) -> None:
        self.from_json = from_json
        self.names: dict[str, Any] = {}
        self._collect(root, "hub")

    def _collect(self, node: Any, ns: str) -> None:
        if isinstance(node, list):
            for branch in node:
                self._collect(branch, ns)
        elif isinstance(node, dict):
            kind = node.get("type")
            if kind in ("record", "enum", "fixed"):
                ns = node.get("namespace", ns)
                self.names[fullname(node["name"], ns)] = node
                self.names.setdefault(node["name"], node)
                for fld in node.get("fields", []):
                    self._collect(fld["type"], ns)
            elif kind == "array":
                self._collect(node["items"], ns)
            elif kind == "map":
                self._collect(node["values"], ns)

    def resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema not in PRIMITIVES:
            return self.names.get(schema, schema)
        if isinstance(schema, dict) and isinstance(schema.get("type"), (str, list, dict)):
            inner = schema["type"]
            if isinstance(inner, (list, dict)) or (
                inner not in PRIMITIVES and inner not in ("record", "enum", "fixed", "array", "map")
            ):
                return self.resolve(inner)
        return schema

    def value(self, schema: Any, value: Any, path: str) -> Any:
        if _is_time(schema):
            if self.from_json:
                value = parse_time(value, path)
            return self.value(schema["type"], value, path)
        schema = self.resolve(schema)
        if isinstance(schema, list):
            return self.union(schema, value, path)
        kind = schema.get("type") if isinstance(schema, dict) else schema
        if kind == "null":
            if value is not None:
                raise ValidationError(f"expected null, got {quoted(value)}", field=path)
            return None
        if kind == "string":
            if not isinstance(value, str):
                raise ValidationError(f"expected a string, got {quoted(value)}", field=path)
            if not value.isascii():
                _check_text(value, path)
            return value
        if kind in ("int", "long"):
            if isinstance(value, float) and value.is_integer() and self.from_json:
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError(f"expected an integer, got {quoted(value)}", field=path)
            limit = 2**31 if kind == "int" else 2**63
            if not -limit <= value < limit:
                raise ValidationError(f"{quoted(value)} is out of range for {kind} "
                                      f"({-limit} to {limit - 1})", field=path)
            return value
        if kind in ("float", "double"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValidationError(f"expected a number, got {quoted(value)}", field=path)
            return float(value)
        if kind == "boolean":
            if not isinstance(value, bool):
                raise ValidationError(f"expected true or false, got {quoted(value)}", field=path)
            return value
        if kind == "bytes":
            if isinstance(value, str) and self.from_json:
                try:
                    return base64.b64decode(value, validate=True)
                except (binascii.Error, ValueError):
                    raise ValidationError("expected base64 text", field=path) from None
            if not isinstance(value, (bytes, bytearray)):
                raise ValidationError(f"expected bytes, got {quoted(value)}", field=path)
            return bytes(value)
        if kind == "enum":
            symbols = schema["symbols"]
            if value not in symbols:
                raise ValidationError(
                    f"{quoted(value)} is not one of the allowed symbols: {', '.join(symbols)}",
                    field=path,
                )
            return value
        if kind == "array":
            if not isinstance(value, (list, tuple)):
                raise ValidationError(f"expected an array, got {quoted(value)}", field=path)
            return [self.value(schema["items"], v, f"{path}[{i}]") for i, v in enumerate(value)]
        if kind == "map":
            if not isinstance(value, Mapping):
                raise ValidationError(f"expected an object, got {quoted(value)}", field=path)
            for k in value:
                if isinstance(k, str) and not k.isascii():
                    _check_text(k, f"{path} (a key)")
            return {k: self.value(schema["values"], v, f"{path}.{k}") for k, v in value.items()}
        if kind == "record":
            if not isinstance(value, Mapping):
                raise ValidationError(f"expected an object, got {quoted(value)}", field=path)
            return self.record(schema, value, path)
        raise ValidationError(f"unsupported schema type {kind!r}", field=path)

    def union(self, branches: list[Any], value: Any, path: str) -> Any:
        if value is None:
            if "null" in branches:
                return None
            raise ValidationError("must not be null", field=path)
        errors = []
        for branch in branches:
            if branch == "null":
                continue
            try:
                return self.value(branch, value, path)
            except ValidationError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        raise ValidationError(f"{quoted(value)} fits none of the allowed types", field=path)

    def record(self, schema: Mapping[str, Any], value: Mapping[str, Any], path: str) -> Any:
        fields = schema["fields"]
        names = {f["name"] for f in fields}
        prefix = f"{path}." if path else ""
        for key in value:
            if key not in names:
                raise ValidationError(
                    f"unknown field of {schema['name']}; allowed fields: "
                    f"{', '.join(f['name'] for f in fields)}",
                    field=f"{prefix}{key}",
                )
        out = {}
        for fld in fields:
            name = fld["name"]
            if name in value:
                # free text ("scrubbed") was scrubbed if it is text: its errors may quote it
                if "pii" in fld and (fld["pii"] != "scrubbed" or type(value[name]) is not str):
                    out[name] = self._personal(fld, value[name], f"{prefix}{name}")
                else:
                    out[name] = self.value(fld["type"], value[name], f"{prefix}{name}")
            elif "default" in fld:
                out[name] = _copy_default(fld["default"])
            elif isinstance(fld["type"], list) and "null" in fld["type"]:
                out[name] = None
            else:
                raise ValidationError(
                    f'required field missing: add "{name}" ({fld.get("doc", "").strip()})',
                    field=f"{prefix}{name}",
                )
        return out


    def _personal(self, fld: Mapping[str, Any], value: Any, path: str) -> Any:
        """A personal field's value; an error never repeats it (a card number sent as a list or
        a float is still a card number, and errors reach dead letters and HTTP answers)."""
        try:
            return self.value(fld["type"], value, path)
        except ValidationError:
            wanted = ("text" if fld.get("pii") == "scrubbed" else
                      "the raw value as text (hashed here) or a p1: pseudonym")
            raise ValidationError(
                f"expected {wanted}, got a {type(value).__name__} (not repeated here: it may be "
                "personal data)", field=path) from None


def _copy_default(value: Any) -> Any:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def conform(
    schema: Mapping[str, Any], record: Mapping[str, Any], *, from_json: bool = False
) -> dict[str, Any]:
    """Check ``record`` against ``schema``; return it with defaults filled in (a new dict).

    Optional (nullable) fields may be left out and become null. With ``from_json`` the
    interchange forms are accepted: times as ISO-8601 with offset, bytes as base64 text.
    """
    walker = _Walker(schema, from_json)
    result = walker.record(schema, record, "")
    assert isinstance(result, dict)
    return result


def _time_ok(value: int, field: str) -> None:
    if MIN_TIME_MS <= value < MAX_TIME_MS:
        return
    if MIN_TIME_MS // 1000 <= value < MAX_TIME_MS // 1000:
        raise ValidationError(
            f"{value} looks like epoch seconds; times are epoch milliseconds (multiply by 1000) "
            "or ISO-8601 with offset",
            field=field,
        )
    raise ValidationError(
        f"{value} is not a plausible time (must be between 2000-01-01 and 2100-01-01 UTC, in "
        "epoch milliseconds)",
        field=field,
    )


_ID_SUFFIXES = ("_id", "_hash", "_code")
_NOT_EMPTY = ("vendor", "rule_id", "key")


def _check_text(value: str, path: str) -> None:
    why = not_text(value)
    if why is not None:
        raise ValidationError(why, field=path)


def check_rules(kind: str, record: Mapping[str, Any], plain: PlainCheck | None = None) -> None:
    """The semantic rules of the contract, for any kind (records already conform to the schema).

    Ingest checks every source event: a record whose strings are all short, non-blank and clean
    and whose times are plausible (nearly every one) is let through after one pass (``plain``,
    the kind's check compiled from its schema, hub.codec.plain_check; else a generic pass); any
    doubt and the full check below runs, so the error raised is always the full check's.
    """
    if not (plain(record) if plain is not None else _plainly_within_limits(kind, record)):
        check_limits(kind, record)
        _check_ids_and_times(record)
    _check_ranges(kind, record)


def _plainly_within_limits(kind: str, record: Mapping[str, Any]) -> bool:
    """True only when check_limits, the empty-id and the time checks would all pass."""
    if kind not in LIMITED_KINDS:
        return False
    strings = []
    for value in record.values():
        kind_of_value = type(value)
        if kind_of_value is str:
            if len(value) > MAX_ID_CHARS or not value.strip():
                return False
            strings.append(value)
        elif isinstance(value, (str, list)):  # a list, or a subclass: let the full check judge
            return False
    if BAD_IN_ID.search("".join(strings)) is not None:
        return False
    for name in TIME_FIELDS:
        value = record.get(name)
        if isinstance(value, int) and not MIN_TIME_MS <= value < MAX_TIME_MS:
            return False
    return True


def _check_ids_and_times(record: Mapping[str, Any]) -> None:
    for name, value in record.items():
        if isinstance(value, str) and not value.strip():
            if name.endswith(_ID_SUFFIXES) or name in _NOT_EMPTY:
                raise ValidationError("must not be empty", field=name)
    for name in TIME_FIELDS:
        if isinstance(record.get(name), int):
            _time_ok(record[name], name)


#: The ranges ``_check_ranges`` enforces, for the rule checks (a filter outside never holds).
FIELD_RANGES: dict[str, tuple[float, float]] = {"severity": (1, 5), "similarity": (0.0, 1.0)}


def _check_ranges(kind: str, record: Mapping[str, Any]) -> None:
    severity = record.get("severity")
    low, high = FIELD_RANGES["severity"]
    if severity is not None and not (isinstance(severity, int) and low <= severity <= high):
        raise ValidationError(
            f"{severity!r} is out of range: severity is an integer from 1 (lowest) to 5",
            field="severity",
        )
    similarity = record.get("similarity")
    low, high = FIELD_RANGES["similarity"]
    if similarity is not None and not (
        isinstance(similarity, (int, float)) and math.isfinite(similarity)
        and low <= similarity <= high
    ):
        raise ValidationError(
            f"{similarity!r} is out of range: similarity is a number from 0.0 to 1.0 "
            "(divide percentages by 100)",
            field="similarity",
        )
    for name in ("households", "rental_units"):
        count = record.get(name)
        if isinstance(count, int) and count < 0:
            raise ValidationError(f"{count} is negative; counts are >= 0", field=name)
    if kind == "incident":
        if record.get("version", 1) < 1:
            raise ValidationError("versions start at 1", field="version")
        first, last = record.get("first_event_time"), record.get("last_event_time")
        if isinstance(first, int) and isinstance(last, int) and first > last:
            raise ValidationError("is after last_event_time", field="first_event_time")


def validate_record(
    kind: str, schema: Mapping[str, Any], record: Mapping[str, Any]
) -> dict[str, Any]:
    """Shape and rules for a decoded record (e.g. from Avro); returns the conformed copy."""
    result = conform(schema, record)
    check_rules(kind, result)
    return result
