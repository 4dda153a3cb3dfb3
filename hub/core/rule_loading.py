"""topology/rules/*.yaml loaded into validated, compiled rule packs (hub.core.rules).

Rules are data that operations staff read and change, so every load error names the file, the
rule and the field, and says what would be right. With the event contracts at hand,
:func:`check_fields` also refuses fields and enum values no event can carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from hub.core.clock_skew import DEFAULT_FUTURE_MS
from hub.core.durations import parse_duration
from hub.core.filters import COMPARISONS, clause_values, compile_where
from hub.core.rules import (
    DEFAULT_IDLE_MS,
    DEFAULT_LATENESS,
    REGISTRY_JOIN_FIELDS,
    RULE_TYPES,
    SITE_LOCAL_FIELDS,
    EnumType,
    FieldType,
    KnownEnums,
    KnownTypes,
    Limits,
    Matcher,
    Rule,
    RulePack,
    SourcePolicy,
    Suppression,
    Tier,
)
from hub.core.yaml_keys import DuplicateKeyError, load_unique
from hub.model.errors import ConfigError
from hub.model.events import SOURCE_KINDS
from hub.model.incidents import RISK_LEVELS, ROUTE_LEVELS


class _Ctx:
    """Where we are in the files, so that every error can say it."""

    def __init__(self, file: str, rule: str | None = None):
        self.file, self.rule = file, rule

    def error(self, fld: str, msg: str) -> ConfigError:
        where = f"{self.file}: rule {self.rule!r}" if self.rule else self.file
        return ConfigError(f"{where}: field {fld!r}: {msg}")


def _matcher(ctx: _Ctx, fld: str, spec: Any) -> Matcher:
    if not isinstance(spec, Mapping) or "kind" not in spec:
        raise ctx.error(fld, "expected a mapping with 'kind' (and optional 'where')")
    kind = spec["kind"]
    if kind not in SOURCE_KINDS:
        raise ctx.error(
            f"{fld}.kind", f"unknown kind {kind!r}; use one of {', '.join(SOURCE_KINDS)}"
        )
    unknown = set(spec) - {"kind", "where"}
    if unknown:
        raise ctx.error(fld, f"unknown keys {sorted(unknown)}; a step has 'kind' and 'where'")
    where = _where(ctx, f"{fld}.where", spec, kind)
    try:
        pred = compile_where(where)
    except ValueError as exc:
        raise ctx.error(f"{fld}.where", str(exc)) from exc
    return Matcher(kind=kind, where=where, pred=pred)


def _where(ctx: _Ctx, fld: str, spec: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    """The step's filter; ``where:`` given with nothing under it (or not a mapping) is a
    mistake, mostly an indentation one: it used to match every event of the kind."""
    if "where" not in spec:
        return {}
    where = spec["where"]
    if not isinstance(where, Mapping) or not where:
        raise ctx.error(fld, f"expected field: value pairs, got {where!r}; leave 'where' out to "
                        f"take every {kind} event")
    return where


def _risk(ctx: _Ctx, fld: str, value: Any) -> str:
    if value not in RISK_LEVELS:
        raise ctx.error(fld, f"{value!r} is not a risk level; use one of {', '.join(RISK_LEVELS)}")
    return str(value)


def _tiers(ctx: _Ctx, raw: Mapping[str, Any]) -> tuple[Tier, ...]:
    if "tiers" in raw:
        items = raw["tiers"]
        if not isinstance(items, list) or not items:
            raise ctx.error("tiers", "expected a non-empty list of {count, risk_level}")
        tiers = []
        for i, t in enumerate(items):
            count = t.get("count") if isinstance(t, Mapping) else None
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise ctx.error(f"tiers[{i}].count", "expected a whole number >= 1")
            level = _risk(ctx, f"tiers[{i}].risk_level", t.get("risk_level"))
            tiers.append(Tier(t["count"], level))
        counts = [t.count for t in tiers]
        if counts != sorted(set(counts)):
            raise ctx.error("tiers", "counts must be strictly increasing")
        return tuple(tiers)
    count = raw.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ctx.error("count", "expected a whole number >= 1")
    return (Tier(count, _risk(ctx, "risk_level", raw.get("risk_level"))),)


_COMMON_KEYS = {"id", "type", "title", "description", "by", "within", "route", "enabled"}
_TYPE_KEYS = {
    "single": {"match", "risk_level"},
    "sequence": {"steps", "risk_level"},
    "all": {"steps", "risk_level"},
    "threshold": {"match", "risk_level", "count", "tiers"},
    "distinct": {"match", "field", "risk_level", "count", "tiers"},
    "absence": {"event", "absent", "direction", "risk_level"},
}


def parse_rule(raw: Any, file: str) -> Rule | None:
    """Validate and compile one rule mapping; None when ``enabled: false``."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{file}: each item under 'rules' must be a mapping")
    ctx = _Ctx(file, str(raw.get("id")) if raw.get("id") else None)
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid.replace("_", "").isalnum():
        raise ctx.error("id", "expected a name of letters, digits and underscores")
    rtype = raw.get("type")
    if rtype not in RULE_TYPES:
        raise ctx.error("type", f"{rtype!r} is not a rule type; use one of {', '.join(RULE_TYPES)}")
    unknown = set(raw) - _COMMON_KEYS - _TYPE_KEYS[rtype]
    if unknown:
        allowed = sorted(_COMMON_KEYS | _TYPE_KEYS[rtype])
        raise ctx.error(sorted(unknown)[0], f"not a key of a {rtype} rule; allowed: {allowed}")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):  # "no" (quoted) is text, and the rule stayed on
        raise ctx.error("enabled", f"expected true or false (unquoted), got {enabled!r}")
    if not enabled:
        return None
    by = raw.get("by")
    if isinstance(by, str):
        by = [by]
    if not isinstance(by, list) or not by or not all(isinstance(b, str) for b in by):
        raise ctx.error("by", "expected one field name or a list of them (e.g. [site_id])")
    if set(by) <= SITE_LOCAL_FIELDS and "site_id" not in by:
        # Door, device and zone ids are the vendor's, and repeat across sites ("main-door"):
        # keyed by them alone, two sites' doors were one key offline, and online only when the
        # sites shared a partition. The site lane collides per site.
        by = ["site_id", *by]
    if "within" not in raw:
        raise ctx.error("within", "every rule needs a window in event time, e.g. within: 5m")
    try:
        within = parse_duration(raw["within"])
    except ValueError as exc:
        raise ctx.error("within", str(exc)) from exc
    if within <= 0:
        raise ctx.error("within", "must be longer than zero")
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ctx.error("title", "every rule needs a title people will read on the incident")
    route_level = None
    if raw.get("route") is not None:
        route = raw["route"]
        if not isinstance(route, Mapping) or route.get("level") not in ROUTE_LEVELS:
            raise ctx.error("route.level", f"expected one of {', '.join(ROUTE_LEVELS)}")
        route_level = str(route["level"])

    steps: tuple[Matcher, ...]
    absent = None
    direction = "before"
    distinct_field = None
    if rtype in ("sequence", "all"):
        items = raw.get("steps")
        if not isinstance(items, list) or len(items) < 2:
            raise ctx.error("steps", f"a {rtype} rule needs a list of at least two steps")
        steps = tuple(_matcher(ctx, f"steps[{i}]", s) for i, s in enumerate(items))
    elif rtype == "absence":
        steps = (_matcher(ctx, "event", raw.get("event")),)
        absent = _matcher(ctx, "absent", raw.get("absent"))
        direction = raw.get("direction", "before")
        if direction not in ("before", "after", "both"):
            raise ctx.error("direction", "expected before, after or both")
    else:
        steps = (_matcher(ctx, "match", raw.get("match")),)
    if rtype == "distinct":
        distinct_field = raw.get("field")
        if not isinstance(distinct_field, str) or not distinct_field:
            raise ctx.error("field", "a distinct rule names the field whose values are counted")
    if rtype in ("threshold", "distinct"):
        tiers = _tiers(ctx, raw)
    else:
        tiers = (Tier(1, _risk(ctx, "risk_level", raw.get("risk_level"))),)
    return Rule(
        id=rid,
        type=rtype,
        title=title.strip(),
        by=tuple(by),
        within=within,
        steps=steps,
        tiers=tiers,
        distinct_field=distinct_field,
        absent=absent,
        direction=direction,
        route_level=route_level,
        description=str(raw.get("description") or "").strip(),
        source_file=file,
    )


