"""``hub casework`` against the real broker: cases open, actions move them or are dead-lettered
with the reason, an unacknowledged case escalates up a level on the test's clock, and a killed
casework process goes on from its changelog without repeating or losing a change."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import pytest

from hub.codec.seal import unseal
from hub.settings import Settings
from tests.case_builders import MIN, action, incident
from tests.integration.casework_harness import (
    CODEC,
    TopicReader,
    casework,
    send_action,
    send_incident,
    send_ticks,
)
from tests.integration.topic_io import produce_raw

pytestmark = pytest.mark.timeout(300)


def test_cases_open_move_escalate_and_survive_a_kill(stack_settings: Settings,
                                                     tmp_path: Path) -> None:
    s = stack_settings
    t0 = int(time.time() * 1000)
    iid = f"inc-cw-{uuid.uuid4().hex[:12]}"
    other = f"inc-cw-{uuid.uuid4().hex[:12]}"
    cases, dead = TopicReader(s, "hub.cases"), TopicReader(s, "hub.deadletter")
    district = TopicReader(s, "hub.incidents.district")
    with casework(s, tmp_path) as cw:
        send_ticks(s, cw["app_id"], t0)
        send_incident(s, incident(iid, risk="HIGH", level="TOWNSHIP", emitted=t0))
        send_incident(s, incident(other, risk="LOW", level="GRID", emitted=t0))
        opened = cases.wait_for("the case to open", timeout=90, incident_id=iid)
        assert (opened["change"], opened["state"], opened["level"], opened["department_code"],
                opened["deadline"], opened["version"]) == (
            "OPENED", "OPEN", "TOWNSHIP", "T-CW-1", t0 + 5 * MIN, 1)

        # An early alert opens its case; late data that retracts it closes the case.
        early = f"inc-cw-{uuid.uuid4().hex[:12]}"
        send_incident(s, incident(early, risk="CRITICAL", emitted=t0, status="PROVISIONAL"))
        cases.wait_for("the early alert's case", incident_id=early, change="OPENED")
        send_incident(s, incident(early, risk="CRITICAL", emitted=t0 + 30_000, version=2,
                                  status="RETRACTED"))
        closed = cases.wait_for("the retraction", incident_id=early, change="RETRACTED")
        assert (closed["state"], closed["deadline"], closed["version"]) == ("CLOSED", None, 2)

        # Invalid actions: kept on the dead-letter topic with the reason and the original bytes.
        ghost = send_action(s, action(f"inc-none-{uuid.uuid4().hex[:8]}", "ACKNOWLEDGE",
                                      "TOWNSHIP", "T-CW-1", t0 + 1000))
        outsider = send_action(s, action(iid, "ACKNOWLEDGE", "TOWNSHIP", "T-CW-2", t0 + 1000))
        wrong_state = send_action(s, action(iid, "REOPEN", "TOWNSHIP", "T-CW-1", t0 + 1000))
        for original, fld in ((ghost, "incident_id"), (outsider, "department_code"),
                              (wrong_state, "action")):
            letter = dead.wait_for(f"dead letter for {fld}", original_value=original)
            assert (letter["reason"], letter["field"], letter["source_topic"]) == (
                "VALIDATION_ERROR", fld, "hub.incident.actions"), letter

        # Bytes that do not decode: sealed in their dead letter (they cannot be searched for a
        # raw personal value), the original bytes back with the dead-letter key.
        junk = produce_raw(s, "hub.incident.actions", b"\x00not an action 13911110027",
                           key=b"13911110027")
        letter = dead.wait_for("the junk action's dead letter", source_topic=junk.topic,
                               source_partition=junk.partition, source_offset=junk.offset)
        assert (letter["reason"], letter["original_sealed"]) == ("DECODE_ERROR", True), letter
        assert unseal(letter["original_value"], s.deadletter_key) == junk.value
        assert b"13911110027" not in (letter["original_key"] or b"")

        # Not acknowledged in time: one level up, published on that level's topic.
        send_ticks(s, cw["app_id"], t0 + 5 * MIN - 1)
        send_ticks(s, cw["app_id"], t0 + 5 * MIN)
        up = cases.wait_for("the escalation", incident_id=iid, change="ESCALATED")
        assert (up["level"], up["department_code"], up["deadline"], up["escalations"]) == (
            "DISTRICT", "D-CW-1", t0 + 10 * MIN, ["DISTRICT"])
        republished = district.wait_for("the incident on the district topic", incident_id=iid)
        assert republished["route"] == {"level": "DISTRICT", "department_id": "D-CW-1"}
        assert "escalated:TOWNSHIP>DISTRICT" in republished["tags"]
        # the two refused actions of this case are in its history too (REJECTED), before it
        changes = [(r["version"], r["change"]) for r in cases.matching(incident_id=iid)]
        assert changes == [(1, "OPENED"), (2, "REJECTED"), (3, "REJECTED"), (4, "ESCALATED")]
        refused = [r for r in cases.matching(incident_id=iid) if r["change"] == "REJECTED"]
        assert [(r["action"], r["state"], r["note"].split(":")[0]) for r in refused] == [
            ("ACKNOWLEDGE", "OPEN", "department_code"), ("REOPEN", "OPEN", "action")]

        # The township lost it: only the district (or above) may act now.
        late = send_action(s, action(iid, "ACKNOWLEDGE", "TOWNSHIP", "T-CW-1", t0 + 6 * MIN))
        assert dead.wait_for("late township", original_value=late)["field"] == "department_code"
        ack = action(iid, "ACKNOWLEDGE", "DISTRICT", "D-CW-1", t0 + 6 * MIN)
        send_action(s, ack)
        acked = cases.wait_for("the acknowledgement", incident_id=iid, change="ACTION")
        assert (acked["state"], acked["actor"], acked["deadline"], acked["version"]) == (
            "ACKNOWLEDGED", "op-test", None, 6)

        # Killed mid-stream: the restarted process restores its cases from the changelog; a
        # redelivered action changes nothing, the next one continues the versions.
        cw["proc"].send_signal(signal.SIGKILL)
        cw["proc"].wait(10)
        cw["proc"] = cw["start"]()
        send_action(s, ack)  # the same action id again
        send_action(s, action(iid, "RESOLVE", "CITY", "C-CW", t0 + 7 * MIN, note="cleared"))
        done = cases.wait_for("the resolution after restart", timeout=120, incident_id=iid,
                              state="RESOLVED")
        assert (done["version"], done["note"], done["actor"]) == (7, "cleared", "op-test")
        send_ticks(s, cw["app_id"], t0 + 60 * MIN)  # acknowledged cases never escalate again
        time.sleep(3)  # let a wrongly published change arrive, if there were one
        versions = sorted({(r["version"], r["change"]) for r in cases.matching(incident_id=iid)})
        assert versions == [(1, "OPENED"), (2, "REJECTED"), (3, "REJECTED"), (4, "ESCALATED"),
                            (5, "REJECTED"), (6, "ACTION"), (7, "ACTION")]
        # The LOW case at its grid: 24 h to acknowledge, so the hour's tick left it alone.
        assert [r["change"] for r in cases.matching(incident_id=other)] == ["OPENED"]
    for reader in (cases, dead, district):
        reader.close()
    assert CODEC  # the codec the records were read with is the project's own
