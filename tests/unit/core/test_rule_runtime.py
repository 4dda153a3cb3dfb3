"""A compiled rule as the engine runs it (hub.core.rule_runtime): what it keeps per key, how it
queues, and the heap a restored state goes back on."""

from __future__ import annotations

import heapq

from hub.core.rule_runtime import POS_INF, RuleRuntime, pair_order
from hub.core.state import KeyState
from hub.core.watermark import NEG_INF
from tests.unit.core.helpers import T0, default_pack, pack_of, swipe
from tests.unit.core.test_event_time import NO_GRANT_AFTER

RULES = {r.id: r for r in default_pack().rules}


def test_a_threshold_keeps_only_its_top_tier_others_the_packs_window_limit() -> None:
    assert RuleRuntime(RULES["credential_brute_force"], 10_000).window_cap == 5
    assert RuleRuntime(RULES["dispute_hotspot"], 10_000).window_cap == 10_000
    assert RuleRuntime(RULES["dispute_hotspot"], 3).window_cap == 5  # never below the top tier


def test_only_rules_with_timers_queue_each_event_and_hold_incidents_twice_as_long() -> None:
    after = RuleRuntime(pack_of(NO_GRANT_AFTER).rules[0])
    assert not after.per_key and after.hold == 2 * after.within
    before = RuleRuntime(RULES["forced_door"])
    assert before.per_key and before.absent_before_only and before.hold == before.within


def test_rules_that_need_two_events_of_a_key_leave_a_lone_event_dormant() -> None:
    waits = {rid for rid, rule in RULES.items() if RuleRuntime(rule).lone_waits}
    # thresholds and distinct counts from their lowest tier; sequences and 'all' rules have two
    # steps, each filled by a different event; singles and absences match on one event
    assert waits == {"credential_brute_force", "cloned_credential", "dispute_hotspot",
                     "lookup_spike", "perimeter_breach_entry", "watchlist_entry"}


def test_the_usual_key_field_is_read_straight_from_the_event_unless_joined() -> None:
    rr = RuleRuntime(RULES["credential_brute_force"])  # a site's door: two fields
    assert rr.key_field is None and rr.key_pair == ("site_id", "door_id") and not rr.join
    one = RuleRuntime(RULES["cloned_credential"])
    assert one.key_field == "credential_hash" and one.key_pair is None and not one.join
    assert rr.released == NEG_INF and rr.next_gc == NEG_INF and rr.heap == [] and rr.states == {}


def test_a_restored_per_key_state_is_queued_once_at_its_earliest_pending_event() -> None:
    rr = RuleRuntime(RULES["credential_brute_force"])
    state = KeyState(T0)
    late, early = swipe("d2", 2_000, "DENIED"), swipe("d1", 1_000, "DENIED")
    for e in (late, early):
        state.pending[(e.kind, e.event_id)] = (1, e)
    rr.queue("D1", state)
    assert rr.heap == [(early.event_time, 0, early.order_key, "D1", 0, early)]
    assert state.scheduled == early.event_time
    assert state.pq == sorted([(early.order_key, ("access_swipe", "d1")),
                               (late.order_key, ("access_swipe", "d2"))])


def test_a_restored_timed_state_queues_every_event_and_every_timer() -> None:
    rr = RuleRuntime(pack_of(NO_GRANT_AFTER).rules[0])
    state = KeyState(T0)
    forced, granted = swipe("f1", 0, "FORCED_OPEN"), swipe("g1", 1_000, "GRANTED")
    state.pending[(granted.kind, granted.event_id)] = (2, granted)
    state.add_timer(forced.event_time + 30_000, forced, queue=False)
    rr.queue("D1", state)
    assert sorted(rr.heap) == [(granted.event_time, 0, granted.order_key, "D1", 2, granted),
                               (forced.event_time + 30_000, 1, forced.order_key, "D1", 0, forced)]
    assert heapq.heappop(rr.heap)[0] == granted.event_time


def test_pair_order_sorts_by_the_events_order_key_and_pos_inf_is_past_any_event() -> None:
    a, b = swipe("a", 5, "DENIED"), swipe("b", 1, "DENIED")
    assert sorted([(1, a), (2, b)], key=pair_order) == [(2, b), (1, a)]
    assert POS_INF > a.event_time * 1_000
