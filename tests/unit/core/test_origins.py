"""Watermarks per origin (source partition), and ticks that vouch only for caught-up origins."""

from __future__ import annotations

import random

from hub.core.engine import CorrelationEngine
from hub.core.rule_loading import load_rules
from tests.unit.core.helpers import T0, swipe

SEC = 1000
A, B = "hub.src.access_swipe/0", "hub.src.access_swipe/1"
ORIGINS = {"access_swipe": [A, B]}


def _engine() -> CorrelationEngine:
    return CorrelationEngine(load_rules("topology/rules"), origins=ORIGINS)


def brute_force(engine: CorrelationEngine, origin: str, start: int, door: str) -> list[object]:
    out: list[object] = []
    for i in range(5):
        out += engine.process(swipe(f"{door}-{i}", start + i * SEC, "DENIED", door=door),
                              origin).incidents
    return out


def test_a_fast_origin_does_not_push_the_watermark_past_a_slow_one() -> None:
    engine = _engine()
    engine.process(swipe("b0", 0, "GRANTED", door="DB"), B)  # B has started, then lags
    for i in range(100):  # A runs an hour ahead
        engine.process(swipe(f"a{i}", i * 36 * SEC, "GRANTED", door="DA"), A)
    result = engine.process(swipe("b1", 10 * SEC, "DENIED", door="DB"), B)
    assert result.late == []  # B's own watermark has not moved: its event is on time


def test_ticks_for_other_origins_do_not_make_a_stalled_origin_idle() -> None:
    engine = _engine()
    engine.process(swipe("b0", 0, "GRANTED", door="DB"), B)
    engine.process(swipe("a0", 60 * SEC, "GRANTED", door="DA"), A)
    wall = T0
    for _ in range(120):  # two minutes of ticks vouching only for A: B's upstream is stalled
        wall += SEC
        engine.tick(wall, {A})
    late = brute_force(engine, B, 5 * SEC, "DB")  # B's backlog arrives
    assert engine.stats.late == 0
    assert late == []  # nothing released yet: B still holds the rule back
    assert len(engine.flush().incidents) == 1  # the brute force at DB is found


def test_ticks_vouching_for_a_silent_origin_let_it_go_idle() -> None:
    engine = _engine()
    engine.process(swipe("b0", 0, "GRANTED", door="DB"), B)
    brute_force(engine, A, 60 * SEC, "DA")
    wall = T0
    released = []
    for _ in range(120):  # B caught up and silent: ticks vouch for it, it goes idle
        wall += SEC
        released += engine.tick(wall, {A, B}).incidents
    assert [i.rule_id for i in released] == ["credential_brute_force"]
    # a B event now older than what was released is LATE for that rule, never silently merged
    result = engine.process(swipe("b-old", 20 * SEC, "DENIED", door="DA"), B)
    assert [late.rules for late in result.late] == [("credential_brute_force",)]


def test_progress_from_a_busy_origin_releases_without_a_quiet_spell() -> None:
    """A lane that gets events from A only must not wait for B while B is busy elsewhere.

    Online, the site lane of a correlation partition receives one source partition's events;
    the other partitions of the source are busy with other sites. Ticks carry each origin's
    progress (the newest event time handled upstream), so their clocks move too.
    """
    engine = _engine()
    brute_force(engine, A, 0, "DA")
    wall = T0
    released = []
    for i in range(1, 41):  # B is busy the whole time: never vouched quiet, but progressing
        wall += SEC
        engine.process(swipe(f"a-bg{i}", i * SEC, "GRANTED", door="DX"), A)
        released += engine.tick(wall, {A}, {"access_swipe": {B: T0 + i * SEC}}).incidents
    assert [i.rule_id for i in released] == ["credential_brute_force"]


def test_without_progress_a_busy_origin_holds_the_lane_back() -> None:
    """The same stream without progress: what ADR 0005 found in the live worker (cause 1)."""
    engine = _engine()
    brute_force(engine, A, 0, "DA")
    engine.process(swipe("b0", 0, "GRANTED", door="DB"), B)
    wall = T0
    released = []
    for i in range(1, 41):
        wall += SEC
        engine.process(swipe(f"a-bg{i}", i * SEC, "GRANTED", door="DX"), A)
        released += engine.tick(wall, {A}).incidents
    assert released == []


