"""Value types for the 综治中心's casework: operators' actions on incidents, and case changes.

An incident is what the rules found; a case is what people do about it. Every action is an event
(``IncidentAction``) and every change of a case is a record (``CaseChange``), so the history of a
case is the list of its changes: what an audit, a downstream app or a restarted console reads.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

#: What an operator can do (docs/contracts.md, "Casework").
ACTIONS: tuple[str, ...] = ("ACKNOWLEDGE", "ASSIGN", "COMMENT", "RESOLVE", "FALSE_ALARM",
                            "REOPEN")
#: A case's states. CLOSED: the incident was RETRACTED (late data disproved the early alert).
CASE_STATES: tuple[str, ...] = ("OPEN", "ACKNOWLEDGED", "ASSIGNED", "RESOLVED", "FALSE_ALARM",
                                "CLOSED")
#: What made a case change.
CHANGES: tuple[str, ...] = ("OPENED", "UPDATED", "ACTION", "ESCALATED", "RETRACTED", "REJECTED")


@dataclass(frozen=True, slots=True)
class Department:
    """A 综治中心 or grid: its level (GRID, TOWNSHIP, DISTRICT, CITY) and its code there."""

    level: str
    code: str


#: Longest note and assignee an action takes: a note is a line in a case's history for ever,
#: and a Kafka record has a size limit (a 1 MB note was the console's 500).
MAX_NOTE = 4000
MAX_ASSIGNEE = 200


def new_action_id() -> str:
    """A fresh action id (``act-`` and 32 hex digits): made once per form the console draws,
    so that the form sent twice is one action."""
    return f"act-{uuid.uuid4().hex}"


@dataclass(frozen=True, slots=True)
class IncidentAction:
    """An operator's action on an incident (acknowledge, assign, resolve, ...), as stored on the
    actions topic: the console writes it, the casework applies it once per ``action_id``."""

    action_id: str  # unique per action: a repeat of one id is applied once
    incident_id: str
    action: str
    actor: str  # the operator's account
    department: Department
    time: int  # epoch ms, when the operator acted
    assignee: str | None = None  # ASSIGN: a person or unit
    note: str | None = None

    def to_record(self) -> dict[str, Any]:
        """The action as an ``IncidentAction`` Avro record (department flattened to two fields)."""
        return {"action_id": self.action_id, "incident_id": self.incident_id,
                "action": self.action, "actor": self.actor,
                "department_level": self.department.level,
                "department_code": self.department.code, "time": self.time,
                "assignee": self.assignee, "note": self.note}

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> IncidentAction:
        """The inverse of to_record; raises KeyError when a required field is missing."""
        return cls(str(r["action_id"]), str(r["incident_id"]), str(r["action"]),
                   str(r["actor"]), Department(str(r["department_level"]),
                                               str(r["department_code"])),
                   int(r["time"]), r.get("assignee"), r.get("note"))


@dataclass(frozen=True, slots=True)
class CaseChange:
    """One change of a case, with the case as it stands after it."""

    incident_id: str
    version: int  # 1, 2, ... per case
    change: str
    state: str
    level: str  # the level that must act now (escalation moves it up)
    department_code: str | None  # that level's unit; None: unknown (unrouted)
    risk_level: str
    rule_id: str
    deadline: int | None  # to acknowledge, epoch ms; None once acknowledged or closed
    time: int  # when the change happened (the action's time, the deadline, the incident's)
    actor: str | None = None
    action: str | None = None
    assignee: str | None = None
    note: str | None = None
    escalations: tuple[str, ...] = field(default=())  # levels it was escalated to, in order
    #: the unit at each level, fixed when the case opened (who may see and act on it)
    chain: tuple[tuple[str, str | None], ...] = field(default=())

    def to_record(self) -> dict[str, Any]:
        """The change as a ``CaseChange`` Avro record, for the case changes topic."""
        return {"incident_id": self.incident_id, "version": self.version,
                "change": self.change, "state": self.state, "level": self.level,
                "department_code": self.department_code, "risk_level": self.risk_level,
                "rule_id": self.rule_id, "deadline": self.deadline, "time": self.time,
                "actor": self.actor, "action": self.action, "assignee": self.assignee,
                "note": self.note, "escalations": list(self.escalations),
                "chain": dict(self.chain) if self.chain else None}
