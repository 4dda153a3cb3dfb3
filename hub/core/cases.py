"""Casework of the 综治中心, pure: incidents open cases, actions move them, deadlines escalate them.

An incident that nobody acts on protects nobody. Each incident opens a case at the level its
route names (三级联动: GRID, TOWNSHIP, DISTRICT, CITY). Operators act on it (``IncidentAction``);
a case not acknowledged by its deadline (per risk level, topology/dispatch.yaml) moves one level
up, to the unit the building registry names there, and its deadline starts again. Time is always
given by the caller (the action's own time, or ``now``), never read here: the worker passes the
wall clock, tests drive it, and a replay of the same inputs gives the same changes.

A deadline runs from the incident's event time, but never from before the casework's clock: not
before its last tick; and a case opened while the book had no tick yet (a start, a restart) that
is already overdue at the first one has its whole time from it. Each escalation gives the next
level its whole time from the tick that escalated it, one level per tick. So incidents replayed
from a recording, or a hub's backlog read by a new casework app, are not escalated to the city at
its first tick: each level gets its time to acknowledge, as it would live.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hub.core.durations import parse_duration
from hub.core.routing import FIELD_FOR_LEVEL
from hub.core.yaml_keys import load_unique
from hub.model.cases import ACTIONS, CaseChange, IncidentAction
from hub.model.errors import ConfigError, ValidationError, a_or_an
from hub.model.incidents import (
    LEVEL_FOR_RISK,
    RETRACTED,
    RISK_LEVELS,
    ROUTE_LEVELS,
    Incident,
    risk_rank,
)

#: Which actions each state allows, and the state they lead to (None: the state stays).
TRANSITIONS: Mapping[str, Mapping[str, str | None]] = {
    "OPEN": {"ACKNOWLEDGE": "ACKNOWLEDGED", "ASSIGN": "ASSIGNED", "COMMENT": None,
             "RESOLVE": "RESOLVED", "FALSE_ALARM": "FALSE_ALARM"},
    "ACKNOWLEDGED": {"ASSIGN": "ASSIGNED", "COMMENT": None, "RESOLVE": "RESOLVED",
                     "FALSE_ALARM": "FALSE_ALARM"},
    "ASSIGNED": {"ASSIGN": "ASSIGNED", "COMMENT": None, "RESOLVE": "RESOLVED",
                 "FALSE_ALARM": "FALSE_ALARM"},
    "RESOLVED": {"COMMENT": None, "REOPEN": "OPEN"},
    "FALSE_ALARM": {"COMMENT": None, "REOPEN": "OPEN"},
    "CLOSED": {"COMMENT": None},
}


#: How far ahead of the casework's clock an action's own time is taken: live, the console's clock
#: and the casework's ticks differ by about a tick; a replay's driven ticks may lag its actions.
ACTION_AHEAD_MS = 3_600_000

#: The note of an ``UPDATED`` change whose deadline moved to the casework's first tick.
CLOCKED_IN = ("the time to acknowledge starts now: the incident is older than the casework's "
              "clock (a replay, or a backlog read at start)")


@dataclass(frozen=True)
class DispatchPolicy:
    """Time to acknowledge per risk level (topology/dispatch.yaml)."""

    acknowledge_within: Mapping[str, int]


def load_dispatch(path: Path | str) -> DispatchPolicy:
    """Read topology/dispatch.yaml; ConfigError names the file, the field and the fix."""
    try:
        raw = load_unique(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from exc
    spec = (raw or {}).get("acknowledge_within") if isinstance(raw, Mapping) else None
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{path}: field 'acknowledge_within': expected a mapping of risk level "
                          f"to a duration, for each of {', '.join(RISK_LEVELS)}")
    out: dict[str, int] = {}
    for level in RISK_LEVELS:
        if level not in spec:
            raise ConfigError(f"{path}: field 'acknowledge_within.{level}': missing; give a "
                              "duration such as 5m")
        try:
            out[level] = parse_duration(spec[level])
        except ValueError as exc:
            raise ConfigError(f"{path}: field 'acknowledge_within.{level}': {exc}") from exc
    unknown = sorted(set(spec) - set(RISK_LEVELS))
    if unknown:
        raise ConfigError(f"{path}: field 'acknowledge_within.{unknown[0]}': not a risk level; "
                          f"use {', '.join(RISK_LEVELS)}")
    return DispatchPolicy(out)


class ActionRejected(ValidationError):
    """An action the case cannot take: unknown incident, wrong state, outside jurisdiction.

    ``change``: the case's REJECTED change, when there is a case to record it in (the first
    time this action is refused), for the casework to publish beside the dead letter: the
    operator whose action lost to another's at the same moment saw "sent" and nothing after.
    """

    change: CaseChange | None = None


@dataclass
class Case:
    """One incident's case as the casework keeps it: mutable, owned by its CaseBook, and exported to
    JSON for the changelogged table (``actions_seen`` makes actions idempotent)."""

    incident_id: str
    rule_id: str
    risk_level: str
    state: str
    level: str
    #: the unit at each level (from the route and the building snapshot); None: unknown
    chain: dict[str, str | None]
    deadline: int | None
    version: int = 0
    assignee: str | None = None
    escalations: list[str] = field(default_factory=list)
    actions_seen: set[str] = field(default_factory=set)
    #: opened before the book's first tick: its deadline is moved to start at that tick
    unclocked: bool = False
    #: actions refused and recorded (REJECTED) once; one that the case can take later (the
    #: same form sent again after a REOPEN) is still applied
    rejected: set[str] = field(default_factory=set)


class CaseBook:
    """Every case the hub knows, and the deadlines still running."""

    def __init__(self, policy: DispatchPolicy) -> None:
        self.policy = policy
        self.cases: dict[str, Case] = {}
        self._due: list[tuple[int, str]] = []  # (deadline, incident id); stale entries skipped
        #: the newest tick :meth:`advance` was given; None until the first (not persisted: a
        #: restored book waits for a tick as a new one does)
        self.clock: int | None = None
        self._unclocked: list[str] = []  # ids of cases opened (or restored so) before a tick
        self._cleared: list[str] = []  # ids clocked in since take_clocked_in

    # -- inputs --------------------------------------------------------------------------------

    def on_incident(self, incident: Incident, now: int) -> list[CaseChange]:
        """A published incident version: opens its case, updates it, or closes it (RETRACTED)."""
        case = self.cases.get(incident.incident_id)
        if incident.status == RETRACTED:
            if case is None or case.state == "CLOSED":
                return []
            case.state, case.deadline = "CLOSED", None
            return [self._change(case, "RETRACTED", now, note=incident.status_reason)]
        if case is None:
            chain = chain_of(incident)
            level = incident.route.level if incident.route else LEVEL_FOR_RISK[
                incident.risk_level][0]
            case = self.cases[incident.incident_id] = Case(
                incident.incident_id, incident.rule_id, incident.risk_level, "OPEN", level, chain,
                self._deadline(incident.risk_level, self._start(now)))
            if self.clock is None:
                case.unclocked = True
                self._unclocked.append(case.incident_id)
            self._watch(case)
            return [self._change(case, "OPENED", now)]
        if risk_rank(incident.risk_level) <= risk_rank(case.risk_level):
            return []  # more evidence, nothing for the centre to do differently
        case.risk_level = incident.risk_level
        wanted = LEVEL_FOR_RISK[incident.risk_level][0]
        if _above(wanted, case.level):
            case.level = wanted
        if case.state == "OPEN":
            deadline = self._deadline(case.risk_level, self._start(now))
            if case.deadline is None or deadline < case.deadline:
                case.deadline = deadline
                self._watch(case)
                if self.clock is None and not case.unclocked:  # a restored book, no tick yet
                    case.unclocked = True
                    self._unclocked.append(case.incident_id)
        return [self._change(case, "UPDATED", now)]

    def on_action(self, action: IncidentAction) -> list[CaseChange]:
        """Apply an operator's action; ActionRejected (with the field and why) if it cannot be."""
        if action.action not in ACTIONS:
            raise ActionRejected(f"{action.action!r} is not an action; use one of "
                                 f"{', '.join(ACTIONS)}", field="action")
        case = self.cases.get(action.incident_id)
        if case is None:
            raise ActionRejected(f"no case for incident {action.incident_id} (unknown, or not "
                                 "published yet)", field="incident_id")
        if action.action_id in case.actions_seen:
            return []  # the same action delivered again
        try:
            self._check(case, action)
        except ActionRejected as exc:
            if action.action_id not in case.rejected:
                case.rejected.add(action.action_id)
                exc.change = self._change(case, "REJECTED", action.time, actor=action.actor,
                                          action=action.action, note=str(exc))
            raise
        case.actions_seen.add(action.action_id)
        new_state = TRANSITIONS[case.state][action.action]
        if new_state is not None:
            case.state = new_state
        if action.action == "ASSIGN":
            case.assignee = action.assignee
        if action.action == "REOPEN":
            case.deadline = self._deadline(case.risk_level, self._acted(action.time))
            self._watch(case)
        elif case.state != "OPEN":
            case.deadline = None
        return [self._change(case, "ACTION", action.time, actor=action.actor,
                             action=action.action, note=action.note)]

    @staticmethod
    def _check(case: Case, action: IncidentAction) -> None:
        """Raise ActionRejected, naming the field, if ``case`` cannot take ``action``."""
        dept = action.department
        if dept.level not in ROUTE_LEVELS:
            raise ActionRejected(f"{dept.level!r} is not a level; use one of "
                                 f"{', '.join(ROUTE_LEVELS)}", field="department_level")
        if not in_jurisdiction(dept.level, dept.code, case.level, case.chain):
            raise ActionRejected(
                f"{dept.level} {dept.code} has no jurisdiction over incident "
                f"{case.incident_id}: it is handled by {case.level} "
                f"{case.chain.get(case.level) or '(unrouted)'}", field="department_code")
        allowed = TRANSITIONS[case.state]
        if action.action not in allowed:
            raise ActionRejected(f"{action.action} is not allowed on {a_or_an(case.state)} case; "
                                 f"allowed: {', '.join(allowed)}", field="action")
        if action.action == "ASSIGN" and not action.assignee:
            raise ActionRejected("ASSIGN needs an assignee (a person or unit)", field="assignee")

    def routed_above(self, incident_id: str) -> RoutedAbove | None:
        """Where the case of ``incident_id`` went, if it was escalated: each later version of
        its incident must reach that level too (a township app kept the PROVISIONAL version it
        got at the escalation, the CONFIRMED one going only to the grid). None: not escalated."""
        case = self.cases.get(incident_id)
        if case is None or not case.escalations:
            return None
        return RoutedAbove(case.level, case.chain.get(case.level), tuple(case.escalations))

    def advance(self, now: int) -> list[CaseChange]:
        """A clock tick: escalate, one level, every case whose deadline to acknowledge is at or
        before ``now``; the level above then has its whole time from ``now``."""
        self.clock = now if self.clock is None else max(self.clock, now)
        out: list[CaseChange] = self._clock_in(now) if self._unclocked else []
        due = self._due
        escalated_now: list[Case] = []
        while due and due[0][0] <= now:
            deadline, iid = heapq.heappop(due)
            case = self.cases.get(iid)
            if case is None or case.state != "OPEN" or case.deadline != deadline:
                continue  # acknowledged, closed, or its deadline moved
            up = _next_level(case.level)
            if up is None:  # the city: nowhere higher to go; it stays overdue, as its board says
                continue
            case.level = up
            case.escalations.append(up)
            case.deadline = max(deadline, now) + self.policy.acknowledge_within[case.risk_level]
            escalated_now.append(case)
            out.append(self._change(case, "ESCALATED", deadline))
        for case in escalated_now:  # watched after the loop: at most one level per tick
            self._watch(case)
        return out

    def _acted(self, t: int) -> int:
        """When an action's deadline starts: its own time, but never before the casework's clock
        nor more than ACTION_AHEAD_MS after it. An action's time is what its sender wrote: a
        REOPEN stamped 1970 escalated at the next tick, one stamped ten years ahead never."""
        if self.clock is None:
            return t
        return min(max(t, self.clock), self.clock + ACTION_AHEAD_MS)

    def _start(self, t: int) -> int:
        """When a deadline that would run from event time ``t`` starts: not before the last
        tick (a replayed or backlogged incident's time is long past)."""
        return t if self.clock is None else max(t, self.clock)

    def _clock_in(self, now: int) -> list[CaseChange]:
        """The first tick after cases opened without one: a case already overdue at it (its
        incident older than the casework's clock) has its whole time from it; one still
        running keeps its deadline. A deadline that moves is published (``UPDATED``), so that
        the board's time left to acknowledge is the one that counts."""
        out: list[CaseChange] = []
        for iid in self._unclocked:
            case = self.cases.get(iid)
            if case is None:
                continue
            case.unclocked = False
            self._cleared.append(iid)
            if case.state == "OPEN" and case.deadline is not None and case.deadline <= now:
                case.deadline = now + self.policy.acknowledge_within[case.risk_level]
                self._watch(case)
                out.append(self._change(case, "UPDATED", now, note=CLOCKED_IN))
        self._unclocked.clear()
        return out

    def take_clocked_in(self) -> list[str]:
        """Ids of the cases the last ticks clocked in, changed or not: their exported state lost
        its flag, so the caller persists them (a successor must not move them again)."""
        ids, self._cleared = self._cleared, []
        return ids

    # -- state -------------------------------------------------------------------------------

    def export_case(self, incident_id: str) -> dict[str, Any] | None:
        """One case as plain JSON-able data (for a compacted changelog keyed by incident id)."""
        case = self.cases.get(incident_id)
        if case is None:
            return None
        return {"id": case.incident_id, "rule": case.rule_id, "risk": case.risk_level,
                "state": case.state, "level": case.level, "chain": case.chain,
                "deadline": case.deadline, "v": case.version, "assignee": case.assignee,
                "esc": list(case.escalations), "seen": sorted(case.actions_seen),
                **({"u": True} if case.unclocked else {}),
                **({"rej": sorted(case.rejected)} if case.rejected else {})}

    def load_case(self, data: Mapping[str, Any]) -> None:
        """Restore a case :meth:`export_case` wrote; its deadline runs again."""
        case = Case(str(data["id"]), str(data["rule"]), str(data["risk"]), str(data["state"]),
                    str(data["level"]), dict(data["chain"]), data.get("deadline"),
                    int(data["v"]), data.get("assignee"), list(data.get("esc", ())),
                    set(data.get("seen", ())), bool(data.get("u", False)),
                    set(data.get("rej", ())))
        self.cases[case.incident_id] = case
        if case.unclocked:
            self._unclocked.append(case.incident_id)
        self._watch(case)

    # -- helpers -------------------------------------------------------------------------------

    def _deadline(self, risk_level: str, start: int) -> int:
        return start + self.policy.acknowledge_within[risk_level]

    def _watch(self, case: Case) -> None:
        if case.deadline is not None:
            heapq.heappush(self._due, (case.deadline, case.incident_id))

    def _change(self, case: Case, change: str, time: int, *, actor: str | None = None,
                action: str | None = None, note: str | None = None) -> CaseChange:
        case.version += 1
        return CaseChange(case.incident_id, case.version, change, case.state, case.level,
                          case.chain.get(case.level), case.risk_level, case.rule_id,
                          case.deadline, time, actor, action, case.assignee, note,
                          tuple(case.escalations), tuple(case.chain.items()))


