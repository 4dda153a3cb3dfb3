"""Dahua event-manager lines -> perimeter_alarm, with Start/Stop pairing."""

from __future__ import annotations

import pytest

from connectors.common import Mapped, MappingError, Site
from connectors.dahua.mapping import (
    DahuaEvent,
    OpenEvents,
    map_event,
    map_stream,
    pair,
    parse_event,
)

from .support import assert_valid, fixture

SITE = Site("S-3301-0001")
DEVICE = "dh-ipc-0031"
RECEIVED = 1714574500000


def stream(name: str, open_events: OpenEvents = frozenset(),
           ) -> tuple[list[Mapped | MappingError], OpenEvents]:
    return map_stream(fixture("dahua", name).decode(), device_id=DEVICE, site=SITE,
                      open_events=open_events, received_ms=RECEIVED)


def records(name: str) -> list[Mapped]:
    outcomes, _ = stream(name)
    out = [o for o in outcomes if isinstance(o, Mapped)]
    assert len(out) == len(outcomes)
    for m in out:
        assert_valid(m)
    return out


def test_stream_fixture_exact_records() -> None:
    out = records("stream.txt")
    assert [m.record for m in out] == [
        {"event_id": "dh-3d79bbd8fd6f10c2c30c", "vendor": "dahua", "device_id": DEVICE,
         "site_id": "S-3301-0001", "event_time": 1714574412701,
         "zone_id": f"{DEVICE}:0:CrossLineDetection:NorthWall", "building_id": None,
         "alarm_type": "LINE_CROSSING", "severity": 3,
         "description": "CrossLineDetection NorthWall (LeftToRight)"},
        {"event_id": "dh-78261152dc626c61ce61", "vendor": "dahua", "device_id": DEVICE,
         "site_id": "S-3301-0001", "event_time": 1714574465000,
         "zone_id": f"{DEVICE}:1:CrossRegionDetection:Pool Entry", "building_id": None,
         "alarm_type": "INTRUSION", "severity": 4,
         "description": "CrossRegionDetection Pool Entry"},
        {"event_id": "dh-9f786eb6fa45b2146b57", "vendor": "dahua", "device_id": DEVICE,
         "site_id": "S-3301-0001", "event_time": RECEIVED,
         "zone_id": f"{DEVICE}:2:VideoMotion", "building_id": None,
         "alarm_type": "UNKNOWN", "severity": 2, "description": "VideoMotion"},
        {"event_id": "dh-4ff03a178612b127dad9", "vendor": "dahua", "device_id": DEVICE,
         "site_id": "S-3301-0001", "event_time": 1714574530000,
         "zone_id": f"{DEVICE}:3:CrossFenceDetection:EastFence", "building_id": None,
         "alarm_type": "CLIMB", "severity": 4, "description": "CrossFenceDetection EastFence"},
    ]


def test_start_and_stop_are_one_event_and_state_closes() -> None:
    outcomes, state = stream("stream.txt")
    codes = [o.record["zone_id"].split(":")[2] for o in outcomes if isinstance(o, Mapped)]
    assert codes.count("CrossLineDetection") == 1  # Start, repeated Start, Stop -> one record
    assert state == frozenset()  # every Start was closed by its Stop


def test_pairing_is_pure_and_keyed_by_device_code_and_index() -> None:
    start = DahuaEvent("CrossLineDetection", "Start", 0)
    stop = DahuaEvent("CrossLineDetection", "Stop", 0)
    state, emit = pair(frozenset(), DEVICE, start)
    assert emit and state == {(DEVICE, "CrossLineDetection", 0, None, None)}
    assert pair(state, DEVICE, start) == (state, False)  # repeated Start: same event
    assert pair(state, "other-device", start)[1]  # another device's Start is its own
    assert pair(state, DEVICE, DahuaEvent("CrossLineDetection", "Start", 1))[1]
    assert pair(state, DEVICE, stop) == (frozenset(), False)
    assert pair(frozenset(), DEVICE, stop) == (frozenset(), False)  # Stop without Start: dropped
    pulse = DahuaEvent("CrossFenceDetection", "Pulse", 0)
    assert pair(state, DEVICE, pulse) == (state, True)


