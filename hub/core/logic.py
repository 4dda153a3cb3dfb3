"""What each rule type does with one released event, in event-time order.

Every function gets the rule, the key's state and the event (with ``mask``: which of the rule's
steps it matches) and returns the matches it makes: (new evidence, risk level). The engine turns
matches into incident versions. The confirmed engine hands events here strictly in
``Event.order_key`` order, which is what makes its results independent of arrival order. The
eager engine (hub.core.early) hands them as they arrive; windows stay in ``order_key`` order all
the same (``insert_in_order``), so what it matches on is what the confirmed engine will see.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable

from hub.core.rules import Rule
from hub.core.state import KeyState, order_of
from hub.model.events import Event

Match = tuple[list[Event], str]
Handler = Callable[[Rule, KeyState, Event, int], list[Match]]

#: An ``all`` rule's window is pruned when its oldest event is ``within >> 5`` past the span.
PRUNE_SLACK_SHIFT = 5


def prune_window(state: KeyState, horizon: int) -> None:
    """Drop windowed events older than ``horizon`` (they can no longer share a window)."""
    window = state.window
    if window and window[-1][1].event_time < horizon:  # all of it (a quiet key's usual case)
        window.clear()
        counts = state.step_counts
        if counts is not None:
            for bit in counts:  # in place: a caller may hold this dict
                counts[bit] = 0
        return
    n = 0
    while n < len(window) and window[n][1].event_time < horizon:
        n += 1
    if n:
        _drop_oldest(state, n)


def _order(item: tuple[int, Event]) -> tuple[int, int, str]:
    return item[1].order_key


def insert_in_order(window: list[tuple[int, Event]], mask: int, event: Event) -> None:
    """Insert an event older than the window's last where ``order_key`` puts it.

    Windows are kept in ``order_key`` order. The confirmed engine hands events in that order,
    so handlers append (``if window and event.order_key < window[-1][1].order_key`` first: a call
    per append cost the engine 2.3 % of its instructions). The eager engine (hub.core.early)
    hands them as they arrive: appended after newer ones, a dispute's status update that came
    before its report stood for the report in every later match, whose first evidence (and id)
    then differed from the confirmed one: 9 of the 17 provisional incidents retracted over
    ``hub simulate --seed 7 --buildings 400 --days 3``.
    """
    insort(window, (mask, event), key=_order)


def _drop_oldest(state: KeyState, n: int) -> None:
    """Remove the window's first ``n`` events, keeping the per-step counts right."""
    counts = state.step_counts
    if counts is not None:
        for mask, _ in state.window[:n]:
            for bit in counts:
                if mask & bit:
                    counts[bit] -= 1
    del state.window[:n]


def cap_window(state: KeyState, cap: int) -> int:
    """Drop the oldest window events beyond ``cap``; how many were dropped.

    A flood on one key (200,000 DENIED swipes at one door) would otherwise hold every event of
    the span in memory and in every checkpoint of the key. Handlers look for the newest
    matching events, and a threshold only asks whether the count reaches a tier, so dropping
    the oldest past a cap no lower than the highest tier changes no threshold's decision.
    """
    n = len(state.window) - cap
    if n <= 0:
        return 0
    _drop_oldest(state, n)
    return n


def _step_counts(state: KeyState, n_steps: int) -> dict[int, int]:
    """How many window events match each step (kept up to date by prune and append)."""
    if state.step_counts is None:
        state.step_counts = {
            1 << s: sum(1 for m, _ in state.window if m & (1 << s)) for s in range(n_steps)
        }
    return state.step_counts


def on_single(rule: Rule, state: KeyState, event: Event, mask: int) -> list[Match]:
    """A ``single`` rule: every matching event is a match on its own, at the first tier's risk."""
    return [([event], rule.tiers[0].risk_level)]


def on_sequence(rule: Rule, state: KeyState, event: Event, mask: int) -> list[Match]:
    """A ``sequence`` rule: the steps in order within ``within``; a match when the last step
    completes one."""
    prune_window(state, event.event_time - rule.within)
    last = len(rule.steps) - 1
    matches: list[Match] = []
    if mask & (1 << last):
        chain = _chain_before(rule, state.window, len(state.window), event)
        if chain is not None:
            matches.append((chain, rule.tiers[0].risk_level))
    if mask & ~(1 << last):
        window = state.window
        if window and event.order_key < window[-1][1].order_key:
            insert_in_order(window, mask, event)
        else:
            window.append((mask, event))
    return matches


#: Last-step events one key keeps waiting for an earlier step (on_sequence_as_arrived): a flood
#: of them with no first step must not make each new one scan all the others.
MAX_WAITING = 16


