"""Precision and recall of incidents against ground-truth labels: ``hub evaluate``.

Pure: functions take lines and return values; the command reads the files and prints.

Matching
    The highest ``version`` of each ``incident_id`` is the incident. A label and an incident match
    when they have the same ``rule_id`` and the incident's evidence event ids intersect the label's
    event ids. Matching is one-to-one and maximal per rule (augmenting paths), visiting labels by
    (first_event_time, key) and preferring, among candidates, the largest overlap, then the
    earliest incident, then the smallest id: the same files always give the same answer.

Scores
    precision = matched / incidents, recall = matched / labels, per rule and overall (micro
    average). A rule with no incidents has precision 1.0 (nothing false was claimed); with no
    labels, recall 1.0. A matched pair whose risk levels differ is listed, not counted as a miss.

Rising trends
    ``hub evaluate --warnings`` scores risk warnings against planted trends: see
    hub.replay.evaluate_trends, which reads its lines with the readers here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.codec import json_names
from hub.model.errors import HubError, ValidationError
from hub.model.incidents import CONFIRMED, RISK_LEVELS, STATUSES

#: The ``kind`` of a planted-trend label line (hub.replay.simulate.labels.TREND_LABEL_KIND);
#: read_labels skips them, hub.replay.evaluate_trends reads them.
TREND_KIND = "risk_trend"


class EvaluationInputError(HubError):
    """A labels or incidents file is malformed; the message starts with ``FILE:LINE``."""


@dataclass(frozen=True)
class ExpectedLabel:
    """One ground-truth situation (a labels line): what an incident must match."""

    rule_id: str
    key: str
    event_ids: tuple[str, ...]
    risk_level: str | None
    first_event_time: int | None
    lineno: int

    def sort_key(self) -> tuple[int, str, tuple[str, ...], int]:
        """Order for reports: by first event time, then key, so missed labels read chronologically
        and identically on every run."""
        return (self.first_event_time or 0, self.key, self.event_ids, self.lineno)


@dataclass(frozen=True)
class ActualIncident:
    """The highest CONFIRMED version of one incident: what the engine claimed."""

    incident_id: str
    version: int
    rule_id: str
    key: str
    risk_level: str | None
    evidence_ids: tuple[str, ...]
    first_event_time: int | None
    lineno: int

    def sort_key(self) -> tuple[int, str]:
        """Order for reports: by first event time, then id, so extra incidents read chronologically
        and identically on every run."""
        return (self.first_event_time or 0, self.incident_id)


@dataclass(frozen=True)
class Score:
    """Counts behind a precision and a recall (per rule, or overall)."""

    expected: int
    actual: int
    matched: int

    @property
    def precision(self) -> float:
        """matched / actual; 1.0 when there were no incidents (nothing claimed, nothing wrong)."""
        return self.matched / self.actual if self.actual else 1.0

    @property
    def recall(self) -> float:
        """matched / expected; 1.0 when there were no labels (nothing to find, nothing missed)."""
        return self.matched / self.expected if self.expected else 1.0

    def to_record(self) -> dict[str, Any]:
        """The score as JSON for ``--report``, precision and recall included."""
        return {
            "expected": self.expected,
            "actual": self.actual,
            "matched": self.matched,
            "precision": round(self.precision, 6),
            "recall": round(self.recall, 6),
        }


@dataclass(frozen=True)
class Evaluation:
    """The whole answer: scores, and which labels and incidents matched, were missed, or extra."""

    per_rule: dict[str, Score]
    overall: Score
    matches: list[tuple[ExpectedLabel, ActualIncident]] = field(default_factory=list)
    missed: list[ExpectedLabel] = field(default_factory=list)
    extra: list[ActualIncident] = field(default_factory=list)

    @property
    def risk_mismatches(self) -> list[tuple[ExpectedLabel, ActualIncident]]:
        """Matched pairs whose risk level differs from the label's (labels without one never
        differ): reported, but not counted against precision or recall."""
        return [
            (lab, inc)
            for lab, inc in self.matches
            if lab.risk_level is not None and lab.risk_level != inc.risk_level
        ]

    def failures(self, min_recall: float | None, min_precision: float | None) -> list[str]:
        """Why the thresholds are not met (empty when they are)."""
        out = []
        if min_recall is not None and self.overall.recall < min_recall:
            out.append(f"recall {self.overall.recall:.4f} < --min-recall {min_recall}")
        if min_precision is not None and self.overall.precision < min_precision:
            out.append(f"precision {self.overall.precision:.4f} < --min-precision {min_precision}")
        return out

    def to_record(self) -> dict[str, Any]:
        """The evaluation as the JSON ``--report`` writes."""
        return {
            "overall": self.overall.to_record(),
            "rules": {rule: s.to_record() for rule, s in self.per_rule.items()},
            "missed": [
                {
                    "rule_id": m.rule_id,
                    "key": m.key,
                    "first_event_time": m.first_event_time,
                    "event_ids": list(m.event_ids),
                    "line": m.lineno,
                }
                for m in self.missed
            ],
            "extra": [
                {
                    "rule_id": x.rule_id,
                    "incident_id": x.incident_id,
                    "key": x.key,
                    "first_event_time": x.first_event_time,
                    "version": x.version,
                    "line": x.lineno,
                }
                for x in self.extra
            ],
            "risk_mismatches": [
                {
                    "rule_id": lab.rule_id,
                    "key": lab.key,
                    "incident_id": inc.incident_id,
                    "expected": lab.risk_level,
                    "actual": inc.risk_level,
                }
                for lab, inc in self.risk_mismatches
            ],
        }


# -- reading -------------------------------------------------------------------------------------


def json_objects(lines: Iterable[str], source: str) -> Iterable[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line; a bad line raises with ``FILE:LINE``."""
    for lineno, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            obj = json_names.loads(text)
        except ValueError as exc:
            raise EvaluationInputError(f"{source}:{lineno}: {json_names.why_not_json(exc)}"
                                       ) from exc
        except RecursionError:
            raise EvaluationInputError(f"{source}:{lineno}: JSON nested too deeply; labels and "
                                       "incidents are flat objects") from None
        if not isinstance(obj, dict):
            raise EvaluationInputError(
                f"{source}:{lineno}: expected a JSON object, got {type(obj).__name__}"
            )
        try:
            json_names.refuse_twice(obj)
        except ValidationError as exc:
            raise EvaluationInputError(f"{source}:{lineno}: {exc}") from None
        yield lineno, obj


