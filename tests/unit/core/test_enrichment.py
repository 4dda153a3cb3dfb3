"""Dedup of exact duplicates, enrichment from the building registry and routing (三级联动)."""

from __future__ import annotations

from typing import Any

import pytest

from hub.core.dedup import DedupLogic
from hub.core.registry import MemoryBuildingRegistry
from hub.core.routing import route_for
from hub.model.incidents import Route
from tests.unit.core.helpers import (
    T0,
    alarm,
    building,
    default_pack,
    engine_for,
    face,
    feed,
    ids,
    of_rule,
    pack_of,
    report,
    swipe,
)

PACK = default_pack()
SEC = 1_000
MIN = 60_000
HOUR = 3_600_000


# -- dedup ---------------------------------------------------------------------------------------


def test_exact_duplicates_are_dropped_and_counted() -> None:
    engine = engine_for(PACK, building())
    first = engine.process(swipe("h1", 0, "HELD_OPEN"))
    again = engine.process(swipe("h1", 0, "HELD_OPEN"))
    assert not first.duplicate and again.duplicate
    engine.process(swipe("h2", SEC, "HELD_OPEN"))
    (inc, *rest) = of_rule(engine.flush().incidents, "door_held_open")
    assert ids(rest[-1] if rest else inc) == ["h1", "h2"]
    assert engine.stats.duplicates == 1 and engine.stats.events == 3


def test_same_event_id_from_another_source_is_not_a_duplicate() -> None:
    engine = engine_for(PACK, building())
    engine.process(swipe("x1", 0, "HELD_OPEN"))
    assert not engine.process(alarm("x1", 0, "TAMPER")).duplicate
    out = engine.flush().incidents
    assert {i.rule_id for i in out} == {"door_held_open", "device_tamper"}
    assert engine.stats.duplicates == 0


def test_duplicate_within_the_buffer_without_dedup_logic_is_still_counted_once() -> None:
    # even without DedupLogic, a pending copy of the same event is not buffered twice
    engine = engine_for(PACK, building(), dedup=False)
    events = [swipe(f"d{i}", i * SEC, "DENIED") for i in range(4)]
    out = feed(engine, [*events, events[-1]])
    assert of_rule(out, "credential_brute_force") == []


def test_dedup_retention_is_event_time() -> None:
    dedup = DedupLogic(retention_ms=HOUR)
    assert not dedup.is_duplicate("access_swipe", "e1", 0)
    assert dedup.is_duplicate("access_swipe", "e1", 0)
    assert dedup.is_duplicate("access_swipe", "e1", HOUR)  # at the edge of retention
    assert not dedup.is_duplicate("access_swipe", "e2", HOUR)
    assert not dedup.is_duplicate("access_swipe", "e3", 2 * HOUR + 1)  # e1 now out of retention
    assert not dedup.is_duplicate("access_swipe", "e1", 2 * HOUR + 2)
    assert dedup.duplicates == 2


def test_an_id_given_again_after_retention_is_new_whatever_came_between() -> None:
    """A device whose counter started over: the answer depends on the two event times only,
    not on whether other ids arrived between them (stop 39's probe: it did)."""
    for between in ([], [("e2", HOUR + 500)]):
        dedup = DedupLogic(retention_ms=HOUR)
        assert not dedup.is_duplicate("access_swipe", "e1", 0)
        for event_id, t in between:
            dedup.is_duplicate("access_swipe", event_id, t)
        assert not dedup.is_duplicate("access_swipe", "e1", HOUR + 1_000)
        assert dedup.is_duplicate("access_swipe", "e1", HOUR + 1_000)  # the new one is kept
        assert dedup.is_duplicate("access_swipe", "e1", 2 * HOUR + 1_000)


def test_dedup_memory_is_bounded_by_retention() -> None:
    dedup = DedupLogic(retention_ms=HOUR)
    for i in range(20_000):
        dedup.is_duplicate("access_swipe", f"e{i}", i * SEC)
    assert len(dedup) <= HOUR // SEC + 2


# -- routing: 三级联动 ----------------------------------------------------------------------------


def _single(risk: str) -> dict[str, Any]:
    return {
        "id": f"probe_{risk.lower()}",
        "type": "single",
        "title": "t",
        "by": "door_id",
        "within": "1m",
        "risk_level": risk,
        "match": {"kind": "access_swipe", "where": {"result": "HELD_OPEN"}},
    }


B1 = building("B1", grid="G-17", township="330106001", district="330106", city="3301")


@pytest.mark.parametrize(
    ("risk", "route"),
    [
        ("CRITICAL", Route("CITY", "3301")),
        ("HIGH", Route("DISTRICT", "330106")),
        ("MEDIUM", Route("TOWNSHIP", "330106001")),
        ("LOW", Route("GRID", "G-17")),
    ],
)
def test_risk_level_routes_to_its_level(risk: str, route: Route) -> None:
    engine = engine_for(pack_of(_single(risk)), B1)
    (inc,) = feed(engine, [swipe("h1", 0, "HELD_OPEN")])
    assert inc.route == route and not inc.unrouted
    assert inc.building == B1 and inc.building_id == "B1" and inc.grid_id == "G-17"
    assert engine.stats.unrouted == 0


