"""An error about a personal field never repeats its value: errors reach hub.deadletter's
``detail`` (which is not sealed) and the gateway's 400 answers. An outside probe found a card
number sent as a list, or as a float, quoted back in clear on the dead-letter topic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.codec import load_codec, parse_object
from hub.codec.interchange import pii_fields
from hub.core.pseudonym import RAW_ALIASES
from hub.model.errors import RecordError
from hub.model.events import SOURCE_KINDS

CODEC = load_codec()
SAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "avro" / "samples"
RAW = "6222025555555555555"
SHAPES: list[Any] = [[RAW], {"no": RAW}, float(RAW), [{"deep": [RAW]}]]


def personal_names() -> list[tuple[str, str]]:
    out = []
    for kind in SOURCE_KINDS:
        personal = pii_fields(CODEC.schema(kind))
        out += [(kind, name) for name in sorted(personal)]
        out += [(kind, alias) for alias, target in sorted(RAW_ALIASES.items())
                if target in personal]
    return out


def sample(kind: str) -> dict[str, Any]:
    line = (SAMPLES / f"{kind}.jsonl").read_text(encoding="utf-8").splitlines()[0]
    record: dict[str, Any] = json.loads(line)
    return record


@pytest.mark.parametrize(("kind", "name"), personal_names())
@pytest.mark.parametrize("shape", SHAPES, ids=["list", "object", "float", "nested"])
def test_a_bad_personal_value_is_refused_without_being_repeated(kind: str, name: str,
                                                                shape: Any) -> None:
    record = sample(kind)
    for other in [n for n, t in RAW_ALIASES.items() if t == RAW_ALIASES.get(name, name)]:
        record.pop(other, None)
    record.pop(RAW_ALIASES.get(name, name), None)
    record[name] = shape
    with pytest.raises(RecordError) as caught:
        parse_object(record, pseudonym_key="k", codec=CODEC)
    said = f"{caught.value} {caught.value.detail} {caught.value.field}"
    assert RAW[:10] not in said and "6.222" not in said, said
    assert caught.value.field


@pytest.mark.parametrize("kind", ["grid_report", "perimeter_alarm"])
def test_free_text_of_the_wrong_type_is_not_repeated_either(kind: str) -> None:
    record = {**sample(kind), "description": [RAW]}
    with pytest.raises(RecordError) as caught:
        parse_object(record, pseudonym_key="k", codec=CODEC)
    assert caught.value.field == "description" and RAW not in str(caught.value)
    assert caught.value.detail.startswith("expected text, got a list")


def test_every_source_kind_has_a_personal_field_checked_here() -> None:
    assert {kind for kind, _ in personal_names()} >= {"access_swipe", "face_match",
                                                      "building_lookup", "grid_report"}
