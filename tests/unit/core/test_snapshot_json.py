"""compact_json: the one JSON writer of the engine's state and the worker's frames."""

from __future__ import annotations

import json

import pytest

from hub.core.snapshot import compact_json, event_json
from hub.model.events import Event


def test_compact_text_reads_back_as_the_same_value() -> None:
    value = {"k": ["翠苑4幢", 1740953324896, 0.75, None, True], "é": {"nested": []}}
    text = compact_json(value)
    assert " " not in text
    assert json.loads(text) == value


def test_what_json_cannot_carry_exactly_is_refused() -> None:
    with pytest.raises(TypeError):
        compact_json({1: "a key that is not a string"})
    with pytest.raises(TypeError):
        compact_json([2**70])


def test_an_events_json_is_its_kind_and_fields_and_is_made_once() -> None:
    event = Event.from_record("access_swipe", {
        "event_id": "e1", "vendor": "v", "device_id": "d", "site_id": "S1",
        "event_time": 1_740_953_324_896, "door_id": "门1"})
    text = event_json(event)
    assert json.loads(text) == ["access_swipe", dict(event.fields)]
    assert event_json(event) is text