def test_fixed_route_level_overrides_the_default() -> None:
    rule = dict(_single("HIGH"), route={"level": "GRID"})
    (inc,) = feed(engine_for(pack_of(rule), B1), [swipe("h1", 0, "HELD_OPEN")])
    assert inc.route == Route("GRID", "G-17") and inc.risk_level == "HIGH"


def test_unknown_building_is_emitted_unrouted_and_counted() -> None:
    engine = engine_for(pack_of(_single("HIGH")), B1)
    out = feed(
        engine,
        [
            swipe("h1", 0, "HELD_OPEN", building_id="B404"),
            swipe("h2", 30 * SEC, "HELD_OPEN", building_id="B404"),
        ],
    )
    assert [i.version for i in out] == [1, 2]
    for inc in out:
        assert inc.route is None and inc.unrouted and inc.building is None
        assert inc.building_id == "B404"
    assert engine.stats.unrouted == 2  # counted per emitted version


def test_no_registry_at_all_is_unrouted() -> None:
    from hub.core.engine import CorrelationEngine

    engine = CorrelationEngine(pack_of(_single("MEDIUM")))
    engine.process(swipe("h1", 0, "HELD_OPEN"))
    (inc,) = engine.flush().incidents
    assert inc.unrouted and engine.stats.unrouted == 1


def test_route_for_table() -> None:
    b = building("B9", grid="G9", township="T9", district="D9", city="C9")
    assert [route_for(r, b, None) for r in ("CRITICAL", "HIGH", "MEDIUM", "LOW")] == [
        Route("CITY", "C9"),
        Route("DISTRICT", "D9"),
        Route("TOWNSHIP", "T9"),
        Route("GRID", "G9"),
    ]
    assert route_for("HIGH", None, "G9") is None
    assert route_for("LOW", None, "G9") == Route("GRID", "G9")  # the report names its grid
    assert route_for("LOW", None, None) is None
    empty = building("B0", township="")
    assert route_for("MEDIUM", empty, None) is None  # a blank code routes nowhere


def test_low_incident_from_grid_reports_routes_to_the_grid_they_name() -> None:
    rule = {
        "id": "hazard",
        "type": "single",
        "title": "t",
        "by": "building_id",
        "within": "1h",
        "risk_level": "LOW",
        "match": {"kind": "grid_report", "where": {"category": "HAZARD"}},
    }
    engine = engine_for(pack_of(rule))  # building unknown to the registry
    (inc,) = feed(engine, [report("r1", 0, "R1", category="HAZARD", grid_id="G-9")])
    assert inc.route == Route("GRID", "G-9") and inc.grid_id == "G-9" and not inc.unrouted


# -- building snapshot --------------------------------------------------------------------------


def test_building_is_that_of_the_latest_evidence_naming_one() -> None:
    b1, b2 = building("B1", district="D-one"), building("B2", district="D-two")
    engine = engine_for(PACK, b1, b2)
    out = feed(engine, [alarm("a1", 0, building_id="B2"), swipe("s1", MIN, "DENIED")])
    (inc,) = of_rule(out, "perimeter_breach_entry")
    assert (
        inc.building_id == "B1" and inc.building == b1 and inc.route == Route("DISTRICT", "D-one")
    )
    # the face match names no building: the swipe before it still decides
    out = feed(
        engine_for(PACK, b1, b2),
        [swipe("g1", 0, building_id="B2"), face("f1", MIN, building_id=None)],
    )
    (inc,) = of_rule(out, "watchlist_entry")
    assert inc.building_id == "B2" and inc.route == Route("DISTRICT", "D-two")
    out = feed(
        engine_for(PACK, b1, b2),
        [swipe("g1", 0, building_id="B2"), face("f1", MIN, building_id="B1")],
    )
    (inc,) = of_rule(out, "watchlist_entry")
    assert inc.building_id == "B1"


def test_each_version_carries_the_snapshot_used() -> None:
    from hub.core.engine import CorrelationEngine

    registry = MemoryBuildingRegistry()
    old = building("B1", district="D-old")
    registry.put(old)
    engine = CorrelationEngine(pack_of(_single("HIGH")), registry)
    engine.process(swipe("h1", 0, "HELD_OPEN"))
    (v1,) = engine.process(swipe("x1", 31 * SEC, "GRANTED")).incidents  # watermark passes h1
    new = building("B1", district="D-new", updated=1)
    assert registry.put(new)
    assert not registry.put(building("B1", district="D-stale", updated=0))  # older: ignored
    engine.process(swipe("h2", 50 * SEC, "HELD_OPEN"))
    (v2,) = engine.flush().incidents
    assert (v1.version, v2.version) == (1, 2) and v1.incident_id == v2.incident_id
    assert v1.building == old and v1.route == Route("DISTRICT", "D-old")
    assert v2.building == new and v2.route == Route("DISTRICT", "D-new")
    assert v1.to_record()["building"]["district_code"] == "D-old"  # stored in the incident