def test_a_start_long_after_an_open_one_is_a_new_alarm() -> None:
    """A lost Stop must not silence the channel: a Start more than REPEAT_WITHIN_MS after the
    open one, or with another EventID, is emitted (an outside probe: Starts a day and four
    weeks later were each skipped)."""
    def start(utc: int, event_id: int | None = None) -> str:
        extra = f', "EventID": {event_id}' if event_id is not None else ""
        return f'Code=CrossRegionDetection;action=Start;index=0;data={{"UTC":{utc}{extra}}}'

    t0 = 1714574412
    first, state = map_stream(start(t0), device_id=DEVICE, site=SITE)
    again, state = map_stream(start(t0 + 60), device_id=DEVICE, site=SITE, open_events=state)
    later, state = map_stream(start(t0 + 86_400), device_id=DEVICE, site=SITE,
                              open_events=state)
    assert (len(first), len(again), len(later)) == (1, 0, 1)
    assert len(state) == 1  # the new alarm replaced the one whose Stop was lost
    same, state2 = map_stream(start(t0, 7), device_id=DEVICE, site=SITE)
    repeat, state2 = map_stream(start(t0 + 86_400, 7), device_id=DEVICE, site=SITE,
                                open_events=state2)
    other, state2 = map_stream(start(t0 + 1, 8), device_id=DEVICE, site=SITE,
                               open_events=state2)
    assert (len(same), len(repeat), len(other)) == (1, 0, 1)  # EventID decides when known


@pytest.mark.parametrize(("utc", "says"), [
    (1714574412000, "looks like epoch milliseconds"), (0, "not a plausible time")])
def test_a_bad_time_names_data_utc_and_the_fix(utc: int, says: str) -> None:
    """Not `event_time`, a field the vendor never wrote."""
    [outcome], _ = map_stream(f'Code=CrossLineDetection;action=Pulse;index=0;data={{"UTC":{utc}}}',
                              device_id=DEVICE, site=SITE)
    assert isinstance(outcome, MappingError)
    assert outcome.field == "data.UTC" and says in outcome.detail


def test_state_carries_across_calls() -> None:
    start = "Code=CrossLineDetection;action=Start;index=0;data={\"UTC\":1714574412}"
    stop = "Code=CrossLineDetection;action=Stop;index=0;data={\"UTC\":1714574414}"
    first, state = map_stream(start, device_id=DEVICE, site=SITE)
    second, state = map_stream(start + "\n" + stop, device_id=DEVICE, site=SITE,
                               open_events=state)
    assert len(first) == 1 and second == [] and state == frozenset()


def test_stop_without_start_is_dropped() -> None:
    outcomes, state = stream("stop_without_start.txt")
    assert outcomes == [] and state == frozenset()


def test_locale_time_takes_the_site_zone() -> None:
    (only,) = records("locale_time_only.txt")
    assert only.record["event_time"] == 1714575000000  # 2024-05-01 22:50:00 Asia/Shanghai
    assert only.record["alarm_type"] == "LOITERING"
    (utc,) = map_stream(fixture("dahua", "locale_time_only.txt").decode(), device_id=DEVICE,
                        site=Site("S-3301-0001", zone="UTC"))[0]
    assert isinstance(utc, Mapped) and utc.record["event_time"] == 1714575000000 + 8 * 3600_000


def test_utc_field_holding_local_time_is_corrected() -> None:
    """CrossRegionDetection in stream.txt: UTC 1714603265 is 22:41:05 read as UTC, which equals
    its LocaleTime: the firmware wrote local time, the real instant is 14:41:05Z."""
    event = parse_event('Code=CrossRegionDetection;action=Start;index=1;data={'
                        '"LocaleTime":"2024-05-01 22:41:05","UTC":1714603265}')
    result = map_event(event, device_id=DEVICE, site=SITE)
    assert result is not None and result.record["event_time"] == 1714574465000
    honest = parse_event('Code=CrossRegionDetection;action=Start;index=1;data={'
                         '"LocaleTime":"2024-05-01 22:41:05","UTC":1714574465}')
    result = map_event(honest, device_id=DEVICE, site=SITE)
    assert result is not None and result.record["event_time"] == 1714574465000


