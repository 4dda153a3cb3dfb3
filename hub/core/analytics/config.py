"""The analytics' thresholds and weights (topology/analytics.yaml), read once and checked.

Every number the definitions of docs/analytics.md use is here, so a city tunes them in one file;
a wrong value is a ConfigError naming the file, the field and the fix (as load_dispatch does).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from hub.core.durations import parse_duration
from hub.core.yaml_keys import load_unique
from hub.model.errors import ConfigError
from hub.model.incidents import RISK_LEVELS

#: Periods of the dispute funnel, shortest first.
PERIODS: tuple[str, ...] = ("DAY", "WEEK", "MONTH", "YEAR")
DAY_MS = 86_400_000


@dataclass(frozen=True)
class RiskConfig:
    """Rising-case warnings (案件风险管理)."""

    baseline_weeks: int = 15
    min_history_weeks: int = 4
    min_count: int = 5
    mean_floor: float = 0.5
    p_value_below: float = 0.01
    high_below: float = 0.0001
    early_warnings: bool = True


@dataclass(frozen=True)
class SafetyConfig:
    """The safety index (平安指数)."""

    incident_weights: Mapping[str, float] = field(default_factory=lambda: {
        "CRITICAL": 20.0, "HIGH": 10.0, "MEDIUM": 4.0, "LOW": 1.0})
    open_dispute_weight: float = 2.0
    per_households: int = 1000
    households_floor: int = 100


@dataclass(frozen=True)
class AnalyticsConfig:
    """topology/analytics.yaml; the defaults are the file's shipped values."""

    time_zone: str = "Asia/Shanghai"
    lateness_ms: int = 3_600_000
    periods: tuple[str, ...] = PERIODS
    forget_reports_after_ms: int = 400 * DAY_MS
    risk: RiskConfig = field(default_factory=RiskConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)

    @property
    def zone(self) -> ZoneInfo:
        """The zone that days, weeks and months are cut in (validated when the config is loaded)."""
        return ZoneInfo(self.time_zone)


class _Reader:
    def __init__(self, path: Path | str, raw: Mapping[str, Any]) -> None:
        self.path, self.raw = path, raw

    def fail(self, name: str, detail: str) -> ConfigError:
        return ConfigError(f"{self.path}: field '{name}': {detail}")

    def section(self, name: str) -> Mapping[str, Any]:
        value = self.raw.get(name, {})
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(name, "expected a mapping of settings")
        known = _KNOWN.get(name, ())
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise self.fail(f"{name}.{unknown[0]}", f"not a setting; use {', '.join(known)}")
        return value

    def duration(self, spec: Mapping[str, Any], name: str, path: str, default: int) -> int:
        if name not in spec:
            return default
        try:
            return parse_duration(spec[name])
        except ValueError as exc:
            raise self.fail(path, str(exc)) from exc

    def number(self, spec: Mapping[str, Any], name: str, path: str, default: float, *,
               low: float = 0.0, high: float = math.inf, integer: bool = False,
               open_low: bool = False) -> float:
        if name not in spec:
            return default
        value = spec[name]
        kind = "an integer" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)) or (
                not math.isfinite(value)):
            raise self.fail(path, f"{value!r} is not {kind}; give {kind} >= {low}")
        if value < low or (open_low and value == low) or value > high:
            bound = f"> {low}" if open_low else f">= {low}"
            upper = f" and <= {high}" if math.isfinite(high) else ""
            raise self.fail(path, f"{value!r} is out of range; give {kind} {bound}{upper}")
        return float(value)


_KNOWN: Mapping[str, tuple[str, ...]] = {
    "": ("time_zone", "lateness", "forget_reports_after", "disputes", "risk", "safety"),
    "disputes": ("periods",),
    "risk": ("baseline_weeks", "min_history_weeks", "min_count", "mean_floor", "p_value_below",
             "high_below", "early_warnings"),
    "safety": ("incident_weights", "open_dispute_weight", "per_households", "households_floor"),
}