# -- keys joined from the registry --------------------------------------------------------------


def test_rule_keyed_by_a_registry_joined_field() -> None:
    rule = {
        "id": "grid_denials",
        "type": "threshold",
        "title": "网格内多次拒绝 Denials across one grid",
        "by": ["grid_id"],
        "within": "5m",
        "count": 3,
        "risk_level": "MEDIUM",
        "match": {"kind": "access_swipe", "where": {"result": "DENIED"}},
    }
    registry = (building("B1", grid="G1"), building("B2", grid="G1"), building("B3", grid="G2"))
    engine = engine_for(pack_of(rule), *registry)
    events = [
        swipe("d1", 0, "DENIED", building_id="B1", door="D1"),
        swipe("d2", SEC, "DENIED", building_id="B2", door="D2"),
        swipe("d3", 2 * SEC, "DENIED", building_id="B3", door="D3"),  # other grid
        swipe("d4", 3 * SEC, "DENIED", building_id="B404", door="D4"),  # unknown: unkeyed
        swipe("d5", 4 * SEC, "DENIED", building_id="B2", door="D5"),
    ]
    (inc,) = feed(engine, events)
    assert inc.key == "G1" and ids(inc) == ["d1", "d2", "d5"] and inc.grid_id == "G1"
    assert engine.stats.unkeyed == 1
    assert engine.rules[0].rule.lane == "by:grid_id"  # repartitioned online


def test_event_field_wins_over_the_registry_join() -> None:
    rule = {
        "id": "grid_disputes",
        "type": "threshold",
        "title": "t",
        "by": ["grid_id"],
        "within": "1d",
        "count": 2,
        "risk_level": "MEDIUM",
        "match": {"kind": "grid_report"},
    }
    engine = engine_for(pack_of(rule), building("B1", grid="G-registry"))
    out = feed(
        engine,
        [report("r1", 0, "R1", grid_id="G-report"), report("r2", 1, "R2", grid_id="G-report")],
    )
    assert [i.key for i in out] == ["G-report"]


def test_a_card_changed_before_the_release_routes_earlier_events_by_the_old_card() -> None:
    """As of the event's time (hub.core.registry): a change read before the watermark passed an
    earlier incident used to route it by the new card, so where it went depended on when the
    change was read (offline: the file's order; online: the broker's)."""
    from hub.core.engine import CorrelationEngine

    registry = MemoryBuildingRegistry()
    old = building("B1", district="D-old", updated=-86_400_000)
    registry.put(old)
    engine = CorrelationEngine(pack_of(_single("HIGH")), registry)
    engine.process(swipe("h1", 0, "HELD_OPEN"))
    new = building("B1", district="D-new", updated=10 * SEC)
    assert registry.put(new)  # read before h1 is released
    out = [*engine.process(swipe("h2", 50 * SEC, "HELD_OPEN")).incidents,  # releases h1
           *engine.process(swipe("x1", 90 * SEC, "GRANTED")).incidents, *engine.flush().incidents]
    by_first = {inc.evidence[-1].event_id: inc for inc in out}
    assert by_first["h1"].building == old and by_first["h1"].route == Route("DISTRICT", "D-old")
    assert by_first["h2"].building == new and by_first["h2"].route == Route("DISTRICT", "D-new")


def test_registry_as_of_gives_the_card_in_force_then() -> None:
    from hub.core.registry import HISTORY_MAX

    registry = MemoryBuildingRegistry()
    assert registry.as_of("B1", T0) is None
    v1, v2, v3 = (building("B1", grid=f"G{n}", updated=n * SEC) for n in (1, 2, 3))
    assert registry.put(v2) and registry.put(v3)
    assert not registry.put(v1)  # older than the latest: history only
    assert registry.get("B1") == v3
    assert registry.as_of("B1", T0) == v1  # before every card: the earliest (it stood already)
    assert registry.as_of("B1", T0 + SEC) == v1
    assert registry.as_of("B1", T0 + 2 * SEC - 1) == v1
    assert registry.as_of("B1", T0 + 2 * SEC) == v2
    assert registry.as_of("B1", T0 + 10 * SEC) == v3
    again = building("B1", grid="G2-fixed", updated=2 * SEC)
    assert not registry.put(again)  # the same moment again: the later write wins
    assert registry.as_of("B1", T0 + 2 * SEC) == again
    for n in range(4, 4 + 2 * HISTORY_MAX):
        registry.put(building("B1", grid=f"G{n}", updated=n * SEC))
    assert registry.get("B1") == building("B1", grid=f"G{3 + 2 * HISTORY_MAX}",
                                          updated=(3 + 2 * HISTORY_MAX) * SEC)
    oldest = registry.as_of("B1", T0)  # bounded: the earliest kept
    assert oldest is not None and oldest.updated_time == T0 + (4 + HISTORY_MAX) * SEC
    registry.remove("B1")
    assert registry.as_of("B1", T0 + 10 * SEC) is None and registry.get("B1") is None
