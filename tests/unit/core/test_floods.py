"""A flood on one key stays bounded (docs/rules.md "Floods"): evidence, versions and state.

20,000 DENIED swipes at one door over 10 minutes of event time used to publish a version per
swipe, each listing every swipe so far (output grew with the square of the flood). With the
shipped limits (topology/rules/limits.yaml) every version lists at most the first 20 and the
last 20 events with their total count, one version is published per 10 s of event time (a
raised risk at once, the last state always), and the key's window holds at most 10,000 events;
and all of it is the same whatever the arrival order, and across a restore.
"""

from __future__ import annotations

import dataclasses
import itertools
import random

from hub.core.early import early_engines
from hub.core.engine import CorrelationEngine
from hub.core.rules import Limits, RulePack
from hub.model.events import Event
from hub.model.incidents import PROVISIONAL, Incident
from tests.unit.core.helpers import building, default_pack, engine_for, feed, swipe

SEC = 1_000
N = 20_000
SPAN = 10 * 60 * SEC


def flood(n: int = N, span: int = SPAN) -> list[Event]:
    return [swipe(f"d{i:06d}", i * span // n, result="DENIED", cred=f"c{i % 7}")
            for i in range(n)]


def brute(incidents: list[Incident]) -> list[Incident]:
    return [i for i in incidents if i.rule_id == "credential_brute_force"]


def view(incidents: list[Incident]) -> list[tuple[object, ...]]:
    return [(i.incident_id, i.version, i.risk_level, i.emitted_time, i.evidence_count,
             tuple(e.event_id for e in i.evidence)) for i in incidents]


def test_a_flood_publishes_small_versions_at_most_every_10_seconds() -> None:
    pack = default_pack()
    assert pack.limits == Limits(20, 20, 10 * SEC, 10_000)
    engine = engine_for(pack, building())
    out = brute(feed(engine, flood()))
    assert len({i.incident_id for i in out}) == 1
    assert [i.version for i in out] == list(range(1, len(out) + 1))
    assert len(out) <= SPAN // (10 * SEC) + 2, len(out)  # 60 intervals, the first, the last
    times = [i.emitted_time for i in out]
    assert all(b - a >= 10 * SEC for a, b in itertools.pairwise(times))
    assert all(len(i.evidence) <= 40 for i in out)
    last = out[-1]
    assert last.evidence_count == N
    ids = [e.event_id for e in last.evidence]
    assert ids[:20] == [f"d{i:06d}" for i in range(20)]
    assert ids[20:] == [f"d{i:06d}" for i in range(N - 20, N)]  # the last state, published


def test_without_limits_the_same_flood_is_quadratic() -> None:
    """What the limits prevent (a smaller flood: the unbounded run is slow)."""
    n = 2_000
    unbounded = dataclasses.replace(default_pack(), limits=Limits(10**9, 10**9, 0, 10**9))
    out = brute(feed(engine_for(unbounded, building()), flood(n)))
    assert len(out) == n - 4  # a version per swipe from the fifth on
    assert sum(len(i.evidence) for i in out) > n * n // 3
    bounded = brute(feed(engine_for(default_pack(), building()), flood(n)))
    assert sum(len(i.evidence) for i in bounded) < 40 * 70


def test_the_keys_window_is_capped_and_thresholds_decide_as_before() -> None:
    pack = dataclasses.replace(default_pack(), limits=Limits(20, 20, 10 * SEC, 500))
    engine = engine_for(pack, building())
    out = brute(feed(engine, flood(), flush=False))
    rr = next(r for r in engine.rules if r.rule.id == "credential_brute_force")
    assert max(len(s.window) for s in rr.states.values()) <= 500
    assert engine.stats.window_dropped > 0
    out += brute(engine.flush().incidents)
    full = brute(feed(engine_for(default_pack(), building()), flood()))
    assert view(out) == view(full)  # the cap (>= the highest tier) changes no decision


def test_coalesced_versions_do_not_depend_on_arrival_order() -> None:
    events = flood(6_000, 3 * 60 * SEC)
    rng = random.Random(7)
    shuffled = sorted(events, key=lambda e: e.event_time + rng.randrange(0, 25 * SEC))
    in_order = brute(feed(engine_for(default_pack(), building()), events))
    disordered = brute(feed(engine_for(default_pack(), building()), shuffled))
    assert view(in_order) == view(disordered)


def test_a_held_version_survives_a_restore() -> None:
    """Restart mid-flood with a coalesced update held: the same versions as without one."""
    pack: RulePack = default_pack()
    events = flood(3_000, 2 * 60 * SEC)
    whole = brute(feed(engine_for(pack, building()), events))
    first = engine_for(pack, building())
    first._dirty = set()  # track what a worker would checkpoint
    out: list[Incident] = []
    for e in events[:1_234]:
        out += first.process(e).incidents
    rr = next(r for r in first.rules if r.rule.id == "credential_brute_force")
    assert rr.held, "the cut should fall while an update is held"
    second: CorrelationEngine = engine_for(pack, building())
    for ref in first.take_dirty():
        data = first.export_state(ref)
        if data is not None:
            second.load_state(ref, data)
    second.load_meta(first.export_meta())
    for e in events[1_234:]:
        out += second.process(e).incidents
    out += second.flush().incidents
    assert view(brute(out)) == view(whole)


def test_provisional_versions_of_a_flood_are_coalesced_when_another_key_runs_ahead() -> None:
    # Seen in flood_bench with the flood amid a city's traffic (BENCHMARKS.md §6, run 20):
    # the eager engine published held versions once its newest event time, of any key, had
    # passed their interval. A replay reads some partitions days ahead of others (and a device
    # may run up to a minute fast live), so one swipe at another door, far ahead, made every
    # flood update a version of its own: 7,702 PROVISIONAL versions instead of ~60.
    pack = default_pack()
    both = early_engines(pack, engine_for(pack, building()).registry)
    ahead = swipe("ahead", 24 * 3600 * SEC, result="DENIED", door="D9", cred="c9")
    events = [ahead, *flood(2_000, 100 * SEC)]
    out: list[Incident] = []
    for batch in (events[i:i + 100] for i in range(0, len(events), 100)):
        for event in batch:  # as the worker does: from two source partitions
            origin = "p1" if event is ahead else "p0"
            out.extend(both.process(event, origin, eager=False).incidents)
        out.extend(both.process_eager(batch).incidents)
    provisional = [i for i in brute(out) if i.status == PROVISIONAL and i.key == "S1|D1"]
    assert provisional, "the flood raises a provisional incident"
    assert len(provisional) <= 100 // 10 + 2, len(provisional)
    times = [i.emitted_time for i in provisional]
    assert all(b - a >= 10 * SEC for a, b in itertools.pairwise(times)), times
