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

Rising trends (``hub evaluate --warnings``)
    Label lines of kind ``risk_trend`` (``hub simulate --trends``) are planted trends; the
    incident reader skips them. A trend is *recalled* when a final RiskWarning has its area
    (level and code), case source and type and week start. A final warning is *explained* when a
    trend has its case source, type and week and the warning's area is the trend's or one that
    encloses it (the trend's township, district, city). recall = recalled / trends, precision =
    explained / final warnings, per case type and overall; per trend, recalled and the warnings
    it explains. Early warnings (``final`` false) are not results and are not read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.model.errors import HubError
from hub.model.incidents import CONFIRMED, STATUSES

#: The ``kind`` of a planted-trend label line (hub.replay.simulate.TREND_LABEL_KIND).
TREND_KIND = "risk_trend"


class EvaluationInputError(HubError):
    """A labels or incidents file is malformed; the message starts with ``FILE:LINE``."""


@dataclass(frozen=True)
class ExpectedLabel:
    rule_id: str
    key: str
    event_ids: tuple[str, ...]
    risk_level: str | None
    first_event_time: int | None
    lineno: int

    def sort_key(self) -> tuple[int, str, tuple[str, ...], int]:
        return (self.first_event_time or 0, self.key, self.event_ids, self.lineno)


@dataclass(frozen=True)
class ActualIncident:
    incident_id: str
    version: int
    rule_id: str
    key: str
    risk_level: str | None
    evidence_ids: tuple[str, ...]
    first_event_time: int | None
    lineno: int

    def sort_key(self) -> tuple[int, str]:
        return (self.first_event_time or 0, self.incident_id)


@dataclass(frozen=True)
class Score:
    expected: int
    actual: int
    matched: int

    @property
    def precision(self) -> float:
        return self.matched / self.actual if self.actual else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.expected if self.expected else 1.0

    def to_record(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "actual": self.actual,
            "matched": self.matched,
            "precision": round(self.precision, 6),
            "recall": round(self.recall, 6),
        }


@dataclass(frozen=True)
class Evaluation:
    per_rule: dict[str, Score]
    overall: Score
    matches: list[tuple[ExpectedLabel, ActualIncident]] = field(default_factory=list)
    missed: list[ExpectedLabel] = field(default_factory=list)
    extra: list[ActualIncident] = field(default_factory=list)

    @property
    def risk_mismatches(self) -> list[tuple[ExpectedLabel, ActualIncident]]:
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


def _objects(lines: Iterable[str], source: str) -> Iterable[tuple[int, dict[str, Any]]]:
    for lineno, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise EvaluationInputError(f"{source}:{lineno}: not valid JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise EvaluationInputError(
                f"{source}:{lineno}: expected a JSON object, got {type(obj).__name__}"
            )
        yield lineno, obj


def _str(obj: Mapping[str, Any], name: str, where: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise EvaluationInputError(f"{where}: {name}: missing or not a non-empty string")
    return value


def _opt_int(obj: Mapping[str, Any], name: str, where: str) -> int | None:
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise EvaluationInputError(f"{where}: {name}: expected epoch milliseconds (an integer)")
    return value


def read_labels(lines: Iterable[str], source: str = "labels") -> list[ExpectedLabel]:
    """Labels as written by ``hub simulate --labels`` (rule_id, key, event_ids, ...)."""
    out = []
    for lineno, obj in _objects(lines, source):
        where = f"{source}:{lineno}"
        if obj.get("kind") == TREND_KIND:
            continue  # a planted trend: read_trend_labels
        ids = obj.get("event_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            raise EvaluationInputError(f"{where}: event_ids: expected a non-empty list of strings")
        risk = obj.get("risk_level")
        out.append(
            ExpectedLabel(
                rule_id=_str(obj, "rule_id", where),
                key=str(obj.get("key") or ""),
                event_ids=tuple(ids),
                risk_level=risk if isinstance(risk, str) else None,
                first_event_time=_opt_int(obj, "first_event_time", where),
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
    for lineno, obj in _objects(lines, source):
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
            incident_id=_str(obj, "incident_id", where),
            version=version,
            rule_id=_str(obj, "rule_id", where),
            key=str(obj.get("key") or ""),
            risk_level=risk if isinstance(risk, str) else None,
            evidence_ids=tuple(ids),
            first_event_time=_opt_int(obj, "first_event_time", where),
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


# -- rising trends -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectedTrend:
    """A planted rising trend (a ``risk_trend`` label line)."""

    area_level: str
    area_code: str
    case_source: str
    case_type: str
    week_start: int
    week_label: str
    count: int | None
    enclosing: tuple[tuple[str, str], ...]  # (level, code) of the areas that enclose it
    lineno: int

    def explains(self, w: ActualWarning) -> bool:
        if (w.case_source, w.case_type, w.week_start) != (
                self.case_source, self.case_type, self.week_start):
            return False
        area = (w.area_level, w.area_code)
        return area == (self.area_level, self.area_code) or area in self.enclosing

    def recalled_by(self, w: ActualWarning) -> bool:
        return self.explains(w) and (w.area_level, w.area_code) == (
            self.area_level, self.area_code)


@dataclass(frozen=True)
class ActualWarning:
    """A final RiskWarning (``hub analytics`` risk_warnings.jsonl)."""

    warning_id: str
    area_level: str
    area_code: str
    case_source: str
    case_type: str
    week_start: int
    week_label: str
    count: int | None
    p_value: float | None
    lineno: int

    def to_record(self) -> dict[str, Any]:
        return {
            "warning_id": self.warning_id, "area_level": self.area_level,
            "area_code": self.area_code, "case_source": self.case_source,
            "case_type": self.case_type, "week_label": self.week_label,
            "week_start": self.week_start, "count": self.count, "p_value": self.p_value,
            "line": self.lineno,
        }


def _int(obj: Mapping[str, Any], name: str, where: str) -> int:
    value = _opt_int(obj, name, where)
    if value is None:
        raise EvaluationInputError(f"{where}: {name}: missing (epoch milliseconds)")
    return value


def read_trend_labels(lines: Iterable[str], source: str = "labels") -> list[ExpectedTrend]:
    """The ``risk_trend`` lines of a labels file (other labels are skipped)."""
    out = []
    for lineno, obj in _objects(lines, source):
        if obj.get("kind") != TREND_KIND:
            continue
        where = f"{source}:{lineno}"
        areas = obj.get("areas") or {}
        if not isinstance(areas, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in areas.items()):
            raise EvaluationInputError(f"{where}: areas: expected an object of level: code")
        out.append(ExpectedTrend(
            area_level=_str(obj, "area_level", where),
            area_code=_str(obj, "area_code", where),
            case_source=str(obj.get("case_source") or "grid_report"),
            case_type=_str(obj, "case_type", where),
            week_start=_int(obj, "week_start", where),
            week_label=str(obj.get("week_label") or ""),
            count=_opt_int(obj, "count", where),
            enclosing=tuple(sorted(areas.items())),
            lineno=lineno,
        ))
    return sorted(out, key=lambda t: (t.week_start, t.area_level, t.area_code, t.case_type))


def read_warnings(lines: Iterable[str], source: str = "warnings") -> list[ActualWarning]:
    """The final warnings of a risk_warnings.jsonl (``hub analytics``), one per warning_id."""
    best: dict[str, ActualWarning] = {}
    for lineno, obj in _objects(lines, source):
        where = f"{source}:{lineno}"
        kind = obj.get("kind", "risk_warning")
        if kind != "risk_warning":
            raise EvaluationInputError(f"{where}: kind: {kind!r} is not a risk_warning line")
        final = obj.get("final")
        if not isinstance(final, bool):
            raise EvaluationInputError(f"{where}: final: expected true or false")
        if not final:
            continue
        p_value = obj.get("p_value")
        warning = ActualWarning(
            warning_id=_str(obj, "warning_id", where),
            area_level=_str(obj, "area_level", where),
            area_code=_str(obj, "area_code", where),
            case_source=_str(obj, "case_source", where),
            case_type=_str(obj, "case_type", where),
            week_start=_int(obj, "week_start", where),
            week_label=str(obj.get("week_label") or ""),
            count=_opt_int(obj, "count", where),
            p_value=float(p_value) if isinstance(p_value, int | float) else None,
            lineno=lineno,
        )
        best[warning.warning_id] = warning
    return sorted(best.values(), key=lambda w: (w.week_start, w.case_type, w.area_level,
                                                w.area_code, w.case_source))


@dataclass(frozen=True)
class TrendResult:
    trend: ExpectedTrend
    recalled: bool
    warnings: tuple[ActualWarning, ...]  # the final warnings it explains (any enclosing area)


@dataclass(frozen=True)
class TrendEvaluation:
    results: list[TrendResult]
    per_type: dict[str, Score]  # expected = trends, actual = warnings, matched = see below
    overall: Score
    explained: int  # final warnings explained by a trend
    unexplained: list[ActualWarning]

    @property
    def recall(self) -> float:
        return self.overall.recall

    @property
    def precision(self) -> float:
        return self.explained / self.overall.actual if self.overall.actual else 1.0

    def failures(self, min_recall: float | None, min_precision: float | None) -> list[str]:
        out = []
        if min_recall is not None and self.recall < min_recall:
            out.append(f"trend recall {self.recall:.4f} < --min-recall {min_recall}")
        if min_precision is not None and self.precision < min_precision:
            out.append(f"warning precision {self.precision:.4f} < --min-precision "
                       f"{min_precision}")
        return out

    def to_record(self) -> dict[str, Any]:
        return {
            "overall": {"trends": self.overall.expected, "recalled": self.overall.matched,
                        "warnings": self.overall.actual, "explained": self.explained,
                        "recall": round(self.recall, 6), "precision": round(self.precision, 6)},
            "case_types": {t: _type_record(s) for t, s in self.per_type.items()},
            "trends": [
                {"area_level": r.trend.area_level, "area_code": r.trend.area_code,
                 "case_source": r.trend.case_source, "case_type": r.trend.case_type,
                 "week_label": r.trend.week_label, "week_start": r.trend.week_start,
                 "planted": r.trend.count, "recalled": r.recalled,
                 "warnings": [f"{w.area_level}:{w.area_code}" for w in r.warnings],
                 "line": r.trend.lineno}
                for r in self.results
            ],
            "unexplained": [w.to_record() for w in self.unexplained],
        }


def _type_record(s: Score) -> dict[str, Any]:
    # for a case type, "matched" holds the explained warnings; recall is kept per trend below
    return {"trends": s.expected, "warnings": s.actual, "explained": s.matched,
            "precision": round(s.precision, 6)}


def evaluate_trends(trends: list[ExpectedTrend], warnings: list[ActualWarning]
                    ) -> TrendEvaluation:
    """Recall of the planted trends and precision of the final warnings (module docstring)."""
    rank = {level: i for i, level in enumerate(("GRID", "TOWNSHIP", "DISTRICT", "CITY"))}
    results = [TrendResult(t, any(t.recalled_by(w) for w in warnings), tuple(sorted(
        (w for w in warnings if t.explains(w)),
        key=lambda w: (rank.get(w.area_level, len(rank)), w.area_code)))) for t in trends]
    explained_ids = {w.warning_id for r in results for w in r.warnings}
    unexplained = [w for w in warnings if w.warning_id not in explained_ids]
    per_type: dict[str, Score] = {}
    for case_type in sorted({t.case_type for t in trends} | {w.case_type for w in warnings}):
        ws = [w for w in warnings if w.case_type == case_type]
        per_type[case_type] = Score(sum(1 for t in trends if t.case_type == case_type), len(ws),
                                    sum(1 for w in ws if w.warning_id in explained_ids))
    overall = Score(len(trends), len(warnings), sum(1 for r in results if r.recalled))
    return TrendEvaluation(results, per_type, overall, len(explained_ids), unexplained)


def format_trend_report(ev: TrendEvaluation, *, limit: int = 50) -> str:
    """Per planted trend, per case type and overall; the warnings no trend explains."""
    lines = ["planted trends (recalled: a final warning in its own area, type and week)"]
    head = (f"{'week':<9} {'area':<7} {'code':<20} {'case_type':<18} {'planted':>7}  "
            f"{'recalled':<8}  warnings (explained, by area)")
    lines += [head, "-" * len(head)]
    for r in ev.results:
        t = r.trend
        where = ", ".join(f"{w.area_level}:{w.area_code}" for w in r.warnings) or "-"
        lines.append(f"{t.week_label:<9} {t.area_level:<7} {t.area_code:<20} "
                     f"{t.case_type:<18} {t.count if t.count is not None else '-':>7}  "
                     f"{'yes' if r.recalled else 'NO':<8}  {where}")
    width = max([len("overall"), *(len(k) for k in ev.per_type)])
    head = f"{'case_type':<{width}}  trends  recalled  warnings  explained  precision  recall"
    lines += ["", head, "-" * len(head)]
    recalled_by_type: dict[str, int] = {}
    for r in ev.results:
        case_type = r.trend.case_type
        recalled_by_type[case_type] = recalled_by_type.get(case_type, 0) + r.recalled
    for case_type, s in ev.per_type.items():
        rec = recalled_by_type.get(case_type, 0)
        recall = f"{rec / s.expected:.3f}" if s.expected else "  —  "
        precision = f"{s.precision:.3f}" if s.actual else "  —  "
        lines.append(f"{case_type:<{width}}  {s.expected:>6}  {rec:>8}  {s.actual:>8}  "
                     f"{s.matched:>9}  {precision:>9}  {recall:>6}")
    o = ev.overall
    lines.append("-" * len(head))
    lines.append(
        f"{'overall':<{width}}  {o.expected:>6}  {o.matched:>8}  {o.actual:>8}  "
        f"{ev.explained:>9}  {(f'{ev.precision:.3f}' if o.actual else '  —  '):>9}  "
        f"{(f'{ev.recall:.3f}' if o.expected else '  —  '):>6}")
    if ev.unexplained:
        lines.append(f"\nunexplained ({len(ev.unexplained)}): final warnings no planted trend "
                     "accounts for")
        for w in ev.unexplained[:limit]:
            p = f"{w.p_value:.2e}" if w.p_value is not None else "-"
            lines.append(f"  {w.week_label} {w.area_level}:{w.area_code} {w.case_source} "
                         f"{w.case_type} count={w.count} p={p} (line {w.lineno})")
        if len(ev.unexplained) > limit:
            lines.append(f"  … {len(ev.unexplained) - limit} more (use --json)")
    return "\n".join(lines)
