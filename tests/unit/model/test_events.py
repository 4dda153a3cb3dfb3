"""Event.from_record builds the event its constructor builds (hub.model.events._built)."""

from __future__ import annotations

import dataclasses

import pytest

from hub.model.events import Event

RECORD = {"event_id": "sw-1", "vendor": "hik", "device_id": "D-1", "site_id": "SITE-1",
          "event_time": 1_700_000_000_000, "door_id": "DOOR-1", "result": "GRANTED"}


@pytest.mark.parametrize("kind", ["access_swipe", "perimeter_alarm", "not_a_source_kind"])
@pytest.mark.parametrize("arrived", [None, 1_700_000_000_500])
def test_from_record_sets_every_field_as_the_constructor_does(kind: str,
                                                              arrived: int | None) -> None:
    built = Event.from_record(kind, RECORD, arrived=arrived)
    constructed = Event(kind=kind, event_id="sw-1", event_time=1_700_000_000_000,
                        site_id="SITE-1", fields=dict(RECORD), arrived=arrived)
    for f in dataclasses.fields(Event):  # a field added to Event and not to _built fails here
        assert getattr(built, f.name) == getattr(constructed, f.name), f.name
    assert built == constructed
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.event_time = 0  # type: ignore[misc]


def test_a_subclass_is_built_by_its_own_constructor() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Tagged(Event):
        tag: str = "t"

    event = Tagged.from_record("access_swipe", RECORD)
    assert type(event) is Tagged and event.tag == "t" and event.order_key[0] == 1_700_000_000_000