def chain_of(incident: Incident) -> dict[str, str | None]:
    """The unit at each level for this incident, from its building snapshot and route."""
    building = incident.building
    chain: dict[str, str | None] = {level: None for level in ROUTE_LEVELS}
    if building is not None:
        for level in ROUTE_LEVELS:
            chain[level] = getattr(building, FIELD_FOR_LEVEL[level]) or None
    if chain["GRID"] is None:
        chain["GRID"] = incident.grid_id
    if incident.route is not None:
        chain[incident.route.level] = incident.route.department_id
    return chain


#: The top level: it sees the cases no registry names a city unit for.
CITY = ROUTE_LEVELS[-1]


def in_jurisdiction(level: str, code: str, case_level: str,
                    chain: Mapping[str, str | None]) -> bool:
    """A unit (``level``, ``code``) sees and acts on a case handled at ``case_level`` when it is
    that level's unit or the unit above it in the case's chain; never a neighbour's. A case
    whose chain names no city unit (an unrouted incident: no building, no route) is every CITY
    account's: otherwise it would escalate to a city nobody signs in as."""
    if level not in ROUTE_LEVELS or case_level not in ROUTE_LEVELS:
        return False
    if level == CITY and chain.get(CITY) is None:
        return True  # an incident no registry places (unrouted): the city's, or nobody's
    return not _above(case_level, level) and chain.get(level) == code