def _parse_suppression(raw: Any, file: str) -> Suppression:
    ctx = _Ctx(file, str(raw.get("id")) if isinstance(raw, Mapping) else None)
    if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str):
        raise ctx.error("id", "each suppression needs an id")
    kind = raw.get("kind")
    if kind not in SOURCE_KINDS:
        raise ctx.error("kind", f"use one of {', '.join(SOURCE_KINDS)}")
    by = raw.get("by")
    if isinstance(by, str):
        by = [by]
    if not isinstance(by, list) or not by:
        raise ctx.error("by", "expected a list of field names")
    where = _where(ctx, "where", raw, kind)
    try:
        within = parse_duration(raw.get("within"))
        pred = compile_where(where)
    except ValueError as exc:
        raise ctx.error("within/where", str(exc)) from exc
    return Suppression(id=raw["id"], kind=kind, by=tuple(by), within=within, where=pred,
                       clauses=where, source_file=file)


def _parse_sources(raw: Any, file: str) -> dict[str, SourcePolicy]:
    ctx = _Ctx(file)
    if not isinstance(raw, Mapping):
        raise ctx.error("sources", "expected a mapping of kind -> {lateness, idle, future}")
    default = raw.get("default") or {}
    out: dict[str, SourcePolicy] = {}
    for kind in SOURCE_KINDS:
        spec = {**default, **(raw.get(kind) or {})}
        unknown = sorted(set(spec) - {"lateness", "idle", "future"})
        if unknown:
            raise ctx.error(f"sources.{kind}", f"unknown setting {', '.join(unknown)}; "
                            "a source takes lateness, idle and future")
        try:
            lateness = parse_duration(spec.get("lateness", DEFAULT_LATENESS[kind]))
            idle = parse_duration(spec.get("idle", DEFAULT_IDLE_MS))
            future = parse_duration(spec.get("future", DEFAULT_FUTURE_MS))
        except ValueError as exc:
            raise ctx.error(f"sources.{kind}", str(exc)) from exc
        out[kind] = SourcePolicy(lateness, idle, future)
    for kind in raw:
        if kind != "default" and kind not in SOURCE_KINDS:
            raise ctx.error(f"sources.{kind}", f"unknown kind; use {', '.join(SOURCE_KINDS)}")
    return out


