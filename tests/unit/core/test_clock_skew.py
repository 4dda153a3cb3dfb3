"""A device clock that runs ahead cannot make other devices' events LATE (ADR 0006).

Each scenario is fed in arrival order with each event's arrival (its Kafka record timestamp) as
the worker sees it, and compared with the honest devices alone: no LATE, no incident lost. The
same scenarios without arrivals (how the hub behaved before) show what the rule prevents.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from hub.core.clock_skew import ahead_by, arrived_at, corrected
from hub.core.engine import CorrelationEngine
from hub.model.events import Event
from hub.model.incidents import Incident
from tests.unit.core.helpers import (
    T0,
    alarm,
    building,
    default_pack,
    engine_for,
    fingerprint,
    swipe,
)

SEC = 1_000
MIN = 60 * SEC
YEAR_2099 = 4_102_444_800_000  # 2100-01-01T00:00:00Z, minus nothing: far in the future
FUTURE = 60 * SEC  # the shipped tolerance (topology/rules/sources.yaml)


def at(event: Event, arrived: int | None) -> Event:
    return dataclasses.replace(event, arrived=arrived)


def honest_city(sites: int = 6) -> list[Event]:
    """Per site: an intrusion alarm, then a DENIED swipe 40 s later (perimeter_breach_entry),
    sites 2 minutes apart; every event arrives 300 ms after it happened."""
    out = []
    for i in range(sites):
        t = i * 2 * MIN
        site = f"S{i}"
        out.append(at(alarm(f"a{i}", t, site=site, device_id=f"pa{i}"), T0 + t + 300))
        out.append(at(swipe(f"s{i}", t + 40 * SEC, result="DENIED", site=site,
                            building_id=f"B{i}", device_id=f"ac{i}"), T0 + t + 40 * SEC + 300))
    return out


def run(events: Iterable[Event], *, with_rule: bool = True) -> tuple[list[Incident], list[str],
                                                                    list[Event]]:
    """Incidents, LATE event ids and the events as processed (after any correction)."""
    pack = default_pack()
    engine: CorrelationEngine = engine_for(
        pack, *(building(f"B{i}", site=f"S{i}") for i in range(12)))
    incidents: list[Incident] = []
    late: list[str] = []
    seen: list[Event] = []
    for e in events:
        if with_rule:
            e, _ = corrected(e, pack.policy(e.kind).future)
        else:
            e = at(e, None)
        seen.append(e)
        result = engine.process(e)
        incidents.extend(result.incidents)
        late.extend(x.event.event_id for x in result.late)
    incidents.extend(engine.flush().incidents)
    return incidents, late, seen


def honest(incidents: list[Incident], bad: set[str]) -> list[Incident]:
    return [i for i in incidents if not {e.event_id for e in i.evidence} & bad]


def test_ahead_by_counts_only_past_the_tolerance() -> None:
    assert ahead_by(T0 + 59 * SEC, T0, FUTURE) == 0
    assert ahead_by(T0 + 60 * SEC, T0, FUTURE) == 0
    assert ahead_by(T0 + 61 * SEC, T0, FUTURE) == SEC
    assert ahead_by(YEAR_2099, None, FUTURE) == 0  # arrival unknown: taken as it is


def test_arrival_of_a_kafka_record() -> None:
    assert arrived_at(1, T0) == T0  # CreateTime
    assert arrived_at(2, T0) == T0  # LogAppendTime
    assert arrived_at(0, T0) is None
    assert arrived_at(1, -1) is None


def test_a_record_stamped_in_seconds_or_out_of_range_has_no_arrival() -> None:
    """A producer stamping records in seconds (1.7e9 'ms' is January 1970) made every event of
    its "ahead" by 55 years: taken at 1970 and LATE. Such a stamp is no arrival time."""
    from hub.model.events import MAX_TIME_MS, MIN_TIME_MS  # the codec's bounds for event times

    assert arrived_at(1, 1_700_000_000) is None
    assert arrived_at(1, 1000) is None
    assert arrived_at(1, MAX_TIME_MS) is None
    assert arrived_at(1, MIN_TIME_MS) == MIN_TIME_MS
    fields = {"event_id": "e", "vendor": "v", "device_id": "d", "site_id": "s",
              "event_time": T0, "zone_id": "z", "alarm_type": "INTRUSION", "severity": 3}
    event = Event.from_record("perimeter_alarm", fields, arrived=arrived_at(1, 1_700_000_000))
    assert corrected(event, 60_000) == (event, 0)  # kept as stamped


def test_an_event_too_far_ahead_takes_its_arrival_time() -> None:
    e = at(alarm("a", 0), T0 - 5 * MIN)  # stamped 5 minutes after it reached Kafka
    fixed, ahead = corrected(e, FUTURE)
    assert ahead == 4 * MIN
    assert fixed.event_time == T0 - 5 * MIN == fixed.fields["event_time"]
    assert fixed.event_id == "a" and fixed.arrived == e.arrived
    kept, ahead = corrected(at(alarm("b", 0), T0 - 30 * SEC), FUTURE)
    assert ahead == 0 and kept.event_time == T0


def test_one_alarm_stamped_2099_loses_nothing() -> None:
    city = honest_city()
    bad = at(alarm("bad", 0, site="S-BAD", device_id="pa-bad"), T0 + 5 * MIN)
    bad = dataclasses.replace(bad, fields={**bad.fields, "event_time": YEAR_2099},
                              event_time=YEAR_2099)
    events = [*city[:6], bad, *city[6:]]
    baseline, late0, _ = run(city)
    assert late0 == [] and len(baseline) >= 6
    incidents, late, seen = run(events)
    assert late == []
    assert fingerprint(honest(incidents, {"bad"})) == fingerprint(baseline)
    assert [e.event_time for e in seen if e.event_id == "bad"] == [T0 + 5 * MIN]
    # Before the rule: the 2099 stamp pushed the watermark past every later honest event.
    old, old_late, _ = run(events, with_rule=False)
    assert old_late and len(honest(old, {"bad"})) < len(baseline)


def test_a_device_four_minutes_fast_among_honest_ones() -> None:
    city = honest_city()
    fast = []
    for i in range(6):  # a camera 4 minutes fast: an alarm now and then at a site of its own
        real = i * 2 * MIN + 10 * SEC
        e = at(alarm(f"f{i}", real + 4 * MIN, site="S-FAST", device_id="pa-fast",
                     alarm_type="TAMPER"), T0 + real + 200)
        fast.append(e)
    events = sorted(city + fast, key=lambda e: e.arrived or 0)
    baseline, _, _ = run(city)
    incidents, late, seen = run(events)
    assert late == []
    assert fingerprint(honest(incidents, {e.event_id for e in fast})) == fingerprint(baseline)
    by_id = {e.event_id: e for e in seen}
    assert all(by_id[e.event_id].event_time == e.arrived for e in fast)
    _old, old_late, _ = run(events, with_rule=False)
    assert old_late  # what a fast clock did before


def test_a_clock_fast_within_the_tolerance_cannot_make_others_late() -> None:
    """50 s ahead is allowed (kept as stamped) but the source's clock stops at the arrival."""
    city = honest_city()
    # each 5 s before an honest alarm, stamped 50 s ahead
    fast = [at(alarm(f"f{i}", i * 2 * MIN - 5 * SEC + 50 * SEC, site="S-FAST",
                     device_id="pa-fast", alarm_type="TAMPER"), T0 + i * 2 * MIN - 5 * SEC)
            for i in range(6)]
    events = sorted(city + fast, key=lambda e: e.arrived or 0)
    baseline, _, _ = run(city)
    incidents, late, seen = run(events)
    assert late == []
    assert {e.event_time for e in seen if e.event_id.startswith("f")} == {
        e.event_time for e in fast}  # not corrected
    assert fingerprint(honest(incidents, {e.event_id for e in fast})) == fingerprint(baseline)
    _, old_late, _ = run(events, with_rule=False)
    assert old_late  # what a clock 50 s fast did before
