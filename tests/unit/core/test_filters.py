"""``where:`` filters: every operator, on present, missing and wrongly typed fields."""

from __future__ import annotations

from typing import Any

import pytest

from hub.core.filters import OPERATORS, compile_where

F: dict[str, Any] = {
    "result": "DENIED",
    "similarity": 0.9,
    "severity": 3,
    "flag": True,
    "note": None,
}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"result": "DENIED"}, True),  # plain value = equals
        ({"result": "GRANTED"}, False),
        ({"missing": "x"}, False),
        ({"result": {"eq": "DENIED"}}, True),
        ({"result": {"eq": "denied"}}, False),  # case matters
        ({"result": {"ne": "GRANTED"}}, True),
        ({"result": {"ne": "DENIED"}}, False),
        ({"missing": {"ne": "x"}}, True),
        ({"result": {"in": ["DENIED", "FORCED_OPEN"]}}, True),
        ({"result": {"in": ["GRANTED"]}}, False),
        ({"missing": {"in": ["x"]}}, False),
        ({"result": {"not_in": ["GRANTED"]}}, True),
        ({"result": {"not_in": ["DENIED", "GRANTED"]}}, False),
        ({"similarity": {"gt": 0.89}}, True),
        ({"similarity": {"gt": 0.9}}, False),
        ({"similarity": {"gte": 0.9}}, True),
        ({"similarity": {"gte": 0.90001}}, False),
        ({"severity": {"lt": 4}}, True),
        ({"severity": {"lt": 3}}, False),
        ({"severity": {"lte": 3}}, True),
        ({"severity": {"lte": 2}}, False),
        ({"result": {"gt": 1}}, False),  # comparisons never hold for non-numbers
        ({"flag": {"gt": 0}}, False),  # ... nor for booleans
        ({"missing": {"lte": 10}}, False),
        ({"note": {"lt": 10}}, False),
        ({"result": {"exists": True}}, True),
        ({"note": {"exists": True}}, False),  # null counts as absent
        ({"missing": {"exists": False}}, True),
        ({"result": {"exists": False}}, False),
        ({"result": "DENIED", "severity": {"gte": 3}}, True),  # all clauses must hold
        ({"result": "DENIED", "severity": {"gte": 4}}, False),
        ({}, True),
        (None, True),
    ],
)
def test_operator(where: dict[str, Any] | None, expected: bool) -> None:
    assert compile_where(where)(F) is expected


def test_every_operator_is_covered_above() -> None:
    assert set(OPERATORS) == {"in", "not_in", "eq", "ne", "gt", "gte", "lt", "lte", "exists"}


@pytest.mark.parametrize(
    ("where", "words"),
    [
        ({"result": {"like": "D"}}, "unknown operator 'like'"),
        ({"result": {"in": "DENIED"}}, "non-empty list"),
        ({"result": {"not_in": []}}, "non-empty list"),
        ({"severity": {"gt": "3"}}, "takes a finite number"),
        ({"severity": {"gt": True}}, "takes a finite number"),
        ({"similarity": {"gte": float("nan")}}, "takes a finite number"),
        ({"similarity": {"exists": "no"}}, "exists takes true or false"),
        ({"similarity": {"exists": 0}}, "exists takes true or false"),
        ({"similarity": {"eq": [0.9]}}, "eq takes one value"),
        ({"similarity": {"ne": {"a": 1}}}, "ne takes one value"),
        ({"severity": [3, 4]}, "a plain value takes one value"),
        ({"severity": {"in": [3, [4]]}}, "each value of in takes one value"),
        ({"severity": float("inf")}, "a plain value takes a finite value"),
        ({"severity": {"gt": 1, "lt": 5}}, "exactly one operator"),
        ({"severity": {}}, "exactly one operator"),
    ],
)
def test_bad_filters_say_what_is_wrong(where: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        compile_where(where)


def test_where_must_be_a_mapping() -> None:
    with pytest.raises(ValueError, match="mapping"):
        compile_where(["result", "DENIED"])  # type: ignore[arg-type]