def parse_documents(docs: list[tuple[str, Any]]) -> RulePack:
    """Merge parsed YAML documents (file name, content) into one validated pack."""
    rules: list[Rule] = []
    suppressions: list[Suppression] = []
    sources: dict[str, SourcePolicy] = {}
    limits = Limits()
    seen: dict[str, str] = {}
    for file, doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, Mapping):
            raise ConfigError(f"{file}: expected a mapping with 'rules', 'suppress', 'sources' "
                              "or 'limits'")
        unknown = set(doc) - {"rules", "suppress", "sources", "limits"}
        if unknown:
            raise ConfigError(f"{file}: unknown top-level keys {sorted(unknown)}")
        for raw in doc.get("rules") or []:
            rule = parse_rule(raw, file)
            if rule is None:
                continue
            if rule.id in seen:
                raise ConfigError(f"{file}: rule {rule.id!r}: field 'id': also in {seen[rule.id]}")
            seen[rule.id] = file
            rules.append(rule)
        suppressions.extend(_parse_suppression(s, file) for s in doc.get("suppress") or [])
        if "sources" in doc:
            sources.update(_parse_sources(doc["sources"], file))
        if "limits" in doc:
            limits = _parse_limits(doc["limits"], file)
    return RulePack(rules=tuple(rules), suppressions=tuple(suppressions), sources=sources,
                    limits=limits)


