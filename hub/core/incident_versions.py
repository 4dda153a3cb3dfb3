"""Incident building and versioning: matches become incident versions.

A match within ``within`` of an open incident's last evidence updates it (new evidence or a higher
risk); otherwise it opens a new incident whose id comes from its rule, key and first event. Small
updates within ``version_every`` of the last published version are coalesced and published when
that interval ends (pack limits), the same on every run. A mixin of ``CorrelationEngine``, called
per match and per release, never per event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.core.logic import Match
from hub.core.registry import BuildingRegistry
from hub.core.routing import building_for, route_for
from hub.core.rule_runtime import RuleRuntime
from hub.core.rules import Rule, RulePack
from hub.core.state import KeyState, OpenIncident
from hub.model.incidents import Evidence, Incident, incident_id, risk_rank

if TYPE_CHECKING:
    from hub.core.outcomes import EngineStats, StepResult
    from hub.core.restore import StateRef


class IncidentVersions:
    """Opens, updates, coalesces and publishes the incidents of the engine's rules."""

    pack: RulePack
    registry: BuildingRegistry | None
    stats: EngineStats
    _dirty: set[StateRef] | None

    def _apply(
        self,
        rr: RuleRuntime,
        key: str,
        state: KeyState,
        matches: list[Match],
        now: int,
        result: StepResult,
    ) -> None:
        rule = rr.rule
        limits = self.pack.limits
        first_n, last_m, every = limits.evidence_first, limits.evidence_last, limits.version_every
        for evidence, risk in matches:
            inc = state.incident
            trigger = max(e.event_time for e in evidence)
            when = max(now, trigger)
            if inc is not None and trigger - inc.last_event_time <= rule.within:
                added = [e for e in evidence if not inc.knows(e)]
                raised = risk_rank(risk) > risk_rank(inc.risk_level)
                if not added and not raised:
                    continue
                if inc.held_at is not None and when >= inc.emitted_at + every:
                    # The held update's interval ended before this one: publish it as it stood
                    # then, whatever else this release holds (the same on every run).
                    self._publish(rr, key, state, inc.emitted_at + every, result)
                inc.add(added, first_n, last_m)
                inc.last_event_time = max(inc.last_event_time, trigger)
                if raised:
                    inc.risk_level = risk
                if rule.distinct_field is not None:
                    inc.values.update(e.fields.get(rule.distinct_field) for e in added)
                if not raised and when < inc.emitted_at + every:
                    # Coalesced: published when its interval ends (here, or _publish_held).
                    inc.held_at = when
                    rr.held[key] = state
                    continue
            else:
                if inc is not None and inc.held_at is not None:  # the closed one's last state
                    self._publish(rr, key, state, inc.emitted_at + every, result)
                evidence = sorted(evidence, key=lambda e: e.order_key)
                first = evidence[0]
                inc = state.incident = OpenIncident(
                    incident_id=incident_id(rule.id, key, first.kind, first.event_id,
                                            first.event_time),
                    version=0,
                    first_event_time=first.event_time,
                    last_event_time=trigger,
                    risk_level=risk,
                    evidence=[],
                    evidence_ids=set(),
                )
                inc.add(evidence, first_n, last_m)
                if rule.distinct_field is not None:
                    inc.values.update(e.fields.get(rule.distinct_field) for e in evidence)
                self.stats.incidents_opened += 1
            self._publish(rr, key, state, when, result)

    def _publish(self, rr: RuleRuntime, key: str, state: KeyState, when: int,
                 result: StepResult) -> None:
        """The open incident's next version, as it stands, emitted at event time ``when``."""
        inc = state.incident
        assert inc is not None
        inc.version += 1
        inc.emitted_at = when
        if inc.held_at is not None:
            inc.held_at = None
            rr.held.pop(key, None)
        result.incidents.append(self._incident(rr.rule, key, inc, when))
        if self._dirty is not None:
            self._dirty.add(("R", rr.rule.id, key))

    def _publish_held(self, rr: RuleRuntime, bound: int, result: StepResult) -> None:
        """Coalesced updates whose interval the rule's release has passed, each as it stood at
        the end of its interval (emitted then): every update before that end has been applied,
        none after it (_apply publishes first), so they are the same on every run."""
        every = self.pack.limits.version_every
        for key, state in list(rr.held.items()):
            inc = state.incident
            if inc is None or inc.held_at is None:
                rr.held.pop(key, None)
            elif inc.emitted_at + every <= bound:
                self._publish(rr, key, state, inc.emitted_at + every, result)

    def _incident(self, rule: Rule, key: str, inc: OpenIncident, now: int) -> Incident:
        building_id, building = building_for(inc.evidence, self.registry)
        grid_id = building.grid_id if building else None
        if not grid_id:
            grid_id = next(
                (str(e.fields["grid_id"]) for e in reversed(inc.evidence)
                 if e.fields.get("grid_id")),
                None,
            )
        route = route_for(inc.risk_level, building, grid_id, rule.route_level)
        self.stats.incident_versions += 1
        if route is None:
            self.stats.unrouted += 1
        return Incident(
            incident_id=inc.incident_id,
            version=inc.version,
            rule_id=rule.id,
            rule_type=rule.type,
            title=rule.title,
            risk_level=inc.risk_level,
            key=key,
            site_id=inc.evidence[0].site_id,
            building_id=building_id,
            grid_id=grid_id,
            first_event_time=inc.first_event_time,
            last_event_time=inc.last_event_time,
            evidence=tuple(Evidence(e.kind, e.event_id, e.event_time) for e in inc.evidence),
            route=route,
            unrouted=route is None,
            building=building,
            emitted_time=now,
            evidence_count=inc.evidence_count,
        )


__all__ = ["IncidentVersions"]