def on_sequence_as_arrived(rule: Rule, state: KeyState, event: Event, mask: int) -> list[Match]:
    """The eager engine's ``sequence`` (hub.core.early), whose events come in arrival order: an
    earlier step can come after the last one, and a provisional alert is due at the line that
    completes a match, whichever line that is. A last-step event that completes nothing waits
    (``KeyState.waiting``, the newest :data:`MAX_WAITING`, within the rule's span) for such a
    step; each last-step event matches once, with the chain :func:`on_sequence` would find."""
    t = event.event_time
    prune_window(state, t - rule.within)
    last_bit = 1 << (len(rule.steps) - 1)
    window = state.window
    if mask & ~last_bit:
        if window and event.order_key < window[-1][1].order_key:
            insert_in_order(window, mask, event)
        else:
            window.append((mask, event))
    matches: list[Match] = []
    if mask & last_bit:
        chain = _chain_ending(rule, window, event)
        if chain is not None:
            matches.append((chain, rule.tiers[0].risk_level))
        else:
            waiting = state.waiting
            if waiting is None:
                waiting = state.waiting = []
            insort(waiting, event, key=order_of)
            if len(waiting) > MAX_WAITING:
                del waiting[0]
    waiting = state.waiting
    if waiting and mask & ~last_bit and waiting[-1].order_key > event.order_key:
        for last in [w for w in waiting if w.order_key > event.order_key
                     and w.event_time - rule.within <= t]:
            chain = _chain_ending(rule, window, last)
            if chain is not None:
                matches.append((chain, rule.tiers[0].risk_level))
                waiting.remove(last)
    # as the window: older than this event's span, it can be completed no more
    while waiting and waiting[0].event_time < t - rule.within:
        del waiting[0]
    return matches


def _chain_ending(rule: Rule, window: list[tuple[int, Event]], last: Event) -> list[Event] | None:
    """The chain :func:`on_sequence` finds when ``last`` (a last-step event) is handed to it,
    from the window events before ``last`` in order (the window may hold later ones here)."""
    return _chain_before(rule, window, bisect_left(window, last.order_key, key=_order), last)


def _chain_before(rule: Rule, window: list[tuple[int, Event]], end: int,
                  last: Event) -> list[Event] | None:
    """For each step before the last, latest first, the latest event of that step in
    ``window[:end]`` before the one chosen after it, within the rule's span of ``last`` (the
    last step's event); the chain in step order, or None when a step has none."""
    idx = end
    horizon = last.event_time - rule.within
    chain = [last]
    for step in range(len(rule.steps) - 2, -1, -1):
        bit = 1 << step
        idx -= 1
        while idx >= 0 and not window[idx][0] & bit:
            idx -= 1
        if idx < 0 or window[idx][1].event_time < horizon:
            return None
        chain.append(window[idx][1])
    chain.reverse()
    return chain


def _augment(step: int, window: list[tuple[int, Event]], owner: dict[int, int],
             seen: set[int]) -> bool:
    """Find window events for ``step``, moving others along (a module function, not a closure:
    a recursive closure is a reference cycle, which only the cycle collector would free)."""
    bit = 1 << step
    for j in range(len(window) - 1, -1, -1):
        if window[j][0] & bit and j not in seen:
            seen.add(j)
            if j not in owner or _augment(owner[j], window, owner, seen):
                owner[j] = step
                return True
    return False


def _fill_other_steps(
    n_steps: int, own: int, window: list[tuple[int, Event]]
) -> list[Event] | None:
    """Distinct window events for every step but ``own``, newest first; None if impossible.

    A bipartite matching (augmenting paths) so that an event matching several steps fills only
    one of them, and is moved to another step when that lets every step be filled.
    """
    owner: dict[int, int] = {}  # window index -> step it fills
    for step in range(n_steps):
        if step != own and not _augment(step, window, owner, set()):
            return None
    return [window[j][1] for j in owner]


def on_all(rule: Rule, state: KeyState, event: Event, mask: int) -> list[Match]:
    """An ``all`` rule: every step seen within ``within``, in any order."""
    n_steps = len(rule.steps)
    counts = state.step_counts
    if counts is None:
        counts = _step_counts(state, n_steps)
    window = state.window
    # Which steps have no candidate at all (counting events that may be past the window: they
    # are pruned before any search). If more than the one this event could fill are empty, no
    # match is possible, and the window is only pruned once its oldest event is well past it.
    have = 0
    for bit, count in counts.items():
        if count:
            have |= bit
    missing = ((1 << n_steps) - 1) & ~have
    chosen = None
    if missing == 0 or (missing & (missing - 1) == 0 and mask & missing):
        prune_window(state, event.event_time - rule.within)
        for own in range(n_steps):  # the step this event fills; each event fills only one
            if not mask & (1 << own):
                continue
            if any(counts[1 << s] == 0 for s in range(n_steps) if s != own):
                continue  # some other step has no candidate at all: skip the search
            others = _fill_other_steps(n_steps, own, window)
            if others is not None:
                chosen = [event, *others]
                break
    elif window and window[0][1].event_time < event.event_time - rule.within - (
            rule.within >> PRUNE_SLACK_SHIFT):
        # Pruned once its oldest event is a 32nd of the span past it: a busy site's window holds
        # at most ~3 % more than its span, and each prune drops ~3 % of it at once (amortized).
        # Pruning by length (a quarter more each time) let the window hold up to 1.25x its span,
        # and the soak's RSS kept growing for minutes after the window was full (BENCHMARKS §4).
        prune_window(state, event.event_time - rule.within)
    if window and event.order_key < window[-1][1].order_key:
        insert_in_order(window, mask, event)
    else:
        window.append((mask, event))
    for bit in counts:
        if mask & bit:
            counts[bit] += 1
    if chosen is None:
        return []
    chosen.sort(key=lambda e: e.order_key)
    return [(chosen, rule.tiers[0].risk_level)]