def test_progress_never_moves_a_clock_back_and_keeps_an_origins_own_events_on_time() -> None:
    engine = _engine()
    engine.tick(T0, set(), {"access_swipe": {B: T0 + 50 * SEC}})
    engine.tick(T0 + SEC, set(), {"access_swipe": {B: T0 + 10 * SEC}})
    assert engine.clocks["access_swipe"].origins[B].max_seen == T0 + 50 * SEC
    result = engine.process(swipe("b-on-time", 45 * SEC, "DENIED", door="DB"), B)
    assert result.late == []  # within the lateness of B's own progress


def test_the_kind_bound_kept_per_event_is_the_slowest_origins_whatever_the_order() -> None:
    """The engine keeps each kind's release bound as events come and only walks every origin's
    clock when the slowest may have changed: after every event and tick it must equal the
    walk over every clock, with origins fast and slow, quiet and idle, events late or not."""
    origins = [f"hub.src.access_swipe/{p}" for p in range(4)]
    engine = CorrelationEngine(load_rules("topology/rules"),
                               origins={"access_swipe": origins})
    rng = random.Random(8)
    clock_of = {o: rng.randint(0, 60) * SEC for o in origins}
    wall = T0
    checked = late = 0
    for i in range(3_000):
        origin = rng.choice(origins[:3] if i % 500 < 250 else origins)  # /3 falls silent a while
        clock_of[origin] += rng.randint(-20, 40) * SEC // 10  # some out of order, some late
        t = clock_of[origin] - (60 * SEC if i % 97 == 0 else 0)  # now and then far behind
        result = engine.process(
            swipe(f"e{i}", t, rng.choice(["GRANTED", "DENIED"]),
                  door=f"D{rng.randint(0, 5)}"), origin)
        late += bool(result.late)
        if i % 37 == 0:
            wall += rng.randint(1, 15) * SEC
            engine.tick(wall, set(rng.sample(origins, rng.randint(0, 4))))
        for kind, clocks in engine.clocks.items():
            assert engine._bounds[kind] == clocks.release_bound(), (i, kind)
            checked += 1
    assert checked >= 3_000 and late > 0, "late events were among them"


HOUR = 3600 * SEC


def _live(engine: CorrelationEngine, start: int, seconds: int, vouched: set[str],
          traffic: bool = True) -> list[str]:
    """``seconds`` of live time from ``start`` (ms after T0): a GRANTED swipe on A each second
    (event time = wall time) when ``traffic``, then a tick vouching for ``vouched``."""
    released: list[str] = []
    for s in range(1, seconds + 1):
        now = start + s * SEC
        if traffic:
            released += [i.rule_id for i in engine.process(
                swipe(f"bg-{now}", now, "GRANTED", door="DX", cred=f"c{s % 7}"), A).incidents]
        released += [i.rule_id for i in engine.tick(T0 + now, vouched).incidents]
    return released


def test_a_partition_silent_since_long_before_does_not_hold_live_traffic_back() -> None:
    """B's last event is an hour old when this engine starts counting (a restart, a new app id,
    old events on the topic): idle B must not hold the live source back until an hour of quiet
    time has been counted. Seen live: a worker on a broker holding last year's events published
    PROVISIONAL alerts at once and never their CONFIRMED versions."""
    engine = _engine()
    engine.process(swipe("b-old", 0, "GRANTED", door="DB"), B)
    now = HOUR
    brute_force(engine, A, now, "DA")  # on A, event time = now
    released = _live(engine, now + 5 * SEC, 60, {A, B})
    assert released == ["credential_brute_force"]


def test_after_the_last_event_everything_is_confirmed_within_lateness_and_idle() -> None:
    engine = _engine()
    engine.process(swipe("b-old", 0, "GRANTED", door="DB"), B)
    now = HOUR
    brute_force(engine, A, now, "DA")
    released = _live(engine, now + 5 * SEC, 60, {A, B}, traffic=False)  # then nothing comes
    assert released == ["credential_brute_force"]


def test_a_restart_does_not_make_an_old_quiet_partition_hold_live_traffic_back() -> None:
    engine = _engine()
    engine.process(swipe("b-old", 0, "GRANTED", door="DB"), B)
    _live(engine, HOUR - 120 * SEC, 120, {A, B})  # live for two minutes, B quiet all along
    successor = _engine()  # a restart: progress restored, quiet time counted afresh
    successor.load_meta(engine.export_meta())
    brute_force(successor, A, HOUR + SEC, "DA")
    released = _live(successor, HOUR + 6 * SEC, 60, {A, B})
    assert released == ["credential_brute_force"]
