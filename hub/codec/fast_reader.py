"""Straight-line Python readers for Avro bodies, compiled once per writer schema.

fastavro's reader is generic: for every field of every record it looks the field's type up and
dispatches on it. In the worker that was ~7 µs of a source event's ~95 µs of CPU (py-spy: 8.6 %
of its samples on the line calling fastavro), more than any other single step. A reader generated
from the schema knows each field's type in advance and decodes a source event in ~3 µs. It also
shares each short string as it reads it (sys.intern, as hub.model.events.shared_strings does):
events built from its records need no second pass for that.

It is a fast path only, never a second judge of what is valid: a reader returns None for
anything it is not sure of (a multi-byte length it does not expect, an index out of range,
bytes left over or missing, text that is not UTF-8, ...) and the codec asks fastavro, whose
record or error is then the answer. So a record decoded here is the record fastavro would have
decoded (tests/unit/codec/test_fast_reader.py compares both over every schema and over damaged
bytes). Only a writer schema read as itself is compiled; resolving an older writer to the
current reader stays with fastavro.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable, Mapping
from typing import Any

#: ``reader(data, start) -> record`` for the Avro body from ``start`` to the end of ``data``, or
#: None: ask fastavro.
Reader = Callable[[bytes, int], "dict[str, Any] | None"]

_UNPACK_DOUBLE = struct.Struct("<d").unpack_from
_UNPACK_FLOAT = struct.Struct("<f").unpack_from
_ULONG_LIMIT = 1 << 64


class _NotSure(Exception):
    """Raised inside a reader: fall back to fastavro."""


def _long(b: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag varint at ``pos``: (value, position after it); as fastavro reads a long."""
    n = b[pos]
    pos += 1
    if n < 0x80:
        return (n >> 1) ^ -(n & 1), pos
    result = n & 0x7F
    shift = 7
    while True:
        n = b[pos]
        pos += 1
        result |= (n & 0x7F) << shift
        if n < 0x80:
            break
        shift += 7
        if shift > 63:
            raise _NotSure
    if result >= _ULONG_LIMIT:
        raise _NotSure
    return (result >> 1) ^ -(result & 1), pos


def _size(b: bytes, pos: int) -> tuple[int, int]:
    """A length or count that must not be negative."""
    n, pos = _long(b, pos)
    if n < 0:
        raise _NotSure
    return n, pos