def test_retransmitted_start_keeps_the_event_id() -> None:
    line = fixture("dahua", "locale_time_only.txt").decode()
    (a,), _ = map_stream(line, device_id=DEVICE, site=SITE)
    (b,), _ = map_stream(line, device_id=DEVICE, site=SITE)  # a new connection, fresh state
    assert isinstance(a, Mapped) and isinstance(b, Mapped)
    assert a.record["event_id"] == b.record["event_id"]


def test_housekeeping_codes_produce_nothing() -> None:
    event = parse_event("Code=NTPAdjustTime;action=Pulse;index=0")
    assert map_event(event, device_id=DEVICE, site=SITE) is None


def test_no_time_and_no_receive_time_is_an_error() -> None:
    with pytest.raises(MappingError) as caught:
        map_event(parse_event("Code=VideoBlind;action=Start;index=0"), device_id=DEVICE,
                  site=SITE)
    assert caught.value.field == "data.UTC"


@pytest.mark.parametrize("utc", ["1e308", "-5", "1" + "0" * 400, "\"inf\"", "\"-1e400\"",
                                 "253402300800"])
def test_an_epoch_second_out_of_range_names_the_range(utc: str) -> None:
    with pytest.raises(MappingError) as caught:
        map_event(parse_event(f"Code=VideoBlind;action=Start;index=0;data={{\"UTC\":{utc}}}"),
                  device_id=DEVICE, site=SITE)
    assert caught.value.field == "data.UTC"
    assert "expected epoch seconds from 0 to 253402300799 (9999-12-31)" in str(caught.value)
    assert len(str(caught.value)) < 200


def test_bad_lines_are_errors_in_place_and_leave_no_state() -> None:
    outcomes, state = stream("bad_lines.txt")
    assert all(isinstance(o, MappingError) for o in outcomes)
    assert [o.field for o in outcomes if isinstance(o, MappingError)] == [
        "data", "action", "index", "data", "data.UTC"]
    assert state == frozenset()


@pytest.mark.parametrize("line", ["", "hello", "Code=;action=Start;index=0", "Code=X;action=Start",
                                  "Code=X;action=Start;index=-1",
                                  "Code=X;action=Start;index=0;data={\"UTC\": true}",
                                  "Code=X;action=Start;index=0;data=" + "[" * 5000])
def test_garbage_lines_are_mapping_errors(line: str) -> None:
    with pytest.raises(MappingError):
        event = parse_event(line)
        map_event(event, device_id=DEVICE, site=SITE)


def test_every_truncation_of_the_stream_maps_or_errs() -> None:
    body = fixture("dahua", "stream.txt").decode()
    for cut in range(0, len(body), 11):
        outcomes, _ = map_stream(body[:cut], device_id=DEVICE, site=SITE, received_ms=RECEIVED)
        for outcome in outcomes:
            if isinstance(outcome, Mapped):
                assert_valid(outcome)


def test_state_reports_and_float_utc() -> None:
    body = ("Code=SystemState;action=State;index=0;data={\"State\":\"Active\"}\n"
            "Code=SceneChange;action=Pulse;index=0;data={\"EventID\":7,\"UTC\":1714574465.0}\n"
            "Code=CrossLineDetection;action=State;index=0;data={\"UTC\":1714574465}")
    outcomes, state = map_stream(body, device_id=DEVICE, site=SITE)
    assert state == frozenset()
    (only,) = outcomes
    assert isinstance(only, Mapped)
    assert_valid(only)
    assert (only.record["alarm_type"], only.record["event_time"]) == ("TAMPER", 1714574465000)
