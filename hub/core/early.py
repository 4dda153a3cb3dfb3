"""Alerts before the watermark: provisional incidents at arrival, confirmed or retracted later.

The correlation engine (hub.core.engine) waits until every source's watermark has passed an
event before handing it to the rules: its incidents depend only on the set of events, which is
what makes them deterministic, and what makes them late (the allowed lateness, 30 s by default).
An operator needs a perimeter breach while the intruder is still at the door.

So two engines see every event. ``EagerEngine`` hands each event to the rules at once, in
arrival order, and its incidents go out as ``PROVISIONAL``. The usual engine's incidents go out as
``CONFIRMED``, exactly as without this module. A provisional incident whose id the confirmed
engine has not produced by the time it has released everything up to the provisional's event
time was disproved by data that came late (a different first event, a GRANTED swipe that fills
an absence, a sequence that was out of order): it gets a ``RETRACTED`` version and a reason.

Both engines are pure and driven by event time, so ``hub correlate --early`` shows offline,
line by line, what operators would have seen live.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from hub.core.dedup import DedupLogic
from hub.core.engine import CorrelationEngine, EngineStats, StepResult
from hub.core.flapping import suppression_key
from hub.core.logic import cap_window, on_sequence_as_arrived
from hub.core.registry import BuildingRegistry
from hub.core.rule_runtime import RuleRuntime, pair_order
from hub.core.rules import Rule, RulePack
from hub.core.state import KeyState, OpenIncident, SuppressState, order_of
from hub.core.watermark import NEG_INF
from hub.model.events import Event
from hub.model.incidents import CONFIRMED, PROVISIONAL, RETRACTED, Incident


class EagerEngine(CorrelationEngine):
    """The rules over events as they arrive: no buffering, no watermark, no lateness.

    Each event goes to its rules' handlers at once; absence timers fire once an event newer than
    their deadline has arrived. An event older than what a key has seen is still handed to the
    rule (the handlers keep their windows ordered); what that gets wrong, the confirmed engine
    corrects. Flapping suppressions drop a repeat within their span of the last one kept.
    ``dedup``: drop exact repeats here too (offline; online, ingest's Redis dedup has).
    """

    def __init__(self, pack: RulePack, registry: BuildingRegistry,
                 lanes: Collection[str] | None = None, *, dedup: bool = True) -> None:
        super().__init__(pack, registry, dedup=DedupLogic() if dedup else None, lanes=lanes)
        self.now: int | None = None  # the newest event time seen
        self._timed = [rr for rr in self.rules if not rr.per_key]  # rules that may set timers
        for rr in self.rules:
            if rr.rule.type == "sequence":  # its last step may come before an earlier one
                rr.handler = on_sequence_as_arrived
        self._lateness = {r.id: pack_lateness(pack, r.sources) for r in pack.rules}

    def process(self, event: Event, origin: str = "") -> StepResult:
        """One event through the eager rules at once; duplicates and kinds no rule reads produce
        nothing."""
        result = StepResult()
        kind, t = event.kind, event.event_time
        if kind not in self.clocks:
            return result
        dedup = self.dedup
        if dedup is not None and dedup.is_duplicate(kind, event.event_id, t):
            result.duplicate = True
            return result
        if self.now is None or t > self.now:
            self.now = t
        if not self._kept_by_suppression(event):
            self.stats.suppressed += 1
            return result
        self._handle_now(event, result)
        now = self.now
        for rr in self._timed:
            if rr.heap and rr.heap[0][0] < now:
                self._release_rule(rr, now, result)
        for rr in self.rules:
            if now >= rr.next_gc:
                rr.released = max(rr.released, now)
                self._sweep(rr)
        return result

    def tick(self, wall_ms: int, origins: Collection[str] | None = None,
             progress: Mapping[str, Mapping[str, int]] | None = None) -> StepResult:
        """Nothing waits for time here: an absence fires when a newer event shows it passed."""
        return StepResult()

    def flush(self) -> StepResult:
        """End of input: the confirmed engine's flush decides; nothing provisional is new. The
        windows close here too, so that what comes after a flush starts afresh in both."""
        super().flush()
        return StepResult()

    def resume(self, confirmed: CorrelationEngine) -> None:
        """Start from ``confirmed``'s state, just restored (a restart, a rebalance), as if this
        engine had seen the same events: its windows, incidents and timers, then the events
        the confirmed engine still holds (in a rule's buffer or a flapping suppression), handed
        to the rules in event-time order. Started empty, a successor raised alerts again under
        new ids for incidents already confirmed (their first evidence was before the restart)
        and missed those that events before the restart had begun. What the held events make
        was published before: nothing comes out.
        """
        scratch = StepResult()
        for crr in confirmed.rules:
            rr = self._rule_runtime(crr.rule.id)
            if rr is None:
                continue
            for key in [*crr.states, *crr.lone]:
                data = confirmed.export_state(("R", crr.rule.id, key))
                if data is not None:
                    self.load_state(("R", crr.rule.id, key), data)
            # this engine hands events to the rules at once: only absence timers wait here
            rr.heap = [entry for entry in rr.heap if entry[1] == 1]
            heapq.heapify(rr.heap)
            for key, state in list(rr.states.items()):
                if not state.pending:
                    continue
                held = sorted(state.pending.values(), key=pair_order)
                state.pending.clear()
                state.pq = state.scheduled = None
                for mask, event in held:
                    self._hand(rr, key, state, event, mask, scratch)
        # Events a flapping suppression still holds have not reached the rules there; here
        # they had, as they arrived, through this engine's own suppression
        held_back: list[Event] = []
        for entries in confirmed._suppress.values():
            for supp, states in entries:
                mine = self._suppress_states(supp.id)
                for key, sstate in states.items():
                    if mine is not None and sstate.last_time is not None:
                        mine.setdefault(key, SuppressState()).last_time = sstate.last_time
                    held_back.extend(event for _, event in sstate.pending)
        for event in sorted(held_back, key=order_of):
            if self._kept_by_suppression(event):
                self._handle_now(event, scratch)
        seen = [c.max_seen for clocks in confirmed.clocks.values()
                for c in clocks.origins.values() if c.max_seen is not None]
        if seen and (self.now is None or max(seen) > self.now):
            self.now = max(seen)

    def raise_version(self, rule_id: str, key: str, incident_id: str, version: int) -> None:
        """Number this key's open incident's next version after ``version`` (one published
        before a restart), so that no number is given twice to different content."""
        rr = self._rule_runtime(rule_id)
        state = rr.states.get(key) if rr is not None else None
        inc = state.incident if state is not None else None
        if inc is not None and inc.incident_id == incident_id and inc.version < version:
            inc.version = version

    def _kept_by_suppression(self, event: Event) -> bool:
        for supp, states in self._suppress.get(event.kind, ()):
            if not supp.where(event.fields):
                continue
            key = suppression_key(supp, event)
            state = states.get(key)
            if state is None:
                state = states[key] = SuppressState()
            t = event.event_time
            if state.last_time is not None and abs(t - state.last_time) <= supp.within:
                return False
            state.last_time = t if state.last_time is None else max(state.last_time, t)
            return True
        return True

    def _handle_now(self, event: Event, result: StepResult) -> None:
        dispatch = self._dispatch.get(event.kind)
        if dispatch is None:
            return
        t = event.event_time
        for rr, mask in dispatch.pairs(event.fields):
            key = self._key(rr, event)
            if key is None:
                continue
            states = rr.states
            state = states.pop(key, None)
            if state is None:
                if rr.lone_waits:
                    prior = rr.lone.pop(key, None)
                    if prior is None:  # alone it cannot match: wait without a state
                        rr.lone[key] = (mask, event)
                        continue
                    state = self._woken(rr, prior)
                else:
                    state = KeyState(t)
            states[key] = state  # most recently touched last: the sweep's order
            self._hand(rr, key, state, event, mask, result)

    def _hand(self, rr: RuleRuntime, key: str, state: KeyState, event: Event, mask: int,
              result: StepResult) -> None:
        """``event`` to ``rr``'s handler for ``key`` at once, and what it matched to the key's
        incident (``result`` gets the versions)."""
        t = event.event_time
        matches = rr.handler(rr.rule, state, event, mask)
        if len(state.window) > rr.window_cap:
            self.stats.window_dropped += cap_window(state, rr.window_cap)
        if matches and t < state.touched:
            # Arrived after newer events of its key: the handlers assume event-time order,
            # so keep only matches that are ones (a sequence in order, within the span).
            matches = [m for m in matches if _plausible(rr.rule, m[0])]
        if state.new_timers:
            for deadline, watched in state.new_timers:
                heapq.heappush(rr.heap, (deadline, 1, watched.order_key, key, 0, watched))
            state.new_timers.clear()
        if t > state.touched:
            state.touched = t
        if matches:
            self._apply(rr, key, state, matches, t, result)
        inc = state.incident
        if inc is not None and inc.held_at is not None:
            self._held_by_key(rr, key, state, inc, result)

    def _woken(self, rr: RuleRuntime, prior: tuple[int, Event]) -> KeyState:
        """The state a key's dormant first event (``RuleRuntime.lone``) would have made, had it
        been handed to the rule when it arrived: a rule needing two events of a key matches
        nothing on one, and most credentials never see a second, so the state is made only
        when one does (as the confirmed engine does; a tenth of its time, BENCHMARKS.md §1)."""
        mask, first = prior
        state = KeyState(first.event_time)
        rr.handler(rr.rule, state, first, mask)
        return state

    def _held_by_key(self, rr: RuleRuntime, key: str, state: KeyState, inc: OpenIncident,
                     result: StepResult) -> None:
        """Publish a coalesced version once this key's own events have passed its interval.

        Not by the engine's newest time: that is any key's, and a replay (or a device running
        fast) puts some keys far ahead of others; a flood on a key behind them then had every
        update published (7,702 versions where ~60 were due, BENCHMARKS.md §6 run 20). A key
        that was silent for longer than its sources' lateness past the interval has had that
        state in its CONFIRMED version meanwhile: the held one is dropped, not published late.
        """
        end = inc.emitted_at + self.pack.limits.version_every
        if end > state.touched:
            return
        if state.touched - end <= self._lateness[rr.rule.id]:
            self._publish(rr, key, state, end, result)
        else:
            inc.held_at = None
            rr.held.pop(key, None)


def late_for_its_source(result: StepResult, event: Event) -> bool:
    """The confirmed engine took ``event`` as LATE for its whole source: a provisional alert
    from it could only be retracted (seen: a TAMPER alarm an hour old alerted, then was
    retracted), so the eager engine is not given it."""
    return any(late.event is event and not late.rules for late in result.late)


def _plausible(rule: Rule, evidence: list[Event]) -> bool:
    """A match a handler found with an event out of order is one: its events span at most the
    rule's window, and a sequence's steps (in step order) are in event-time order."""
    times = [e.event_time for e in evidence]
    if max(times) - min(times) > rule.within:
        return False
    if rule.type == "sequence":
        keys = [e.order_key for e in evidence]
        return keys == sorted(keys)
    return True


@dataclasses.dataclass(slots=True)
class _Confirmed:
    rule_id: str
    last_event_time: int


class EarlyCorrelation:
    """A confirmed engine and an eager one over the same events; incidents with a status.

    The confirmed engine's output is passed on unchanged except for ``status: CONFIRMED``, so
    everything that holds for it (ids, versions, determinism) still holds. Provisional versions
    are published only for ids not confirmed yet; once confirmed, updates come confirmed.
    """

    def __init__(self, confirmed: CorrelationEngine, eager: EagerEngine) -> None:
        self.confirmed, self.eager = confirmed, eager
        #: provisional incidents not confirmed yet: id -> the last version published
        self.pending: dict[str, Incident] = {}
        #: ids the confirmed engine has produced, kept while the eager engine may still emit them
        self._confirmed: dict[str, _Confirmed] = {}
        #: (rule, key) -> the id the confirmed engine produced last (names what replaced a
        #: retracted incident)
        self._latest: dict[tuple[str, str], str] = {}
        #: ids retracted: the eager engine may go on matching under one (its own incident goes
        #: on), but a withdrawn alarm is not raised again (stop 39's probe saw RETRACTED v5 then
        #: PROVISIONAL v5): id -> (rule, the provisional's last event time), kept as _confirmed
        self._retracted: dict[str, _Confirmed] = {}
        self._horizon = {r.id: r.within * 3 + pack_lateness(confirmed.pack, r.sources)
                         for r in confirmed.pack.rules}
        self._next_gc = NEG_INF

    @property
    def stats(self) -> EngineStats:
        """The confirmed engine's counters: the eager engine's would double-count every event."""
        return self.confirmed.stats

    def process(self, event: Event, origin: str = "", *, eager: bool = True) -> StepResult:
        """One event to both engines; ``eager=False``: to the confirmed one only (the caller
        hands the eager engine a batch at a time, ``process_eager``), and the provisional
        incidents its release disproved are retracted by that ``process_eager`` (or the next
        tick), not here: checking every one of them after every event cost the worker ~3 % of
        its time (py-spy), while the batch's retractions go out in the same transaction."""
        result = self.confirmed.process(event, origin)
        if eager and not late_for_its_source(result, event):
            return self._merge(result, self.eager.process(event, origin).incidents)
        return self._merge(result, ()) if result.incidents else result

    def process_eager(self, events: Iterable[Event]) -> StepResult:
        """Events that arrived together (one batch of the worker) to the eager engine, in
        event-time order: which of them was read first says nothing about the world, and an
        alarm read after its door event within one batch must still start the sequence."""
        provisional: list[Incident] = []
        for event in sorted(events, key=order_of):
            provisional.extend(self.eager.process(event).incidents)
        return self._merge(StepResult(), provisional)

    def tick(self, wall_ms: int, origins: Collection[str] | None = None,
             progress: Mapping[str, Mapping[str, int]] | None = None) -> StepResult:
        """Tick the confirmed engine only (its confirmations and retractions come out): the eager
        one fires its timers as newer events arrive, not on wall-clock ticks."""
        return self._merge(self.confirmed.tick(wall_ms, origins, progress), ())

    def flush(self) -> StepResult:
        """End of input: everything confirmable is confirmed; the rest is retracted."""
        result = self._merge(self.confirmed.flush(), ())
        self.eager.flush()
        for ident in sorted(self.pending):
            result.incidents.append(self._retract(self.pending.pop(ident), "end of input"))
        return result

    def _merge(self, result: StepResult, provisional: Iterable[Incident]) -> StepResult:
        if not (result.incidents or provisional or self.pending):
            return result
        out: list[Incident] = []
        for inc in result.incidents:
            self.pending.pop(inc.incident_id, None)
            self._confirmed[inc.incident_id] = _Confirmed(inc.rule_id, inc.last_event_time)
            self._latest[(inc.rule_id, inc.key)] = inc.incident_id
            out.append(dataclasses.replace(inc, status=CONFIRMED))
        for inc in provisional:
            withdrawn = self._retracted.get(inc.incident_id)
            if withdrawn is not None:  # kept while the eager engine goes on with it
                withdrawn.last_event_time = max(withdrawn.last_event_time, inc.last_event_time)
                continue
            if self._is_confirmed(inc):
                continue
            self.pending[inc.incident_id] = inc
            out.append(dataclasses.replace(inc, status=PROVISIONAL))
        if self.pending:
            for ident, inc in list(self.pending.items()):
                if self.confirmed.released(inc.rule_id) > inc.emitted_time:
                    del self.pending[ident]
                    if not self._is_confirmed(inc):
                        out.append(self._retract(inc, "late data"))
        self._collect()
        result.incidents = out
        return result

    def _is_confirmed(self, inc: Incident) -> bool:
        """Confirmed already: seen going out, or open in the confirmed engine's state (which a
        restarted worker restores, while what it saw going out is gone)."""
        return (inc.incident_id in self._confirmed
                or self.confirmed.open_incident_id(inc.rule_id, inc.key) == inc.incident_id)

    def export_pending(self) -> list[dict[str, object]]:
        """The provisional incidents awaiting confirmation or retraction, as Avro records: the
        worker keeps them with its state, so a successor still retracts what it must."""
        return [self.pending[i].to_record() for i in sorted(self.pending)]

    def load_pending(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Restore provisional incidents saved with export_pending, after a restart or rebalance."""
        for record in records:
            inc = Incident.from_record(dict(record))
            self.pending[inc.incident_id] = inc

    def resume(self) -> None:
        """After the confirmed engine and the pending provisionals were restored: the eager
        engine starts from that state (EagerEngine.resume), and numbers its incidents' next
        versions after those already published."""
        self.eager.resume(self.confirmed)
        for ident, inc in self.pending.items():
            self.eager.raise_version(inc.rule_id, inc.key, ident, inc.version)

    def _retract(self, inc: Incident, cause: str) -> Incident:
        self._retracted[inc.incident_id] = _Confirmed(inc.rule_id, inc.last_event_time)
        other = self._latest.get((inc.rule_id, inc.key))
        if other is not None and other != inc.incident_id:
            why = (f"{cause}: the confirmed match of rule {inc.rule_id} for key {inc.key} is "
                   f"{other} (its first evidence differs)")
        else:
            why = (f"{cause}: rule {inc.rule_id} did not match these events once all events up "
                   f"to event time {inc.emitted_time} were in")
        return dataclasses.replace(inc, version=inc.version + 1, status=RETRACTED,
                                   status_reason=why)

    def _collect(self) -> None:
        """Forget confirmed ids the eager engine can no longer produce (bounded memory)."""
        now = self.eager.now
        if now is None or now < self._next_gc:
            return
        self._next_gc = now + 60_000
        for kept in (self._confirmed, self._retracted):
            for ident in [i for i, c in kept.items()
                          if c.last_event_time < now - self._horizon.get(c.rule_id, 0)]:
                del kept[ident]
        if len(self._latest) > 4 * len(self._confirmed) + 1024:
            keep = set(self._confirmed)
            self._latest = {k: v for k, v in self._latest.items() if v in keep}


def pack_lateness(pack: RulePack, kinds: Iterable[str]) -> int:
    """The longest allowed lateness of ``kinds``' sources."""
    return max((pack.policy(k).lateness for k in kinds), default=0)


def early_engines(pack: RulePack, registry: BuildingRegistry, *,
                  dedup: DedupLogic | None = None,
                  lanes: Collection[str] | None = None) -> EarlyCorrelation:
    """Both engines over one registry."""
    confirmed = CorrelationEngine(pack, registry, dedup=dedup, lanes=lanes)
    return EarlyCorrelation(confirmed, EagerEngine(pack, registry, lanes=lanes))
