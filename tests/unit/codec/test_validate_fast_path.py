"""check_rules lets a plainly valid record through after one pass (hub.codec.validate); whatever
it is given, it raises exactly what the full check raises, or nothing when that passes."""

from __future__ import annotations

from typing import Any

from hub.codec.interchange import parse_line
from hub.codec.limits import check_limits
from hub.codec.validate import (
    _check_ids_and_times,
    _check_ranges,
    _plainly_within_limits,
    check_rules,
)
from hub.model.errors import ValidationError
from hub.replay.simulate.config import SimConfig
from hub.replay.simulate.simulator import simulate
from hub.settings import Settings

STRINGS = ["", "  ", "x" * 128, "x" * 129, "x" * 5_000, "a\x00b", "a\u202eb", "a\nb", "\u2066",
           "翠苑3幢", "ok"]
NUMBERS = [True, False, 0, -1, 1_700_000_000, 1_700_000_000_000, 4_102_444_800_000, 6, 0.5, 1.5]


def _full(kind: str, record: dict[str, Any]) -> None:
    check_limits(kind, record)
    _check_ids_and_times(record)
    _check_ranges(kind, record)


def _outcome(check: Any, kind: str, record: dict[str, Any]) -> tuple[str, str | None] | None:
    try:
        check(kind, record)
    except ValidationError as exc:
        return str(exc), exc.field
    return None


def _records() -> list[tuple[str, dict[str, Any]]]:
    sim = simulate(SimConfig(seed=9, buildings=4, days=1))
    key = Settings.from_env().pseudonym_key
    first: dict[str, dict[str, Any]] = {}
    for line in (*sim.registry_lines, *sim.event_lines):
        kind, record = parse_line(line, pseudonym_key=key)
        first.setdefault(kind, record)
    return sorted(first.items())


def _variants() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for kind, record in _records():
        out.append((kind, record))
        for name, value in record.items():
            if isinstance(value, str):
                out += [(kind, {**record, name: s}) for s in STRINGS]
            elif isinstance(value, (int, float)):
                out += [(kind, {**record, name: n}) for n in NUMBERS]
            elif isinstance(value, list):
                out += [(kind, {**record, name: [s]}) for s in STRINGS]
                out.append((kind, {**record, name: ["t"] * 65}))
    return out


VARIANTS = _variants()


def test_the_city_has_every_source_kind_and_the_registry() -> None:
    kinds = {kind for kind, _ in VARIANTS}
    assert {"access_swipe", "perimeter_alarm", "face_match", "building_lookup", "grid_report",
            "building_identity"} <= kinds
    assert len(VARIANTS) > 500


def test_check_rules_raises_what_the_full_check_raises() -> None:
    wrong = [(kind, record, got, want) for kind, record in VARIANTS
             if (got := _outcome(check_rules, kind, record))
             != (want := _outcome(_full, kind, record))]
    assert not wrong, f"{len(wrong)} of {len(VARIANTS)} differ, e.g. {wrong[0]}"


def test_plain_records_take_the_one_pass_and_doubtful_ones_do_not() -> None:
    plain = [(k, r) for k, r in VARIANTS if _plainly_within_limits(k, r)]
    assert len(plain) > 100, "the unmodified records and harmless variants are plain"
    ranges = ("severity", "similarity", "households", "rental_units")
    for kind, record in plain:
        failed = _outcome(_full, kind, record)
        assert failed is None or failed[1] in ranges, (
            "only the range checks, which always run, may fail a plain record")
    assert not _plainly_within_limits("access_swipe", {"event_id": "x" * 129})
    assert not _plainly_within_limits("access_swipe", {"event_time": True})
    assert not _plainly_within_limits("incident", {"rule_id": "r"})
