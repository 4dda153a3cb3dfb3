"""The analytics' records (docs/analytics.md) are exactly their Avro contracts: same fields,
same order, and the samples are what the engines write."""

from __future__ import annotations

from typing import Any

import pytest

from hub.codec import load_codec, parse_line
from hub.codec.schemas import load_named_types
from hub.core.analytics import DisputeFunnel, RiskWarning, SafetyIndex
from hub.model.incidents import Route
from hub.settings import Settings

SCHEMAS = Settings().schemas_dir
CODEC = load_codec(SCHEMAS)
TYPES = load_named_types(SCHEMAS)


def _sample(kind: str) -> dict[str, Any]:
    text = (SCHEMAS / "samples" / f"{kind}.jsonl").read_text(encoding="utf-8").splitlines()[0]
    return parse_line(text, pseudonym_key="k")[1]


def _rebuild(kind: str, record: dict[str, Any]) -> Any:
    if kind == "risk_warning":
        return RiskWarning(**{**record, "baseline_counts": tuple(record["baseline_counts"]),
                              "route": Route(**record["route"])})
    return {"dispute_funnel": DisputeFunnel, "safety_index": SafetyIndex}[kind](**record)


@pytest.mark.parametrize(("kind", "name"), [("dispute_funnel", "DisputeFunnel"),
                                            ("risk_warning", "RiskWarning"),
                                            ("safety_index", "SafetyIndex")])
def test_to_record_matches_the_schema_exactly(kind: str, name: str) -> None:
    record = _sample(kind)
    value = _rebuild(kind, record)
    assert list(value.to_record()) == [f["name"] for f in TYPES[f"hub.{name}"]["fields"]]
    assert value.to_record() == record
    assert CODEC.decode(CODEC.encode(kind, value.to_record())) == (kind, record)
