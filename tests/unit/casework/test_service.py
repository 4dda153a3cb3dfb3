"""hub/casework/service.py without Kafka: what one input changes and what it writes to the
changelogged table (a dict here), so that a successor rebuilt from the table goes on alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.casework.service import Casework, tick_value
from hub.codec import load_codec
from hub.core.cases import ActionRejected, load_dispatch
from hub.model.cases import Department, IncidentAction
from tests.unit.core.test_cases import MIN, NOW, incident

REPO = Path(__file__).resolve().parents[3]
CODEC = load_codec()


def service(table: dict[bytes, bytes]) -> Casework:
    return Casework(load_dispatch(REPO / "topology" / "dispatch.yaml"), CODEC, table)


def encoded(iid: str, emitted: int) -> bytes:
    return CODEC.encode("incident", incident(iid, emitted_time=emitted).to_record())


def test_the_first_tick_persists_every_case_it_clocked_in() -> None:
    """A case still running at the first tick keeps its deadline and makes no change, but its
    stored flag must go: a successor that kept it would move an overdue deadline again."""
    table: dict[bytes, bytes] = {}
    cw = service(table)
    cw.on_incident(0, encoded("old", NOW - 60 * MIN))
    cw.on_incident(0, encoded("live", NOW))
    assert all(json.loads(v).get("u") for v in table.values())
    [moved] = cw.on_tick(0, tick_value(NOW + 1000))
    assert (moved.incident_id, moved.change) == ("old", "UPDATED")
    assert not any(json.loads(v).get("u") for v in table.values())

    successor = service(dict(table))  # rebuilt from the table after a crash
    [live] = successor.on_tick(0, tick_value(NOW + 5 * MIN))  # due while the first was down
    assert (live.incident_id, live.change, live.level) == ("live", "ESCALATED", "CITY")
    [old] = successor.on_tick(0, tick_value(NOW + 5 * MIN + 1000))
    assert (old.incident_id, old.change) == ("old", "ESCALATED")


def test_a_retraction_reaches_the_level_the_case_was_escalated_to() -> None:
    """The worker withdraws an incident only on the topic it routed it to; the level the case
    had escalated to heard the alarm from the casework, and must hear its retraction too."""
    cw = service({})
    provisional = incident("p", route=("DISTRICT", "D1"), status="PROVISIONAL",
                           emitted_time=NOW)
    cw.on_incident(0, CODEC.encode("incident", provisional.to_record()))
    cw.on_tick(0, tick_value(NOW))
    [up] = cw.on_tick(0, tick_value(NOW + 5 * MIN))
    assert (up.change, up.level) == ("ESCALATED", "CITY")
    [(topic, key, _)] = cw.escalations([up])
    retracted = incident("p", route=("DISTRICT", "D1"), status="RETRACTED", emitted_time=NOW,
                         status_reason="late data")
    [closed] = cw.on_incident(0, CODEC.encode("incident", retracted.to_record()))
    [(topic2, key2, value2)] = cw.escalations([closed])
    assert (topic2, key2) == (topic, key) == ("hub.incidents.city", "C1")
    record = CODEC.decode(value2)[1]
    assert record["status"] == "RETRACTED" and "escalated:DISTRICT>CITY" in record["tags"]


def test_a_provisional_version_read_after_the_confirmed_one_is_not_republished() -> None:
    cw = service({})
    for status, version in (("CONFIRMED", 1), ("PROVISIONAL", 2)):
        inc = incident("c", route=("DISTRICT", "D1"), status=status, version=version,
                       emitted_time=NOW)
        cw.on_incident(0, CODEC.encode("incident", inc.to_record()))
    cw.on_tick(0, tick_value(NOW))
    [up] = cw.on_tick(0, tick_value(NOW + 5 * MIN))
    [(_, _, value)] = cw.escalations([up])
    assert CODEC.decode(value)[1]["status"] == "CONFIRMED"


def test_each_later_version_of_an_escalated_incident_reaches_its_new_level() -> None:
    """An outside probe: a case escalated while its incident was PROVISIONAL; the CONFIRMED
    version went only to the level the worker routes to, so the level above kept the
    PROVISIONAL one for ever. A version that does not stand (older) is not sent."""
    cw = service({})
    provisional = incident("e", route=("DISTRICT", "D1"), status="PROVISIONAL",
                           emitted_time=NOW)
    value = CODEC.encode("incident", provisional.to_record())
    cw.on_incident(0, value)
    assert cw.above(0, value) == []  # not escalated: the worker's routing is enough
    cw.on_tick(0, tick_value(NOW))
    cw.on_tick(0, tick_value(NOW + 5 * MIN))  # -> CITY
    confirmed = incident("e", route=("DISTRICT", "D1"), status="CONFIRMED", emitted_time=NOW)
    value = CODEC.encode("incident", confirmed.to_record())
    assert cw.on_incident(0, value) == []  # nothing for the case to change
    [(topic, key, out)] = cw.above(0, value)
    record = CODEC.decode(out)[1]
    assert (topic, key, record["status"]) == ("hub.incidents.city", "C1", "CONFIRMED")
    assert record["route"] == {"level": "CITY", "department_id": "C1"}
    assert "escalated:DISTRICT>CITY" in record["tags"]
    stale = CODEC.encode("incident", provisional.to_record())  # read again after it
    cw.on_incident(0, stale)
    assert cw.above(0, stale) == []
    retracted = incident("e", route=("DISTRICT", "D1"), status="RETRACTED", version=2,
                         emitted_time=NOW)
    value = CODEC.encode("incident", retracted.to_record())
    [closed] = cw.on_incident(0, value)
    assert cw.above(0, value) == [] and len(cw.escalations([closed])) == 1  # sent once


def test_a_rejected_action_is_kept_in_the_table_with_its_case() -> None:
    """The REJECTED change is published once: a successor rebuilt from the table must know the
    action was recorded, or a redelivery after a crash would record it again."""
    table: dict[bytes, bytes] = {}
    cw = service(table)
    cw.on_incident(0, CODEC.encode("incident", incident("r", route=("DISTRICT", "D1"),
                                                        emitted_time=NOW).to_record()))

    def action(aid: str) -> bytes:
        return CODEC.encode("incident_action", IncidentAction(
            aid, "r", "ACKNOWLEDGE", "op", Department("DISTRICT", "D1"), NOW).to_record())
    cw.on_action(0, action("a-1"))
    with pytest.raises(ActionRejected) as first:
        cw.on_action(0, action("a-2"))
    assert first.value.change is not None and first.value.change.change == "REJECTED"
    successor = service(dict(table))
    with pytest.raises(ActionRejected) as again:
        successor.on_action(0, action("a-2"))
    assert again.value.change is None  # recorded before the crash: not twice


def test_personal_numbers_in_an_action_are_kept_in_the_case_as_pseudonyms() -> None:
    """An app other than the console may write an action whose note holds a phone number:
    the case (hub.cases, every level's history) keeps its pseudonym, never the number."""
    from hub.core.pseudonym import pseudonymize

    table: dict[bytes, bytes] = {}
    cw = service(table)
    cw.on_incident(0, CODEC.encode("incident", incident("n", route=("DISTRICT", "D1"),
                                                        emitted_time=NOW).to_record()))
    [changed] = cw.on_action(0, CODEC.encode("incident_action", IncidentAction(
        "a-n", "n", "ASSIGN", "op", Department("DISTRICT", "D1"), NOW,
        assignee="李 13912345678", note="回电 13812345678").to_record()))
    key = cw.pseudonym_key
    assert changed.assignee == f"李 {pseudonymize('13912345678', key)}"
    assert changed.note == f"回电 {pseudonymize('13812345678', key)}"
    assert not any(b"13812345678" in v or b"13912345678" in v for v in table.values())


@pytest.mark.parametrize("method", ["on_action", "on_incident"])
def test_a_record_of_another_kind_is_refused_naming_the_kind(method: str) -> None:
    """A perimeter alarm on hub.incident.actions failed with "KeyError: 'action_id'" (a
    PROCESSING_ERROR, "a bug of ours"): it is a VALIDATION_ERROR on the field kind."""
    from hub.model.errors import ValidationError
    alarm = CODEC.encode("perimeter_alarm", {
        "event_id": "a-1", "vendor": "dahua", "device_id": "PA-1", "site_id": "S-1",
        "event_time": NOW, "zone_id": "Z-1", "building_id": None, "alarm_type": "INTRUSION",
        "severity": 4, "description": None})
    with pytest.raises(ValidationError) as info:
        getattr(service({}), method)(0, alarm)
    assert info.value.field == "kind" and "a perimeter_alarm record on" in str(info.value)


def test_a_rejected_actions_dead_letter_keeps_its_note_pseudonymized() -> None:
    from hub.core.pseudonym import pseudonymize
    cw = service({})
    raw = CODEC.encode("incident_action", IncidentAction(
        "a-x", "none", "COMMENT", "op", Department("DISTRICT", "D1"), NOW,
        note="报警人电话 13988880003").to_record())
    kept, fields, sealed = cw.kept_for_dead_letter(raw)
    assert fields == ["note"] and b"13988880003" not in kept and not sealed
    hidden = pseudonymize("13988880003", cw.pseudonym_key)
    assert CODEC.decode(kept)[1]["note"] == f"报警人电话 {hidden}"
    plain = CODEC.encode("incident_action", IncidentAction(
        "a-y", "none", "COMMENT", "op", Department("DISTRICT", "D1"), NOW, note="ok").to_record())
    assert cw.kept_for_dead_letter(plain) == (plain, [], False)
    junk, _, sealed = cw.kept_for_dead_letter(b"\x00not an action 13988880003")
    assert sealed and b"13988880003" not in junk