def _bytes(b: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = _size(b, pos)
    end = pos + n
    if end > len(b):
        raise _NotSure
    return b[pos:end], end


def _text(b: bytes, pos: int) -> tuple[str, int]:
    raw, end = _bytes(b, pos)
    return raw.decode(), end


def _blocks(b: bytes, pos: int, item: Callable[[bytes, int], tuple[Any, int]]
            ) -> tuple[list[Any], int]:
    """Items of an array (or map entries): blocks of a count, the last one 0."""
    out: list[Any] = []
    while True:
        count, pos = _long(b, pos)
        if count == 0:
            return out, pos
        if count < 0:  # a negative count is followed by the block's size in bytes
            count = -count
            _, pos = _size(b, pos)
        if count > len(b) - pos:  # more items than bytes left: hostile, or items of no size
            raise _NotSure
        for _ in range(count):
            value, pos = item(b, pos)
            out.append(value)


class _Compiler:
    """Python source for one schema's readers; ``compile`` executes it once."""

    def __init__(self, named: Mapping[str, Any]) -> None:
        self.named = named
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {"_long": _long, "_size": _size, "_text": _text,
                                       "_bytes": _bytes, "_blocks": _blocks,
                                       "_NotSure": _NotSure, "_double": _UNPACK_DOUBLE,
                                       "_float": _UNPACK_FLOAT, "_share": sys.intern}
        self.functions: dict[str, str] = {}  # a type's key -> the reader function's name
        self.items = 0

    def const(self, value: Any) -> str:
        name = f"_c{len(self.consts)}"
        self.consts[name] = value
        return name

    def resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema in self.named:
            return self.named[schema]
        if isinstance(schema, dict) and len(schema) == 1:  # {"type": <a named type>}
            name = schema.get("type")
            if isinstance(name, str) and name in self.named:
                return self.named[name]
        return schema

    def inline(self, schema: Any, target: str, ind: str) -> list[str]:
        """Lines that read one value of ``schema`` into ``target``, advancing ``pos``."""
        schema = self.resolve(schema)
        kind = schema.get("type") if isinstance(schema, dict) else schema
        if isinstance(schema, dict) and kind in ("string", "bytes", "int", "long", "float",
                                                 "double", "boolean", "null"):
            return self.inline(kind, target, ind)  # a primitive with attributes
        if kind == "string":
            return [f"{ind}n = b[pos]",
                    f"{ind}if n & 0x81:",  # multi-byte or negative: the careful way
                    f"{ind}    {target}, pos = _text(b, pos)",
                    f"{ind}else:",
                    f"{ind}    pos += 1",
                    f"{ind}    end = pos + (n >> 1)",
                    f"{ind}    {target} = _share(b[pos:end].decode())",
                    f"{ind}    pos = end"]
        if kind in ("int", "long"):
            return [f"{ind}n = b[pos]",
                    f"{ind}if n & 0x80:",
                    f"{ind}    {target}, pos = _long(b, pos)",
                    f"{ind}else:",
                    f"{ind}    pos += 1",
                    f"{ind}    {target} = (n >> 1) ^ -(n & 1)"]
        if kind == "null":
            return [f"{ind}{target} = None"]
        if kind == "boolean":
            return [f"{ind}n = b[pos]",
                    f"{ind}if n > 1:",
                    f"{ind}    raise _NotSure",
                    f"{ind}pos += 1",
                    f"{ind}{target} = n == 1"]
        if kind == "double":
            return [f"{ind}{target}, = _double(b, pos)", f"{ind}pos += 8"]
        if kind == "float":
            return [f"{ind}{target}, = _float(b, pos)", f"{ind}pos += 4"]
        if kind == "bytes":
            return [f"{ind}{target}, pos = _bytes(b, pos)"]
        if kind == "enum":
            symbols = self.const(tuple(schema["symbols"]))
            return [f"{ind}n = b[pos]",
                    f"{ind}if n & 0x81:",  # negative or multi-byte; too high: IndexError
                    f"{ind}    raise _NotSure",
                    f"{ind}pos += 1",
                    f"{ind}{target} = {symbols}[n >> 1]"]
        if kind == "fixed":
            size = int(schema["size"])
            return [f"{ind}end = pos + {size}",
                    f"{ind}if end > len(b):",
                    f"{ind}    raise _NotSure",
                    f"{ind}{target} = b[pos:end]",
                    f"{ind}pos = end"]
        if isinstance(schema, list):
            lines = [f"{ind}n = b[pos]",
                     f"{ind}pos += 1"]
            for i, branch in enumerate(schema):
                lines.append(f"{ind}{'if' if i == 0 else 'elif'} n == {2 * i}:")
                lines.extend(self.inline(branch, target, ind + "    "))
            lines.append(f"{ind}else:")
            lines.append(f"{ind}    raise _NotSure")
            return lines
        if kind in ("record", "error", "array", "map"):
            return [f"{ind}{target}, pos = {self.function(schema)}(b, pos)"]
        raise _NotSure  # a type this compiler does not know: no reader at all

    def function(self, schema: Mapping[str, Any]) -> str:
        """The name of a function ``(b, pos) -> (value, pos)`` for a record, array or map."""
        key = str(schema.get("name") or id(schema))
        if key in self.functions:
            return self.functions[key]
        name = f"_f{len(self.functions)}"
        self.functions[key] = name
        kind = schema["type"]
        body: list[str] = [f"def {name}(b, pos):"]
        if kind in ("record", "error"):
            fields = [(f["name"], f"v{i}") for i, f in enumerate(schema["fields"])]
            for (_, var), fld in zip(fields, schema["fields"], strict=True):
                body.extend(self.inline(fld["type"], var, "    "))
            pairs = ", ".join(f"{field!r}: {var}" for field, var in fields)
            body.append(f"    return {{{pairs}}}, pos")
        elif kind == "array":
            item = self.item_function(schema["items"])
            body.append(f"    return _blocks(b, pos, {item})")
        else:  # map: entries of a string key and a value
            value = self.item_function(schema["values"])
            body += ["    def entry(b, pos):",
                     "        k, pos = _text(b, pos)",
                     f"        v, pos = {value}(b, pos)",
                     "        return (k, v), pos",
                     "    entries, pos = _blocks(b, pos, entry)",
                     "    return dict(entries), pos"]
        self.lines.extend(body)
        return name

    def item_function(self, schema: Any) -> str:
        """A function ``(b, pos) -> (value, pos)`` for any schema (items, map values)."""
        self.items += 1
        name = f"_i{self.items}"
        body = [f"def {name}(b, pos):", *self.inline(schema, "v", "    "), "    return v, pos"]
        self.lines.extend(body)
        return name

    def compile(self, schema: Mapping[str, Any]) -> Reader:
        top = self.function(schema)
        self.lines += ["def read(b, pos):",
                       "    try:",
                       f"        record, pos = {top}(b, pos)",
                       "    except (_NotSure, IndexError, UnicodeDecodeError, struct_error,",
                       "            RecursionError):",
                       "        return None",
                       "    return record if pos == len(b) else None"]
        namespace = dict(self.consts, struct_error=struct.error)
        # Generated from the hub's own schema files; a field name enters only as a repr()'d
        # literal, symbols only as constants: no text of the schema runs as code.
        source = "\n".join(self.lines)
        exec(compile(source, f"<avro reader {schema.get('name')}>", "exec"), namespace)  # noqa: S102
        reader: Reader = namespace["read"]
        return reader


def compile_reader(parsed: Mapping[str, Any]) -> Reader | None:
    """A reader for bodies written with ``parsed`` (fastavro's parsed schema) and read as
    themselves, or None when the schema uses something this module does not compile."""
    try:
        return _Compiler(parsed.get("__named_schemas", {})).compile(parsed)
    except _NotSure:
        return None