def load_analytics(path: Path | str) -> AnalyticsConfig:
    """Read topology/analytics.yaml; ConfigError names the file, the field and the fix.

    A setting left out takes its shipped default (the values in the file of the repository).
    """
    try:
        raw = load_unique(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected a mapping of settings (time_zone, disputes, risk, "
                          "safety)")
    r = _Reader(path, raw)
    unknown = sorted(set(raw) - set(_KNOWN[""]))
    if unknown:
        raise r.fail(unknown[0], f"not a setting; use {', '.join(_KNOWN[''])}")
    base = AnalyticsConfig()
    zone = raw.get("time_zone", base.time_zone)
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise r.fail("time_zone", f"{zone!r} is not a time zone; give an IANA name such as "
                                  "Asia/Shanghai") from exc
    disputes = r.section("disputes")
    periods = disputes.get("periods", list(PERIODS))
    if not isinstance(periods, list) or not periods or any(p not in PERIODS for p in periods):
        raise r.fail("disputes.periods", f"{periods!r}: give a non-empty list of "
                                         f"{', '.join(PERIODS)}")
    risk_spec, safety_spec = r.section("risk"), r.section("safety")
    rd = base.risk
    risk = RiskConfig(
        baseline_weeks=int(r.number(risk_spec, "baseline_weeks", "risk.baseline_weeks",
                                    rd.baseline_weeks, low=1, integer=True)),
        min_history_weeks=int(r.number(risk_spec, "min_history_weeks", "risk.min_history_weeks",
                                       rd.min_history_weeks, integer=True)),
        min_count=int(r.number(risk_spec, "min_count", "risk.min_count", rd.min_count, low=1,
                               integer=True)),
        mean_floor=r.number(risk_spec, "mean_floor", "risk.mean_floor", rd.mean_floor, low=0,
                            open_low=True),
        p_value_below=r.number(risk_spec, "p_value_below", "risk.p_value_below",
                               rd.p_value_below, low=0, high=1, open_low=True),
        high_below=r.number(risk_spec, "high_below", "risk.high_below", rd.high_below, low=0,
                            high=1, open_low=True),
        early_warnings=_flag(r, risk_spec, "early_warnings", rd.early_warnings),
    )
    if risk.high_below > risk.p_value_below:
        raise r.fail("risk.high_below", f"{risk.high_below} is above risk.p_value_below "
                                        f"({risk.p_value_below}); HIGH must be the stricter line")
    sd = base.safety
    weights_spec = safety_spec.get("incident_weights", dict(sd.incident_weights))
    if not isinstance(weights_spec, Mapping):
        raise r.fail("safety.incident_weights", "expected a mapping of risk level to a weight, "
                                                f"for each of {', '.join(RISK_LEVELS)}")
    strange = sorted(set(weights_spec) - set(RISK_LEVELS))
    if strange:
        raise r.fail(f"safety.incident_weights.{strange[0]}", "not a risk level; use "
                                                              f"{', '.join(RISK_LEVELS)}")
    weights: dict[str, float] = {}
    for level in RISK_LEVELS:
        if level not in weights_spec:
            raise r.fail(f"safety.incident_weights.{level}", "missing; give a weight >= 0")
        weights[level] = r.number(weights_spec, level, f"safety.incident_weights.{level}", 0.0)
    safety = SafetyConfig(
        incident_weights=weights,
        open_dispute_weight=r.number(safety_spec, "open_dispute_weight",
                                     "safety.open_dispute_weight", sd.open_dispute_weight),
        per_households=int(r.number(safety_spec, "per_households", "safety.per_households",
                                    sd.per_households, low=1, integer=True)),
        households_floor=int(r.number(safety_spec, "households_floor",
                                      "safety.households_floor", sd.households_floor, low=1,
                                      integer=True)),
    )
    return AnalyticsConfig(
        time_zone=str(zone),
        lateness_ms=r.duration(raw, "lateness", "lateness", base.lateness_ms),
        periods=tuple(p for p in PERIODS if p in periods),
        forget_reports_after_ms=r.duration(raw, "forget_reports_after", "forget_reports_after",
                                           base.forget_reports_after_ms),
        risk=risk,
        safety=safety,
    )


def _flag(r: _Reader, spec: Mapping[str, Any], name: str, default: bool) -> bool:
    value = spec.get(name, default)
    if not isinstance(value, bool):
        raise r.fail(f"risk.{name}", f"{value!r}: give true or false")
    return value
