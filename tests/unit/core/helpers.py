"""Builders for events in core tests: short, explicit, no codec involved."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hub.core.dedup import DedupLogic
from hub.core.engine import CorrelationEngine
from hub.core.registry import MemoryBuildingRegistry
from hub.core.rule_loading import load_rules, parse_documents
from hub.core.rules import RulePack
from hub.model.events import Building, Event
from hub.model.incidents import Incident

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def ev(kind: str, eid: str, t: int, site: str = "S1", **fields: Any) -> Event:
    base = {"event_id": eid, "vendor": "v", "device_id": fields.pop("device_id", "dev1"),
            "site_id": site, "event_time": T0 + t}
    base.update(fields)
    return Event.from_record(kind, base)


def alarm(eid: str, t: int, alarm_type: str = "INTRUSION", **kw: Any) -> Event:
    kw.setdefault("zone_id", "Z1")
    kw.setdefault("building_id", None)
    kw.setdefault("severity", 3)
    return ev("perimeter_alarm", eid, t, alarm_type=alarm_type, **kw)


def swipe(eid: str, t: int, result: str = "GRANTED", door: str = "D1", cred: str | None = "c1",
          **kw: Any) -> Event:
    kw.setdefault("building_id", "B1")
    return ev("access_swipe", eid, t, door_id=door, credential_hash=cred, method="CARD",
              result=result, direction="IN", **kw)


def face(eid: str, t: int, similarity: float = 0.95, **kw: Any) -> Event:
    kw.setdefault("building_id", "B1")
    return ev("face_match", eid, t, watchlist_id="W1", person_hash="p1", similarity=similarity,
              **kw)


def lookup(eid: str, t: int, requester: str, role: str = "VISITOR", **kw: Any) -> Event:
    kw.setdefault("building_id", "B1")
    return ev("building_lookup", eid, t, requester_hash=requester, requester_role=role,
              channel="QR_SCAN", **kw)


def report(eid: str, t: int, report_id: str, category: str = "DISPUTE", status: str = "REPORTED",
           **kw: Any) -> Event:
    kw.setdefault("building_id", "B1")
    kw.setdefault("grid_id", "G1")
    return ev("grid_report", eid, t, report_id=report_id, reporter_hash="r1",
              category=category, status=status, severity=2, description="", **kw)


def building(bid: str = "B1", site: str = "S1", grid: str = "G1", township: str = "T1",
             district: str = "D1", city: str = "C1", updated: int = 0) -> Building:
    return Building(bid, f"楼{bid}", "路1号", site, grid, township, district, city, "PS1", "GW1",
                    120, 10, (), T0 + updated)


# -- engine drivers ------------------------------------------------------------------------------

RULES_DIR = Path(__file__).resolve().parents[3] / "topology" / "rules"


def default_pack() -> RulePack:
    """The shipped rule pack (topology/rules)."""
    return load_rules(RULES_DIR)


def pack_of(*rules: dict[str, Any], lateness: int = 30_000, idle: int = 10_000,
            suppress: list[dict[str, Any]] | None = None) -> RulePack:
    """A pack of in-test rules; every source gets ``lateness`` and ``idle``."""
    doc: dict[str, Any] = {"rules": list(rules),
                           "sources": {"default": {"lateness": lateness, "idle": idle}}}
    if suppress:
        doc["suppress"] = suppress
    return parse_documents([("test.yaml", doc)])


def engine_for(pack: RulePack, *buildings: Building, dedup: bool = True) -> CorrelationEngine:
    registry = MemoryBuildingRegistry()
    for b in buildings:
        registry.put(b)
    return CorrelationEngine(pack, registry, dedup=DedupLogic() if dedup else None)


def feed(engine: CorrelationEngine, events: Iterable[Event], *, flush: bool = True
         ) -> list[Incident]:
    """Process ``events`` in the given (arrival) order, then flush; every version emitted."""
    out: list[Incident] = []
    for e in events:
        out.extend(engine.process(e).incidents)
    if flush:
        out.extend(engine.flush().incidents)
    return out


def run(pack: RulePack, events: Iterable[Event], *buildings: Building) -> list[Incident]:
    return feed(engine_for(pack, *buildings), events)


def of_rule(incidents: Iterable[Incident], rule_id: str) -> list[Incident]:
    return [i for i in incidents if i.rule_id == rule_id]


def ids(inc: Incident) -> list[str]:
    return [e.event_id for e in inc.evidence]


def final(incidents: Iterable[Incident]) -> dict[str, Incident]:
    """Last version of each incident by id."""
    last: dict[str, Incident] = {}
    for inc in incidents:
        if inc.incident_id not in last or inc.version > last[inc.incident_id].version:
            last[inc.incident_id] = inc
    return last


def fingerprint(incidents: Iterable[Incident]) -> list[tuple[Any, ...]]:
    """What must not depend on arrival order: sorted (id, version, risk, evidence ids)."""
    return sorted(
        (i.incident_id, i.version, i.risk_level, tuple(ids(i))) for i in incidents
    )


def load_rule_text(tmp_path: Path, body: str, contracts: tuple[Any, ...]) -> RulePack:
    """``body`` as the one rule file of a directory, loaded with the contract checks given
    (``hub.codec.rule_contracts`` or a part of it)."""
    (tmp_path / "r.yaml").write_text(body, encoding="utf-8")
    return load_rules(tmp_path, *contracts)


def rule_load_error(tmp_path: Path, body: str, contracts: tuple[Any, ...]) -> str:
    """The ConfigError that loading ``body`` (as :func:`load_rule_text`) raises."""
    import pytest

    from hub.model.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load_rule_text(tmp_path, body, contracts)
    return str(info.value)
