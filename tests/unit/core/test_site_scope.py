"""Door, device, zone and building ids are read within their site.

Vendors name doors "main-door" and "gate-1" at every site they equip. A rule keyed by door_id
alone made one key of two sites' doors offline (three DENIED swipes at one site and two at
another were a brute-force attempt of five), while online the site lane merged them only when
the two sites shared a correlation partition: the result depended on partitioning. A rule keyed
only by such site-local fields is now keyed per site too (``site_id`` first), offline and online.
"""

from __future__ import annotations

from pathlib import Path

from hub.core.engine import CorrelationEngine
from hub.core.registry import MemoryBuildingRegistry
from hub.core.rule_loading import load_rules
from hub.model.events import Event
from hub.model.incidents import Incident
from tests.unit.core.helpers import default_pack, feed, swipe

SEC = 1000

RULES = Path(__file__).resolve().parents[3] / "topology" / "rules"


def _run(events: list[Event]) -> list[tuple[str, str, int, tuple[str, ...]]]:
    engine = CorrelationEngine(default_pack(), MemoryBuildingRegistry())
    return sorted((i.rule_id, i.key, i.version, tuple(e.event_id for e in i.evidence))
                  for i in feed(engine, events))


def _by_site(events: list[Event]) -> list[tuple[str, str, int, tuple[str, ...]]]:
    """As the worker's site lane with the two sites on different partitions: an engine each."""
    out = []
    for site in sorted({e.get("site_id") for e in events}):
        out += _run([e for e in events if e.get("site_id") == site])
    return sorted(out)


def _site(events: list[Event], site: str) -> list[Event]:
    return [Event.from_record(e.kind, {**e.fields, "site_id": site}) for e in events]


def test_two_sites_doors_of_one_name_are_two_keys_whatever_the_partitioning() -> None:
    a = _site([swipe(f"dn-a{i}", i * SEC, "DENIED", door="main-door") for i in range(3)], "A")
    b = _site([swipe(f"dn-b{i}", 10 * SEC + i * SEC, "DENIED", door="main-door")
               for i in range(2)], "B")
    held = [*_site([swipe("ho-a", 30 * SEC, "HELD_OPEN", door="gate-1")], "A"),
            *_site([swipe("ho-b", 50 * SEC, "HELD_OPEN", door="gate-1")], "B")]
    events = sorted([*a, *b, *held], key=lambda e: e.event_time)
    together = _run(events)
    assert together == _by_site(events)
    assert [x for x in together if x[0] == "credential_brute_force"] == []  # 3 and 2, not 5
    assert [x for x in together if x[0] == "door_held_open"] == [
        ("door_held_open", "A|gate-1", 1, ("ho-a",)), ("door_held_open", "B|gate-1", 1, ("ho-b",))]


def test_five_denials_at_one_sites_door_are_still_brute_force() -> None:
    events = _site([swipe(f"d{i}", i * SEC, "DENIED", door="main-door") for i in range(5)], "A")
    incidents: list[Incident] = feed(CorrelationEngine(default_pack(), MemoryBuildingRegistry()),
                                     events)
    (inc,) = [i for i in incidents if i.rule_id == "credential_brute_force"]
    assert inc.key == "A|main-door" and len(inc.evidence) == 5


def test_only_rules_keyed_by_site_local_fields_gain_the_site() -> None:
    rules = {r.id: r.by for r in load_rules(RULES).rules}
    assert rules["forced_door"] == ("site_id", "door_id")
    assert rules["device_tamper"] == ("site_id", "device_id")
    assert rules["perimeter_breach_entry"] == ("site_id",)  # already the site
    assert rules["cloned_credential"] == ("credential_hash",)  # across sites on purpose