def required_str(obj: Mapping[str, Any], name: str, where: str) -> str:
    """``obj[name]``, which must be a non-empty string (else the error names ``where``)."""
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise EvaluationInputError(f"{where}: {name}: missing or not a non-empty string")
    return value


def optional_int(obj: Mapping[str, Any], name: str, where: str) -> int | None:
    """``obj[name]`` as epoch milliseconds, or None when absent; anything else is an error."""
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise EvaluationInputError(f"{where}: {name}: expected epoch milliseconds (an integer)")
    return value


#: What a situation label may say (docs/toolkit.md, "The label format")
LABEL_FIELDS = frozenset({"rule_id", "key", "event_ids", "risk_level", "first_event_time"})


def read_labels(lines: Iterable[str], source: str = "labels") -> list[ExpectedLabel]:
    """Labels as written by ``hub simulate --labels`` (rule_id, key, event_ids, ...)."""
    out = []
    for lineno, obj in json_objects(lines, source):
        where = f"{source}:{lineno}"
        if obj.get("kind") == TREND_KIND:
            continue  # a planted trend: read_trend_labels
        unknown = sorted(set(obj) - LABEL_FIELDS)
        if unknown:  # a misspelt "risk_levle" would otherwise leave the level unchecked
            raise EvaluationInputError(f"{where}: {unknown[0][:40]}: not a label field; use "
                                       f"{', '.join(sorted(LABEL_FIELDS))}")
        ids = obj.get("event_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            raise EvaluationInputError(f"{where}: event_ids: expected a non-empty list of strings")
        risk = obj.get("risk_level")
        if risk is not None and risk not in RISK_LEVELS:
            raise EvaluationInputError(f"{where}: risk_level: {str(risk)[:40]!r} is not a risk "
                                       f"level; use one of {', '.join(RISK_LEVELS)}, or leave "
                                       "it out")
        out.append(
            ExpectedLabel(
                rule_id=required_str(obj, "rule_id", where),
                key=str(obj.get("key") or ""),
                event_ids=tuple(ids),
                risk_level=risk if isinstance(risk, str) else None,
                first_event_time=optional_int(obj, "first_event_time", where),
                lineno=lineno,
            )
        )
    return out


def read_incidents(lines: Iterable[str], source: str = "incidents") -> list[ActualIncident]:
    """Incident lines (``hub correlate`` output); the highest version of each id is kept.

    Only CONFIRMED versions count (a line without ``status`` is one): PROVISIONAL and RETRACTED
    lines (``hub correlate --early``) are what operators saw before the watermark, not results.
    """
    best: dict[str, ActualIncident] = {}
    for lineno, obj in json_objects(lines, source):
        where = f"{source}:{lineno}"
        kind = obj.get("kind", "incident")
        if kind != "incident":
            raise EvaluationInputError(f"{where}: kind: {kind!r} is not an incident line")
        status = obj.get("status", "CONFIRMED")
        if status not in STATUSES:
            raise EvaluationInputError(f"{where}: status: {status!r} is not one of "
                                       f"{', '.join(STATUSES)}")
        if status != CONFIRMED:
            continue
        version = obj.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise EvaluationInputError(f"{where}: version: expected an integer >= 1")
        evidence = obj.get("evidence")
        if not isinstance(evidence, list):
            raise EvaluationInputError(f"{where}: evidence: expected a list of {{event_id, ...}}")
        ids = []
        for n, item in enumerate(evidence):
            if not isinstance(item, dict) or not isinstance(item.get("event_id"), str):
                raise EvaluationInputError(f"{where}: evidence[{n}].event_id: missing")
            ids.append(item["event_id"])
        risk = obj.get("risk_level")
        incident = ActualIncident(
            incident_id=required_str(obj, "incident_id", where),
            version=version,
            rule_id=required_str(obj, "rule_id", where),
            key=str(obj.get("key") or ""),
            risk_level=risk if isinstance(risk, str) else None,
            evidence_ids=tuple(ids),
            first_event_time=optional_int(obj, "first_event_time", where),
            lineno=lineno,
        )
        seen = best.get(incident.incident_id)
        if seen is None or incident.version >= seen.version:
            best[incident.incident_id] = incident
    return sorted(best.values(), key=lambda i: (i.rule_id, *i.sort_key()))


# -- matching ------------------------------------------------------------------------------------


def _match_rule(labels: list[ExpectedLabel], incidents: list[ActualIncident]) -> dict[int, int]:
    """Maximum one-to-one matching label index -> incident index (Kuhn, deterministic order)."""
    by_event: dict[str, list[int]] = {}
    for j, inc in enumerate(incidents):
        for eid in inc.evidence_ids:
            by_event.setdefault(eid, []).append(j)
    candidates: list[list[int]] = []
    for lab in labels:
        overlap: dict[int, int] = {}
        for eid in dict.fromkeys(lab.event_ids):
            for j in by_event.get(eid, ()):
                overlap[j] = overlap.get(j, 0) + 1
        candidates.append(sorted(overlap, key=lambda j: (-overlap[j], *incidents[j].sort_key())))
    owner: dict[int, int] = {}  # incident -> label

    def augment(i: int, visited: set[int]) -> bool:
        for j in candidates[i]:
            if j in visited:
                continue
            visited.add(j)
            if j not in owner or augment(owner[j], visited):
                owner[j] = i
                return True
        return False

    for i in range(len(labels)):
        augment(i, set())
    return {i: j for j, i in owner.items()}


def evaluate(labels: list[ExpectedLabel], incidents: list[ActualIncident]) -> Evaluation:
    """Match labels to incidents rule by rule, one to one (module docstring), and score them."""
    rules = sorted({lab.rule_id for lab in labels} | {inc.rule_id for inc in incidents})
    per_rule: dict[str, Score] = {}
    matches: list[tuple[ExpectedLabel, ActualIncident]] = []
    missed: list[ExpectedLabel] = []
    extra: list[ActualIncident] = []
    for rule in rules:
        labs = sorted((lab for lab in labels if lab.rule_id == rule), key=ExpectedLabel.sort_key)
        incs = sorted(
            (inc for inc in incidents if inc.rule_id == rule), key=ActualIncident.sort_key
        )
        pairs = _match_rule(labs, incs)
        used = set(pairs.values())
        matches.extend((labs[i], incs[j]) for i, j in sorted(pairs.items()))
        missed.extend(lab for i, lab in enumerate(labs) if i not in pairs)
        extra.extend(inc for j, inc in enumerate(incs) if j not in used)
        per_rule[rule] = Score(len(labs), len(incs), len(pairs))
    overall = Score(
        sum(s.expected for s in per_rule.values()),
        sum(s.actual for s in per_rule.values()),
        sum(s.matched for s in per_rule.values()),
    )
    return Evaluation(per_rule, overall, matches, missed, extra)


# -- presenting ----------------------------------------------------------------------------------


def _pct(score: Score, which: str) -> str:
    if which == "precision":
        return f"{score.precision:.3f}" if score.actual else "  —  "
    return f"{score.recall:.3f}" if score.expected else "  —  "


def format_report(ev: Evaluation, *, limit: int = 50) -> str:
    """The table and the lists a person reads (at most ``limit`` entries per list)."""
    width = max([len("overall"), *(len(r) for r in ev.per_rule)])
    head = f"{'rule':<{width}}  expected  actual  matched  precision  recall"
    lines = [head, "-" * len(head)]
    for rule, s in [*ev.per_rule.items(), ("overall", ev.overall)]:
        if rule == "overall":
            lines.append("-" * len(head))
        lines.append(
            f"{rule:<{width}}  {s.expected:>8}  {s.actual:>6}  {s.matched:>7}  "
            f"{_pct(s, 'precision'):>9}  {_pct(s, 'recall'):>6}"
        )
    if ev.missed:
        lines.append(f"\nmissed ({len(ev.missed)}): labels with no matching incident")
        for m in ev.missed[:limit]:
            lines.append(
                f"  {m.rule_id} key={m.key} first_event_time={m.first_event_time} "
                f"events={','.join(m.event_ids[:4])}{'…' if len(m.event_ids) > 4 else ''} "
                f"(line {m.lineno})"
            )
    if ev.extra:
        lines.append(f"\nextra ({len(ev.extra)}): incidents no label accounts for")
        for x in ev.extra[:limit]:
            lines.append(
                f"  {x.rule_id} key={x.key} {x.incident_id} v{x.version} "
                f"first_event_time={x.first_event_time} (line {x.lineno})"
            )
    mismatches = ev.risk_mismatches
    if mismatches:
        lines.append(f"\nrisk level differs ({len(mismatches)}): matched, but not the same level")
        for lab, inc in mismatches[:limit]:
            lines.append(
                f"  {lab.rule_id} key={lab.key} expected {lab.risk_level}, "
                f"got {inc.risk_level} ({inc.incident_id})"
            )
    for items in (ev.missed, ev.extra, mismatches):
        if len(items) > limit:
            lines.append(f"  … {len(items) - limit} more of one list above (use --json)")
    return "\n".join(lines)
