"""Shared checks for the connector mapping tests: the project's own validator is the judge."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from connectors.common import Mapped
from hub.codec.avro import Codec, load_codec
from hub.codec.interchange import parse_object
from hub.core.pseudonym import is_pseudonym

KEY = "test-pseudonym-key"
CONNECTORS = Path(__file__).resolve().parents[3] / "connectors"


@cache
def codec() -> Codec:
    return load_codec()


def fixture(vendor: str, name: str) -> bytes:
    return (CONNECTORS / vendor / "fixtures" / name).read_bytes()


def assert_valid(mapped: Mapped) -> None:
    """The record is a valid record of its kind, exactly as mapped (hub produce's validation:
    parse_object), and the Avro codec encodes and decodes it unchanged."""
    kind, record = parse_object(mapped.line(), pseudonym_key=KEY, codec=codec(),
                                accept=[mapped.kind])
    assert kind == mapped.kind
    assert record == mapped.record, "validation changed the record: the mapping is not final"
    assert codec().decode(codec().encode(kind, record)) == (kind, record)
    for name in ("credential_hash", "person_hash"):
        if record.get(name) is not None:
            assert is_pseudonym(record[name])


def assert_no_raw(outputs: Iterable[Mapped], raw_values: Iterable[str]) -> None:
    """No raw personal value appears anywhere in the mapped output (its JSON, and its repr)."""
    texts = [json.dumps(m.line(), ensure_ascii=False) + repr(m) for m in outputs]
    assert texts
    for raw in raw_values:
        for text in texts:
            assert raw not in text, f"raw value {raw!r} leaked into {text}"