def _in_window(state: KeyState, event: Event) -> bool:
    """The same event (kind and id) is in the window already.

    Only a worker restored from a changelog a kill cut short (a key whose new state was written
    while its lane's meta was not) hands a released event to a key again; counting it twice
    would raise a threshold's tier on events that never happened. Events are released to a key
    in order, so only one not after the window's last can be there already: the scan is skipped
    on the usual path.
    """
    window = state.window
    if not window or event.order_key > window[-1][1].order_key:
        return False
    kind, event_id = event.kind, event.event_id
    return any(e.event_id == event_id and e.kind == kind for _, e in window)


def on_threshold(rule: Rule, state: KeyState, event: Event, mask: int) -> list[Match]:
    """A ``threshold`` rule: a match for every event while the window holds at least the lowest
    tier's count; a new incident gets the whole window as evidence, an open one just the event."""
    prune_window(state, event.event_time - rule.within)
    if _in_window(state, event):
        return []
    window = state.window
    if window and event.order_key < window[-1][1].order_key:
        insert_in_order(window, mask, event)
    else:
        window.append((mask, event))
    risk = rule.risk_for(len(state.window))
    if risk is None:
        return []
    inc = state.incident
    if inc is not None and event.event_time - inc.last_event_time <= rule.within:
        return [([event], risk)]
    return [([e for _, e in state.window], risk)]


def on_distinct(rule: Rule, state: KeyState, event: Event, mask: int) -> list[Match]:
    """A ``distinct`` rule: like a threshold, but counting distinct values of
    ``rule.distinct_field``; events without the field are ignored."""
    fld = rule.distinct_field
    assert fld is not None
    value = event.fields.get(fld)
    if value is None:
        return []
    window = state.window
    if window and window[0][1].event_time < event.event_time - rule.within:
        prune_window(state, event.event_time - rule.within)
    if window and event.order_key < window[-1][1].order_key:
        insert_in_order(window, mask, event)
    else:
        window.append((mask, event))
    if len(window) < rule.tiers[0].count:
        return []  # fewer events than the lowest tier needs distinct values
    firsts: dict[object, Event] = {}
    for _, e in state.window:
        firsts.setdefault(e.fields.get(fld), e)
    risk = rule.risk_for(len(firsts))
    if risk is None:
        return []
    inc = state.incident
    if inc is not None and event.event_time - inc.last_event_time <= rule.within:
        if value in inc.values:
            return []  # a status update of something already counted
        return [([event], risk)]
    return [(list(firsts.values()), risk)]


def on_absence(rule: Rule, state: KeyState, event: Event, mask: int) -> list[Match]:
    """An ``absence`` rule: arms a timer on the triggering event; the absent event cancels it, and a
    timer that expires (see the engine) is the match."""
    t = event.event_time
    matches: list[Match] = []
    if mask & 2:  # the event that must be absent
        if rule.direction in ("before", "both"):
            prune_window(state, t - rule.within)
            window = state.window
            if window and event.order_key < window[-1][1].order_key:
                insert_in_order(window, 2, event)
            else:
                window.append((2, event))
        if rule.direction in ("after", "both"):
            # cancels every watched event whose 'after' span reaches this one
            for ident, (_, watched) in list(state.timers.items()):
                if watched.event_time + rule.within >= t:
                    del state.timers[ident]
    if mask & 1:
        if rule.direction in ("before", "both"):
            prune_window(state, t - rule.within)
            own = event.order_key
            # an absent-kind event inside [t - within, t], ordered before this one (for 'before'
            # rules the window may already hold later ones, inserted in order as they arrived)
            if any(w.order_key < own for _, w in state.window):
                return matches
        if rule.direction == "before":
            matches.append(([event], rule.tiers[0].risk_level))
        else:
            state.add_timer(t + rule.within, event)
    return matches


def on_absence_timer(rule: Rule, state: KeyState, event: Event) -> list[Match]:
    """The 'after' span of ``event`` passed with no absent-kind event: the absence is proven."""
    return [([event], rule.tiers[0].risk_level)]


HANDLERS: dict[str, Handler] = {
    "single": on_single,
    "sequence": on_sequence,
    "all": on_all,
    "threshold": on_threshold,
    "distinct": on_distinct,
    "absence": on_absence,
}
