"""What the console shows, built from hub.cases and hub.incidents records; no I/O here.

The board is a read model: the latest CaseChange per incident (its state, level, deadline), the
case's history, and the latest incident version (evidence, building card). Every query takes the
operator's department, and only cases in its jurisdiction (its unit at the case's level or
above, hub.core.cases.in_jurisdiction) ever leave this module.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.core.cases import chain_of, in_jurisdiction
from hub.model.cases import Department
from hub.model.incidents import RISK_LEVELS, ROUTE_LEVELS, Incident, risk_rank, version_rank

#: Case states that still need someone.
ACTIVE_STATES = frozenset({"OPEN", "ACKNOWLEDGED", "ASSIGNED"})
#: Actions that count as the centre having taken the case up (for time to acknowledge).
TAKEN_UP = frozenset({"ACKNOWLEDGE", "ASSIGN", "RESOLVE", "FALSE_ALARM"})
HOUR = 3_600_000
#: Rows a board page draws at most (most urgent first); the rest are counted, not drawn.
BOARD_LIMIT = 5000


@dataclass
class Entry:
    """One case as the console keeps it: latest state, every version seen, the incident behind it
    (None until it arrives) and its routing chain level -> department code."""

    case: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    incident: dict[str, Any] | None = None
    chain: dict[str, str | None] = field(default_factory=dict)
    #: the chain came with the case (CaseChange v2): the casework's own, never recomputed
    chain_fixed: bool = False


@dataclass(frozen=True)
class Filters:
    """The board's query filters; None means "any", and cases not in an active state are hidden
    unless ``active_only`` is false."""

    level: str | None = None
    rule: str | None = None
    risk: str | None = None
    state: str | None = None
    active_only: bool = True

    @classmethod
    def from_query(cls, q: Mapping[str, str]) -> Filters:
        """Filters from the URL query; empty values mean "any" and ``all=1|true|on`` shows inactive
        cases too."""
        def pick(name: str) -> str | None:
            return q.get(name) or None
        return cls(pick("level"), pick("rule"), pick("risk"), pick("state"),
                   q.get("all") not in {"1", "true", "on"})


class Board:
    """Every case the console has read; thread-safe (a Kafka thread writes, the web reads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        self._pending: dict[str, dict[str, Any]] = {}  # incidents whose case is not read yet
        self.version = 0  # moves on every change (the live feed's cursor)

    # -- writes (the feed) ------------------------------------------------------------------

    def apply_case(self, record: Mapping[str, Any]) -> str:
        """Apply one case-change record (idempotent: a version already seen changes nothing, since
        the feed is at least once) and return its incident id."""
        iid = str(record["incident_id"])
        with self._lock:
            entry = self._entries.get(iid)
            if entry is None:
                entry = self._entries[iid] = Entry(dict(record))
                incident = self._pending.pop(iid, None)
                if incident is not None:
                    self._set_incident(entry, incident)
            if any(h["version"] == record["version"] for h in entry.history):
                return iid  # at least once: a change seen again
            entry.history.append(dict(record))
            entry.history.sort(key=lambda h: int(h["version"]))
            entry.case = entry.history[-1]
            chain = record.get("chain")
            if chain:  # the casework's chain, fixed when the case opened: who may act
                entry.chain, entry.chain_fixed = dict(chain), True
            elif not entry.chain or entry.incident is None:
                entry.chain.setdefault(str(record["level"]), record.get("department_code"))
            self.version += 1
        return iid

    def apply_incident(self, record: Mapping[str, Any]) -> str:
        """Attach an incident record to its case, keeping the one that stands (a CONFIRMED
        version over any PROVISIONAL one, then the newest: version_rank); an incident arriving
        before its case is held until the case comes. Returns the incident id."""
        iid = str(record["incident_id"])
        with self._lock:
            entry = self._entries.get(iid)
            if entry is None:
                old = self._pending.get(iid)
                if old is None or version_rank(old) <= version_rank(record):
                    self._pending[iid] = dict(record)
                return iid
            if entry.incident is None or version_rank(entry.incident) <= version_rank(record):
                self._set_incident(entry, dict(record))
                self.version += 1
        return iid

    @staticmethod
    def _set_incident(entry: Entry, record: dict[str, Any]) -> None:
        entry.incident = record
        if not entry.chain_fixed:  # a case record from before CaseChange v2
            entry.chain = chain_of(Incident.from_record(record))

    # -- reads (the web) --------------------------------------------------------------------

    def visible(self, dept: Department, iid: str) -> Entry | None:
        """A copy of the case ``iid`` if ``dept`` may see it; None both when it does not exist and
        when it belongs to another jurisdiction, so the two are indistinguishable."""
        with self._lock:
            entry = self._entries.get(iid)
            if entry is None or not self._sees(dept, entry):
                return None
            return Entry(dict(entry.case), [dict(h) for h in entry.history],
                         entry.incident and dict(entry.incident), dict(entry.chain),
                         entry.chain_fixed)

    def known(self, iid: str) -> bool:
        """Whether case ``iid`` is held, whatever its jurisdiction: never use it to answer a
        department."""
        with self._lock:
            return iid in self._entries

    def rows(self, dept: Department, filters: Filters = Filters(), limit: int = BOARD_LIMIT
             ) -> list[dict[str, Any]]:
        """The board for ``dept``: highest risk first, then the nearest deadline; at most
        ``limit`` rows (the page says how many it leaves out: :meth:`count`)."""
        with self._lock:
            entries = [e for e in self._entries.values()
                       if self._sees(dept, e) and _matches(e.case, filters)]
        entries.sort(key=lambda e: (-risk_rank(e.case["risk_level"]),
                                    e.case["deadline"] if e.case.get("deadline") is not None
                                    else 1 << 62, e.case["incident_id"]))
        return [_row(e) for e in entries[:limit]]

    def count(self, dept: Department, filters: Filters = Filters()) -> int:
        """How many cases ``dept`` would see under ``filters``, without the rows() limit."""
        with self._lock:
            return sum(1 for e in self._entries.values()
                       if self._sees(dept, e) and _matches(e.case, filters))

    def stats(self, dept: Department, now: int) -> dict[str, Any]:
        """What the plots draw: incidents per hour by risk (last 24 h), open cases per level,
        time to acknowledge (minutes from OPENED to the first taking-up action)."""
        per_hour: dict[str, list[int]] = {r: [0] * 24 for r in RISK_LEVELS}
        open_per_level: Counter[str] = Counter()
        to_ack: list[float] = []
        start = now - 24 * HOUR
        with self._lock:
            entries = [e for e in self._entries.values() if self._sees(dept, e)]
            for e in entries:
                opened = e.history[0] if e.history else e.case
                t = int(opened["time"])
                if start <= t < now:
                    per_hour[opened["risk_level"]][int((t - start) // HOUR)] += 1
                if e.case["state"] in ACTIVE_STATES:
                    open_per_level[e.case["level"]] += 1
                # an action the case took: a REJECTED one (another operator's was first, or
                # the case had moved up) took nothing up (an outside probe saw it counted)
                taken = next((h for h in e.history if h.get("action") in TAKEN_UP
                              and h.get("change") == "ACTION"), None)
                if taken is not None and opened.get("change") == "OPENED":
                    to_ack.append(max(0, int(taken["time"]) - t) / 60_000)
        return {"start": start, "per_hour": per_hour,
                "open_per_level": {lvl: open_per_level.get(lvl, 0) for lvl in ROUTE_LEVELS},
                "to_ack_minutes": sorted(to_ack)}

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @staticmethod
    def _sees(dept: Department, entry: Entry) -> bool:
        return in_jurisdiction(dept.level, dept.code, str(entry.case["level"]), entry.chain)


def _matches(case: Mapping[str, Any], f: Filters) -> bool:
    if f.active_only and case["state"] not in ACTIVE_STATES:
        return False
    return all(want is None or case.get(name) == want for name, want in (
        ("level", f.level), ("rule_id", f.rule), ("risk_level", f.risk), ("state", f.state)))


def _row(entry: Entry) -> dict[str, Any]:
    """A board row: the case as it stands, when it opened (``time`` is its latest change's), and
    the status of the incident behind it (PROVISIONAL until confirmed; None before it came)."""
    case = entry.case
    row = {k: case.get(k) for k in ("incident_id", "version", "state", "level",
                                    "department_code", "risk_level", "rule_id", "deadline",
                                    "time", "assignee", "escalations", "change")}
    row["opened"] = entry.history[0]["time"] if entry.history else case.get("time")
    row["status"] = entry.incident.get("status") if entry.incident is not None else None
    return row