def _parse_limits(raw: Any, file: str) -> Limits:
    ctx = _Ctx(file)
    names = ("evidence_first", "evidence_last", "version_every", "window_events")
    if not isinstance(raw, Mapping):
        raise ctx.error("limits", f"expected a mapping with {', '.join(names)}")
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ctx.error(f"limits.{unknown[0]}", f"unknown limit; use {', '.join(names)}")
    values: dict[str, int] = {}
    for name in names:
        if name not in raw:
            continue
        value = raw[name]
        if name == "version_every":
            try:
                values[name] = parse_duration(value)
            except ValueError as exc:
                raise ctx.error(f"limits.{name}", str(exc)) from exc
        elif type(value) is not int or value < 1:
            raise ctx.error(f"limits.{name}", f"{value!r} is not a positive whole number")
        else:
            values[name] = value
    return Limits(**values)


def _check_enum_clause(ctx: _Ctx, fld: str, name: str, spec: Any, enum: EnumType) -> None:
    """A filter on an enum field may name only the enum's symbols: anything else never matches
    (``ne``/``not_in``: always matches), so it is a typo, not a rule."""
    article = "an" if enum.name[:1] in "AEIOU" else "a"
    symbols = ", ".join(enum.symbols)
    op, values = clause_values(spec)
    if op in COMPARISONS:
        raise ctx.error(fld, f"{name!r} is {article} {enum.name}, not a number, so {op!r} never "
                        f"holds; compare it with one of {symbols}")
    for value in values:
        if value is None and enum.nullable:
            continue
        if isinstance(value, str) and value in enum.symbols:
            continue
        hint = ""
        if isinstance(value, list):
            hint = "; for any of several write {in: [...]}"
        elif isinstance(value, bool):
            hint = "; YAML reads yes/no/on/off as true/false: quote the value"
        raise ctx.error(fld, f"{value!r} is not {article} {enum.name}; use one of {symbols}{hint}")


_NUMBERS = frozenset({"int", "long", "float", "double"})


def _described(field_type: FieldType) -> str:
    names = field_type.names - {"null"}
    what = ("a number" if names <= _NUMBERS else "text" if names == {"string"}
            else "true or false" if names == {"boolean"} else " or ".join(sorted(names)))
    if field_type.low is not None and field_type.high is not None:
        what += f" from {field_type.low} to {field_type.high}"
    return what


def _fits(value: Any, field_type: FieldType) -> bool:
    names = field_type.names
    if value is None:
        return "null" in names
    if isinstance(value, bool):
        return "boolean" in names
    if isinstance(value, int | float):
        if not names & _NUMBERS or (not names & {"float", "double"} and value != int(value)):
            return False
        low, high = field_type.low, field_type.high
        return (low is None or value >= low) and (high is None or value <= high)
    return isinstance(value, str) and "string" in names


def _check_typed_clause(ctx: _Ctx, fld: str, name: str, spec: Any,
                        field_type: FieldType) -> None:
    """A filter on a plain field must name values the field can hold: ``severity: {eq: "4"}``
    (text against a number), ``similarity: {gte: 90}`` (outside 0-1) never hold, and
    ``ne``/``not_in`` with them always hold. Either way it is a typo, not a rule."""
    op, values = clause_values(spec)
    what = _described(field_type)
    numeric = bool(field_type.names & _NUMBERS)
    if op in COMPARISONS and not numeric:
        raise ctx.error(fld, f"{name!r} is {what}, not a number, so {op!r} never holds; use eq "
                        "or in")
    for value in values:
        if op in COMPARISONS:
            low, high = field_type.low, field_type.high
            if (low is None or value >= low) and (high is None or value <= high):
                continue  # any bound inside the range can hold
            percent = " (a percentage? divide by 100)" if high == 1 and value > 1 else ""
            raise ctx.error(fld, f"{op} {value!r}: {name!r} is {what}, so the bound is outside "
                            f"anything it can hold; give one within{percent}")
        if _fits(value, field_type):
            continue
        hint = ("; write it without quotes" if isinstance(value, str) and numeric
                else "; YAML reads yes/no/on/off as true/false: quote the value"
                if isinstance(value, bool) else "; quote it" if "string" in field_type.names
                else "")
        raise ctx.error(fld, f"{value!r} is not a value {name!r} can hold ({what}), so the "
                        f"filter never matches (ne/not_in: always){hint}")


