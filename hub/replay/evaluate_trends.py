"""Risk warnings against planted rising trends: ``hub evaluate --warnings``.

Incidents answer "did the engine see this situation"; warnings answer "did the analytics see this
trend". The two are scored differently (a warning may be explained by a trend in an enclosing
area), so the trend side has its own module. Pure, like hub.replay.evaluate.

Label lines of kind ``risk_trend`` (``hub simulate --trends``) are planted trends; the
incident reader skips them. A trend is *recalled* when a final RiskWarning has its area
(level and code), case source and type and week start. A final warning is *explained* when a
trend has its case source, type and week and the warning's area is the trend's or one that
encloses it (the trend's township, district, city). recall = recalled / trends, precision =
explained / final warnings, per case type and overall; per trend, recalled and the warnings
it explains. Early warnings (``final`` false) are not results and are not read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hub.replay.evaluate import (
    TREND_KIND,
    EvaluationInputError,
    Score,
    json_objects,
    optional_int,
    required_str,
)


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
        """Whether warning ``w`` is accounted for by this trend: same case type and week, in the
        trend's area or one enclosing it (so it does not count as unexplained)."""
        if (w.case_source, w.case_type, w.week_start) != (
                self.case_source, self.case_type, self.week_start):
            return False
        area = (w.area_level, w.area_code)
        return area == (self.area_level, self.area_code) or area in self.enclosing

    def recalled_by(self, w: ActualWarning) -> bool:
        """Whether ``w`` recalls this trend: explains() in the trend's own area, not just an
        enclosing one."""
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
        """The warning as JSON for the ``--report``'s lists."""
        return {
            "warning_id": self.warning_id, "area_level": self.area_level,
            "area_code": self.area_code, "case_source": self.case_source,
            "case_type": self.case_type, "week_label": self.week_label,
            "week_start": self.week_start, "count": self.count, "p_value": self.p_value,
            "line": self.lineno,
        }


def _int(obj: Mapping[str, Any], name: str, where: str) -> int:
    value = optional_int(obj, name, where)
    if value is None:
        raise EvaluationInputError(f"{where}: {name}: missing (epoch milliseconds)")
    return value


def read_trend_labels(lines: Iterable[str], source: str = "labels") -> list[ExpectedTrend]:
    """The ``risk_trend`` lines of a labels file (other labels are skipped)."""
    out = []
    for lineno, obj in json_objects(lines, source):
        if obj.get("kind") != TREND_KIND:
            continue
        where = f"{source}:{lineno}"
        areas = obj.get("areas") or {}
        if not isinstance(areas, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in areas.items()):
            raise EvaluationInputError(f"{where}: areas: expected an object of level: code")
        out.append(ExpectedTrend(
            area_level=required_str(obj, "area_level", where),
            area_code=required_str(obj, "area_code", where),
            case_source=str(obj.get("case_source") or "grid_report"),
            case_type=required_str(obj, "case_type", where),
            week_start=_int(obj, "week_start", where),
            week_label=str(obj.get("week_label") or ""),
            count=optional_int(obj, "count", where),
            enclosing=tuple(sorted(areas.items())),
            lineno=lineno,
        ))
    return sorted(out, key=lambda t: (t.week_start, t.area_level, t.area_code, t.case_type))


def read_warnings(lines: Iterable[str], source: str = "warnings") -> list[ActualWarning]:
    """The final warnings of a risk_warnings.jsonl (``hub analytics``), one per warning_id."""
    best: dict[str, ActualWarning] = {}
    for lineno, obj in json_objects(lines, source):
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
            warning_id=required_str(obj, "warning_id", where),
            area_level=required_str(obj, "area_level", where),
            area_code=required_str(obj, "area_code", where),
            case_source=required_str(obj, "case_source", where),
            case_type=required_str(obj, "case_type", where),
            week_start=_int(obj, "week_start", where),
            week_label=str(obj.get("week_label") or ""),
            count=optional_int(obj, "count", where),
            p_value=float(p_value) if isinstance(p_value, int | float) else None,
            lineno=lineno,
        )
        best[warning.warning_id] = warning
    return sorted(best.values(), key=lambda w: (w.week_start, w.case_type, w.area_level,
                                                w.area_code, w.case_source))


@dataclass(frozen=True)
class TrendResult:
    """One planted trend's outcome: recalled or not, and the warnings it accounts for."""

    trend: ExpectedTrend
    recalled: bool
    warnings: tuple[ActualWarning, ...]  # the final warnings it explains (any enclosing area)


@dataclass(frozen=True)
class TrendEvaluation:
    """The whole answer for ``--warnings``: per trend, per case type, overall, and the rest."""

    results: list[TrendResult]
    per_type: dict[str, Score]  # expected = trends, actual = warnings, matched = see below
    overall: Score
    explained: int  # final warnings explained by a trend
    unexplained: list[ActualWarning]

    @property
    def recall(self) -> float:
        """The share of planted trends recalled by a warning in their own area; 1.0 with none
        planted."""
        return self.overall.recall

    @property
    def precision(self) -> float:
        """The share of final warnings some trend explains; 1.0 when there were none."""
        return self.explained / self.overall.actual if self.overall.actual else 1.0

    def failures(self, min_recall: float | None, min_precision: float | None) -> list[str]:
        """Why the thresholds are not met (empty when they are): the CI gate for trends."""
        out = []
        if min_recall is not None and self.recall < min_recall:
            out.append(f"trend recall {self.recall:.4f} < --min-recall {min_recall}")
        if min_precision is not None and self.precision < min_precision:
            out.append(f"warning precision {self.precision:.4f} < --min-precision "
                       f"{min_precision}")
        return out

    def to_record(self) -> dict[str, Any]:
        """The trend evaluation as the JSON ``--report`` writes."""
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
