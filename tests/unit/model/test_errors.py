"""hub/model/errors.py: what an error quotes of the sender's input stays a line long."""

from __future__ import annotations

from typing import Any

import pytest

from hub.model.errors import QUOTE_LIMIT, RecordError, quoted


@pytest.mark.parametrize(("value", "tail"), [
    ("x" * 100_000, "... (100,000 characters)"),
    (b"y" * 5_000, "... (5,000 bytes)"),
    (list(range(10_000)), "..."),
])
def test_a_long_value_is_quoted_cut_with_its_size(value: Any, tail: str) -> None:
    text = quoted(value)
    assert text.endswith(tail) and text.startswith(repr(value)[:20])
    assert len(text) <= QUOTE_LIMIT + len(tail)


@pytest.mark.parametrize("value", ["short", 12, None, ["a"], "汉字"])
def test_a_short_value_is_its_repr(value: Any) -> None:
    assert quoted(value) == repr(value)


def test_a_huge_field_name_is_cut_in_the_error() -> None:
    err = RecordError("unknown field", field="k" * 50_000)
    assert err.field is not None and len(err.field) < 200 and "50,000 characters" in err.field
