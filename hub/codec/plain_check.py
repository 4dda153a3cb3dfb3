"""Per-kind checks, compiled from the schema, that a record is plainly within the input limits.

Ingest runs ``check_rules`` on every source event. Its one-pass fast path
(``hub.codec.validate._plainly_within_limits``) looks at every value's type, strips every
string and joins them all for one search for control characters: ~3.3 µs a source event, the
largest single step of the decode after Avro itself. Knowing the schema, most of that is known
in advance: which fields are strings, which are enums (a symbol from the schema is a clean
identifier), which are times and which are free text. A check compiled per kind looks only at
what can be wrong.

It is a fast path, never a second judge: it returns True only when the full checks
(``check_limits`` and the empty-id and time checks) would pass, and False whenever it is not
sure: a field missing or extra, a value of another type than the schema's, a long or blank
string, any character the search finds. ``check_rules`` then runs the full check, whose error is
the answer. tests/unit/codec/test_plain_check.py compares both over every kind's variants.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from hub.codec.limits import BAD_IN_ID, MAX_ID_CHARS, TEXT_MAX

#: ``check(record) -> True`` when the record plainly passes the limits; False: ask the full check.
PlainCheck = Callable[[Mapping[str, Any]], bool]

#: The time fields the full check bounds (hub.codec.validate.check_rules).
TIME_FIELDS = ("event_time", "updated_time", "first_event_time", "last_event_time",
               "emitted_time")
_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class _Unknown(Exception):
    """A field shape this module does not compile: no check for the kind."""


def compile_plain_check(schema: Mapping[str, Any], *, min_time: int,
                        max_time: int) -> PlainCheck | None:
    """The check for records of ``schema`` (self-contained), or None when a field has a shape
    it does not compile (an array, a map, a nested record, bytes): the generic path then."""
    try:
        return _compile(schema, min_time, max_time)
    except _Unknown:
        return None


def _compile(schema: Mapping[str, Any], min_time: int, max_time: int) -> PlainCheck:
    consts: dict[str, Any] = {"_bad": BAD_IN_ID.search, "_lo": min_time, "_hi": max_time}
    lines = ["def check(r):", "    try:"]
    ids: list[str] = []
    fields = list(schema["fields"])
    for i, field in enumerate(fields):
        name, v = field["name"], f"v{i}"
        lines.append(f"        {v} = r[{name!r}]")
        body, nullable = _branch(field["type"])
        ind = "        "
        if nullable:
            lines.append(f"{ind}if {v} is not None:")
            ind += "    "
        if body == "string" and name in TEXT_MAX:
            lines.append(f"{ind}if len({v}) > {TEXT_MAX[name]} or '\\x00' in {v}: return False")
        elif body == "string":
            lines.append(f"{ind}if not {v} or len({v}) > {MAX_ID_CHARS} or {v}.isspace(): "
                         "return False")
            ids.append(v if not nullable else f"({v} or '')")
        elif isinstance(body, frozenset):
            consts[f"_s{i}"] = body
            lines.append(f"{ind}if {v} not in _s{i}: return False")
        elif name in TIME_FIELDS and body in ("int", "long"):
            lines.append(f"{ind}if isinstance({v}, (str, list)) or "
                         f"(isinstance({v}, int) and not _lo <= {v} < _hi): return False")
        else:  # a number or a boolean: the limits have nothing to say unless it is text
            lines.append(f"{ind}if isinstance({v}, (str, list)): return False")
    if ids:
        lines.append(f"        if _bad(''.join(({', '.join(ids)},))) is not None: return False")
    lines += [f"        return len(r) == {len(fields)}",
              "    except (KeyError, TypeError, AttributeError):",
              "        return False"]
    namespace = dict(consts)
    # Generated from the hub's own schema files: names enter only as repr()'d literals, enum
    # symbols only as constants.
    exec(compile("\n".join(lines), f"<plain check {schema.get('name')}>", "exec"),  # noqa: S102
         namespace)
    check: PlainCheck = namespace["check"]
    return check


def _branch(avro_type: Any) -> tuple[Any, bool]:
    """(the shape of a field's non-null branch, whether it may be null): "string", "int", ...,
    or an enum's symbols; _Unknown for anything else."""
    nullable = False
    if isinstance(avro_type, list):
        rest = [t for t in avro_type if t != "null"]
        if len(rest) != 1:
            raise _Unknown
        nullable, avro_type = len(rest) < len(avro_type), rest[0]
    if isinstance(avro_type, dict):
        kind = avro_type.get("type")
        if kind == "enum":
            symbols = avro_type["symbols"]
            if not all(isinstance(s, str) and _SYMBOL.match(s) and len(s) <= MAX_ID_CHARS
                       for s in symbols):
                raise _Unknown
            return frozenset(symbols), nullable
        if kind in ("string", "int", "long", "float", "double", "boolean"):
            return kind, nullable  # a primitive with attributes (a logical type)
        raise _Unknown
    if avro_type in ("string", "int", "long", "float", "double", "boolean"):
        return avro_type, nullable
    raise _Unknown
