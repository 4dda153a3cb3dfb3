"""Loading the Avro contracts from ``schemas/avro``: one ``.avsc`` file per named type.

A type refers to others by full name (``"hub.AlarmType"``); :func:`expand` inlines each referenced
definition at its first use, so every wire schema is self-contained, as the single-object
encoding's fingerprint requires. Released versions of each wire schema are kept, self-contained, in
``schemas/avro/history/<Name>/v<N>.avsc``; the decoder knows their fingerprints so data written by
any released producer stays readable. ``python -m hub.codec.freeze`` records the current
schemas as a new version when they changed (the contract tests then check compatibility).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastavro.schema import to_parsing_canonical_form

from hub.model.errors import ConfigError
from hub.model.events import RECORD_NAMES

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
#: Record names that travel on topics (one per interchange kind, plus the dead letter).
WIRE_RECORDS: tuple[str, ...] = tuple(RECORD_NAMES.values())
DEFAULT_NAMESPACE = "hub"
_VERSION_RE = re.compile(r"^v(\d+)\.avsc$")

Schema = Any  # a JSON schema: str, list or dict


def fullname(name: str, namespace: str | None) -> str:
    """The Avro full name of ``name`` in ``namespace``; names already dotted are full."""
    return name if "." in name or not namespace else f"{namespace}.{name}"


def load_named_types(schemas_dir: Path) -> dict[str, dict[str, Any]]:
    """Read every ``*.avsc`` directly in ``schemas_dir``: full name -> definition (JSON)."""
    if not schemas_dir.is_dir():
        raise ConfigError(f"{schemas_dir}: schema directory not found (set HUB_SCHEMAS_DIR)")
    types: dict[str, dict[str, Any]] = {}
    for path in sorted(schemas_dir.glob("*.avsc")):
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: not a readable JSON schema: {exc}") from exc
        if not isinstance(schema, dict) or "name" not in schema:
            raise ConfigError(f"{path}: must hold one named type (record, enum or fixed)")
        name = fullname(schema["name"], schema.get("namespace", DEFAULT_NAMESPACE))
        if path.stem != schema["name"].rsplit(".", 1)[-1]:
            raise ConfigError(f"{path}: file name must be the type name ({schema['name']}.avsc)")
        types[name] = schema
    return types


def expand(name: str, types: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The self-contained schema of ``name``: references inlined at first use, by name after."""
    defined: set[str] = set()

    def walk(node: Schema, namespace: str) -> Schema:
        if isinstance(node, str):
            if node in PRIMITIVES:
                return node
            full = fullname(node, namespace)
            if full in defined:
                return full
            if full not in types:
                raise ConfigError(f"type {full!r} is referenced but no {node}.avsc defines it")
            return walk(copy.deepcopy(dict(types[full])), namespace)
        if isinstance(node, list):
            return [walk(branch, namespace) for branch in node]
        if not isinstance(node, dict):
            raise ConfigError(f"unexpected schema node {node!r}")
        out = dict(node)
        kind = out.get("type")
        if kind in ("record", "error", "enum", "fixed"):
            ns = out.get("namespace", namespace)
            full = fullname(out["name"], ns)
            out["namespace"] = full.rsplit(".", 1)[0] if "." in full else ns
            out["name"] = full.rsplit(".", 1)[-1]
            defined.add(full)
            if kind in ("record", "error"):
                inner = out["namespace"]
                out["fields"] = [{**fld, "type": walk(fld["type"], inner)} for fld in out["fields"]]
            return out
        if kind == "array":
            out["items"] = walk(out["items"], namespace)
        elif kind == "map":
            out["values"] = walk(out["values"], namespace)
        elif isinstance(kind, (dict, list)) or (isinstance(kind, str) and kind not in PRIMITIVES):
            return walk(kind, namespace)
        return out

    if name not in types:
        raise ConfigError(f"no schema named {name!r}")
    result = walk(name, DEFAULT_NAMESPACE)
    assert isinstance(result, dict)
    return result


def canonical_form(schema: Schema) -> str:
    """The Avro Parsing Canonical Form of a self-contained schema."""
    return str(to_parsing_canonical_form(schema))


_CRC64_EMPTY = 0xC15D213AA4D7A795


def _crc64_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_CRC64_EMPTY & -(fp & 1))
        table.append(fp)
    return tuple(table)


_CRC64_TABLE = _crc64_table()


def crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO (the Rabin fingerprint of the Avro specification)."""
    fp = _CRC64_EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _CRC64_TABLE[(fp ^ byte) & 0xFF]
    return fp


def fingerprint(schema: Schema) -> bytes:
    """8-byte little-endian CRC-64-AVRO fingerprint of the schema's canonical form."""
    return crc64_avro(canonical_form(schema).encode("utf-8")).to_bytes(8, "little")


def strip_logical_types(schema: Schema) -> Schema:
    """Copy without ``logicalType``: the hub keeps times as int milliseconds, never datetimes.

    Logical types are not part of the canonical form, so fingerprints do not change.
    """
    if isinstance(schema, list):
        return [strip_logical_types(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if k != "logicalType"}
    if "fields" in out:
        out["fields"] = [{**f, "type": strip_logical_types(f["type"])} for f in out["fields"]]
    for key in ("items", "values", "type"):
        if key in out and isinstance(out[key], (dict, list)):
            out[key] = strip_logical_types(out[key])
    return out


@dataclass(frozen=True)
class HistoricalSchema:
    """One released schema version under ``history/``, kept so new schemas can be checked for
    compatibility with what producers already wrote."""

    name: str  # full name, e.g. hub.PerimeterAlarm
    version: int
    path: Path
    schema: dict[str, Any]


def iter_history(schemas_dir: Path) -> Iterator[HistoricalSchema]:
    """Released versions, ``history/<Name>/v<N>.avsc``, each self-contained, in version order."""
    root = schemas_dir / "history"
    if not root.is_dir():
        return
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        versions = []
        for path in folder.glob("v*.avsc"):
            match = _VERSION_RE.match(path.name)
            if match:
                versions.append((int(match.group(1)), path))
        for version, path in sorted(versions):
            try:
                schema = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{path}: not a readable JSON schema: {exc}") from exc
            name = fullname(schema["name"], schema.get("namespace", DEFAULT_NAMESPACE))
            yield HistoricalSchema(name, version, path, schema)


def freeze(schemas_dir: Path) -> list[Path]:
    """Record each wire schema whose canonical form is not yet in history as a new version."""
    types = load_named_types(schemas_dir)
    known: dict[str, list[HistoricalSchema]] = {}
    for hist in iter_history(schemas_dir):
        known.setdefault(hist.name, []).append(hist)
    written = []
    for short in WIRE_RECORDS:
        name = fullname(short, DEFAULT_NAMESPACE)
        schema = expand(name, types)
        versions = known.get(name, [])
        if any(fingerprint(h.schema) == fingerprint(schema) for h in versions):
            continue
        version = max((h.version for h in versions), default=0) + 1
        path = schemas_dir / "history" / short / f"v{version}.avsc"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