def _above(a: str, b: str) -> bool:
    """Level ``a`` is higher than level ``b`` (CITY above DISTRICT above TOWNSHIP above GRID)."""
    return ROUTE_LEVELS.index(a) > ROUTE_LEVELS.index(b)


def _next_level(level: str) -> str | None:
    i = ROUTE_LEVELS.index(level)
    return ROUTE_LEVELS[i + 1] if i + 1 < len(ROUTE_LEVELS) else None


@dataclass(frozen=True)
class RoutedAbove:
    """Where an escalated case stands now: the level and unit that have it, the steps taken."""

    level: str
    department_code: str | None
    escalations: tuple[str, ...]


def escalated(incident: Mapping[str, Any], change: CaseChange | RoutedAbove) -> dict[str, Any]:
    """The incident record as the level above receives it after an ESCALATED change.

    Same id and version (it is the same finding), routed to the new level's unit, with the
    escalation recorded in its tags (``escalated:<from>><to>``, one per step) so the unit that
    receives it knows that the level below let the deadline pass.
    """
    out = dict(incident)
    code = change.department_code
    out["route"] = {"level": change.level, "department_id": code or ""}
    out["unrouted"] = code is None
    levels = list(change.escalations)
    first = _previous_level(levels[0]) if levels else change.level
    path = [first, *levels]
    tags = [t for t in out.get("tags") or () if not str(t).startswith("escalated:")]
    tags += [f"escalated:{a}>{b}" for a, b in itertools.pairwise(path)]
    out["tags"] = tags
    return out


def _previous_level(level: str) -> str:
    i = ROUTE_LEVELS.index(level)
    return ROUTE_LEVELS[i - 1] if i > 0 else level