def _check_where(ctx: _Ctx, fld: str, kind: str, where: Mapping[str, Any],
                 fields: frozenset[str], enums: Mapping[str, EnumType],
                 types: Mapping[str, FieldType] | None = None) -> None:
    for name, spec in where.items():
        if name not in fields:
            raise ctx.error(f"{fld}.{name}",
                            f"{kind} has no field {name!r}; it has {sorted(fields)}")
        if name in enums:
            _check_enum_clause(ctx, f"{fld}.{name}", name, spec, enums[name])
        elif types and name in types:
            _check_typed_clause(ctx, f"{fld}.{name}", name, spec, types[name])


def check_fields(pack: RulePack, known: Mapping[str, frozenset[str]],
                 enums: KnownEnums | None = None, types: KnownTypes | None = None) -> None:
    """Every field a rule names must exist on the events it reads (a typo would match nothing),
    and every value a filter gives a field must be one the field can hold.

    ``known`` maps each kind to its field names (from the event contracts); keys may also use
    the fields joined from the building registry. ``enums`` maps each kind to its enum-typed
    fields, ``types`` to its plain fields' types and ranges (both from the contracts); without
    them filter values are not checked.
    """
    enums = enums or {}
    types = types or {}
    for rule in pack.rules:
        ctx = _Ctx(rule.source_file, rule.id)
        for where, m in rule.matchers:
            _check_where(ctx, f"{where}.where", m.kind, m.where,
                         known.get(m.kind, frozenset()), enums.get(m.kind, {}),
                         types.get(m.kind))
        on_every_event = set.intersection(*(set(known.get(m.kind, ())) for m in rule.steps))
        by_ok = on_every_event | set(REGISTRY_JOIN_FIELDS)
        for name in rule.by:
            if name not in by_ok:
                raise ctx.error("by", f"{name!r} is not a field of every event the rule reads "
                                f"(nor a registry field {list(REGISTRY_JOIN_FIELDS)})")
        if rule.distinct_field and rule.distinct_field not in known.get(rule.steps[0].kind, ()):
            raise ctx.error("field", f"{rule.steps[0].kind} has no field {rule.distinct_field!r}")
    for supp in pack.suppressions:
        fields = known.get(supp.kind, frozenset())
        for name in supp.by:
            if name not in fields:
                raise ConfigError(f"{supp.source_file}: suppression {supp.id!r}: field 'by': "
                                  f"{supp.kind} has no field {name!r}")
        supp_ctx = _Ctx(f"{supp.source_file}: suppression {supp.id!r}")
        _check_where(supp_ctx, "where", supp.kind, supp.clauses, fields,
                     enums.get(supp.kind, {}), types.get(supp.kind))


def load_rules(
    directory: Path | str,
    known_fields: Mapping[str, frozenset[str]] | None = None,
    known_enums: KnownEnums | None = None,
    known_types: KnownTypes | None = None,
) -> RulePack:
    """Load every *.yaml / *.yml in ``directory`` (sorted by name) into one pack.

    With ``known_fields`` (kind -> field names of the event contracts, ``hub.codec.event_fields``)
    every field a rule names is checked too; with ``known_enums`` (``hub.codec.event_enums``)
    and ``known_types`` (``hub.codec.event_types``) as well, every value a filter gives a field.
    A key given twice in a mapping is an error: YAML would keep the last one silently.
    """
    path = Path(directory)
    if not path.is_dir():
        raise ConfigError(f"{path}: rules directory not found; pass --rules topology/rules")
    docs = []
    for file in sorted([*path.glob("*.yaml"), *path.glob("*.yml")]):
        try:
            docs.append((str(file), load_unique(file.read_text(encoding="utf-8"))))
        except DuplicateKeyError as exc:
            raise ConfigError(f"{file}: {exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
    pack = parse_documents(docs)
    if not pack.rules:
        raise ConfigError(f"{path}: no rules found (files need a top-level 'rules:' list)")
    if known_fields is not None:
        check_fields(pack, known_fields, known_enums, known_types)
    return pack
