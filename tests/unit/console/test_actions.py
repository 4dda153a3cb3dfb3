"""POST /incidents/{iid}/actions (hub.console.web.act) against a board, without Kafka: what the
operator is told at once, and the action id a form carries (sent again, it is one action)."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable

import pytest

from hub.codec import load_codec
from hub.console.accounts import Account
from hub.console.board import Board
from hub.console.feed import ActionNotStored
from hub.model.cases import MAX_NOTE, Department, IncidentAction
from tests.case_builders import incident
from tests.unit.console.serving import Client, make_console, serve
from tests.unit.console.test_board import NOW, change

T1 = Department("TOWNSHIP", "T-CW-1")


def run(test: Callable[[Client, list[IncidentAction]], Awaitable[None]], *,
        state: str = "OPEN", fail: bool = False) -> None:
    board = Board()
    board.apply_incident(incident("inc-a", emitted=NOW).to_record())
    board.apply_case(change("inc-a", 1, state=state))
    sent: list[IncidentAction] = []

    def send(action: IncidentAction) -> None:
        if fail:
            raise ActionNotStored("Local: Message timed out")
        sent.append(action)

    console = make_console({"t1": Account("t1", "T1", T1, "scrypt$unused")}, board=board,
                           send=send)
    serve(console, lambda client: test(client, sent), signed_in="t1")


async def post(client: Client, **form: str) -> tuple[int, str]:
    r = await client.post("/incidents/inc-a/actions", data=form, allow_redirects=False,
                          headers={"Accept": "application/json"})
    return r.status, await r.text()


def test_the_forms_action_id_makes_a_resent_form_one_action() -> None:
    async def test(client: Client, sent: list[IncidentAction]) -> None:
        page = await (await client.get("/incidents/inc-a")).text()
        [aid] = re.findall(r'name="action_id" value="(act-[0-9a-f]{32})"', page)
        again = await (await client.get("/incidents/inc-a")).text()
        assert aid not in again  # every drawing of the form is a new action
        assert (await post(client, action="ACKNOWLEDGE", action_id=aid))[0] == 202
        assert (await post(client, action="ACKNOWLEDGE", action_id=aid))[0] == 202  # resent
        assert (await post(client, action="ACKNOWLEDGE", action_id="x; drop"))[0] == 202
        assert sent[0].action_id == sent[1].action_id  # the same action: applied once
        assert re.fullmatch(r"act-[0-9a-f]{32}", sent[2].action_id)
        assert sent[2].action_id != sent[0].action_id

    run(test)


def test_another_action_from_the_same_form_is_another_action() -> None:
    """A stale tab's form (an outside probe: COMMENT, then RESOLVE with the same action_id):
    taken as given, the casework dropped the RESOLVE as a repeat after a 202."""
    async def test(client: Client, sent: list[IncidentAction]) -> None:
        page = await (await client.get("/incidents/inc-a")).text()
        [aid] = re.findall(r'name="action_id" value="(act-[0-9a-f]{32})"', page)
        assert (await post(client, action="COMMENT", note="看过", action_id=aid))[0] == 202
        assert (await post(client, action="COMMENT", note="又看", action_id=aid))[0] == 202
        assert (await post(client, action="ACKNOWLEDGE", action_id=aid))[0] == 202
        assert len({a.action_id for a in sent}) == 3

    run(test)


@pytest.mark.parametrize(("state", "form", "status", "says"), [
    ("OPEN", {"action": "REOPEN"}, 409, "not allowed on an OPEN case; allowed: ACKNOWLEDGE"),
    ("ACKNOWLEDGED", {"action": "ACKNOWLEDGE"}, 409, "not allowed on an ACKNOWLEDGED case"),
    ("RESOLVED", {"action": "ACKNOWLEDGE"}, 409, "allowed: COMMENT, REOPEN"),
    ("OPEN", {"action": "ASSIGN", "assignee": "  "}, 400, "assignee: ASSIGN needs"),
    ("OPEN", {"action": "COMMENT", "note": "x" * (MAX_NOTE + 1)}, 400, "note: 4,001 characters"),
    ("OPEN", {"action": "ASSIGN", "assignee": "y" * 201}, 400, "assignee: 201 characters"),
    ("OPEN", {"action": "COMMENT", "note": "已处理\u202e理处未"}, 400,
     "note: U+202E at character 3"),
    ("OPEN", {"action": "ASSIGN", "assignee": "张\x00三"}, 400, "assignee: U+0000 at character 1"),
])
def test_an_action_the_case_cannot_take_is_refused_at_once(state: str, form: dict[str, str],
                                                           status: int, says: str) -> None:
    async def test(client: Client, sent: list[IncidentAction]) -> None:
        got, text = await post(client, **form)
        assert (got, sent) == (status, [])
        assert says in text, text

    run(test, state=state)


def test_not_stored_is_503_saying_the_same_form_may_be_sent_again() -> None:
    async def test(client: Client, sent: list[IncidentAction]) -> None:
        got, text = await post(client, action="ACKNOWLEDGE")
        # a timed-out request may have reached a broker that stalled: never "nothing changed"
        assert got == 503 and "may still be applied" in text and "Sending the same form" in text
        assert "nothing changed" not in text

    run(test, fail=True)


def test_the_producer_gives_an_action_up_before_the_page_stops_waiting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The 503's "nothing changed" holds only if the producer has dropped the action: with
    Kafka away, the delivery report says it timed out (message.timeout.ms), before the page's
    wait is over. Before, flush gave up first and the action stayed queued, stored later."""
    from hub.console import feed as feed_module
    from hub.settings import Settings

    monkeypatch.setattr(feed_module, "ACTION_DELIVERY_MS", 300)  # the page's wait: 5 s
    feed = feed_module.Feed(Settings(bootstrap="127.0.0.1:1"), load_codec(), Board(),
                            lambda: None)
    feed._producer = feed_module.action_producer(feed.settings)
    action = IncidentAction("act-" + "0" * 32, "inc-a", "ACKNOWLEDGE", "t1", T1, NOW)
    started = time.monotonic()
    with pytest.raises(ActionNotStored, match="timed out"):
        feed.send_action(action, timeout=5.0)
    assert time.monotonic() - started < 4.0
    # Nothing left queued to be stored later. len() also counts events the producer has not
    # served yet (a refused connection's error, every few hundred ms with Kafka away): served,
    # the queue empties at once, while a message still queued (message.timeout.ms not the
    # page's, the bug) would hold it for minutes. 3 of 7 runs saw such an event here at once.
    deadline = time.monotonic() + 2.0
    while len(feed._producer) and time.monotonic() < deadline:
        feed._producer.poll(0.05)
    assert len(feed._producer) == 0


def test_the_page_says_only_its_own_notices_and_is_never_framed() -> None:
    async def test(client: Client, sent: list[IncidentAction]) -> None:
        own = await client.get("/incidents/inc-a?notice=ACKNOWLEDGE+sent")
        assert "ACKNOWLEDGE sent" in await own.text()
        forged = await client.get("/incidents/inc-a?notice=Call+13900000000+now")
        assert "13900000000" not in await forged.text()
        for r in (own, forged, await client.get("/login"), await client.get("/nowhere")):
            assert r.headers["X-Frame-Options"] == "DENY"
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
            assert r.headers["X-Content-Type-Options"] == "nosniff"

    run(test)


def test_the_board_says_when_it_is_not_complete_or_kafka_is_away() -> None:
    """The board answered 200 from what it had read, with no word that Kafka was down or that
    a restarted console had not read every case yet (an outside probe)."""
    from hub.console import feed as feed_module
    from hub.settings import Settings

    async def test(client: Client, sent: list[IncidentAction]) -> None:
        got = await (await client.get("/api/board")).json()
        assert got["feed"] == {"caught_up": True, "kafka": None}

    run(test)
    feed = feed_module.Feed(Settings(bootstrap="127.0.0.1:1"), load_codec(), Board(),
                            lambda: None)
    feed.start()
    try:
        deadline = time.monotonic() + 20
        while feed.status()["kafka"] is None and time.monotonic() < deadline:
            time.sleep(0.2)
        status = feed.status()
    finally:
        feed.close()
    assert status["caught_up"] is False
    assert status["kafka"] and status["kafka"].startswith("Kafka does not answer since")


def test_personal_numbers_in_a_note_or_assignee_are_stored_as_pseudonyms() -> None:
    """An operator's "已联系报警人 13812345678" must not put the number on hub.incident.actions
    and in every level's history (an outside probe found phone, ID and card numbers raw)."""
    from hub.core.pseudonym import pseudonymize

    async def test(client: Client, sent: list[IncidentAction]) -> None:
        got, _ = await post(client, action="ASSIGN", assignee="张警官 13912345678",
                            note="已联系报警人 13812345678，身份证 330106199001011234")
        assert got == 202
        [action] = sent
        key = make_console({}).pseudonym_key
        assert action.assignee == f"张警官 {pseudonymize('13912345678', key)}"
        assert action.note is not None
        for raw in ("13812345678", "330106199001011234"):
            assert raw not in action.note and pseudonymize(raw, key) in action.note
        got, text = await post(client, action="COMMENT", note="电话 13812345678 " * 200)
        assert got == 400 and "once the personal numbers in it are replaced" in text

    run(test)
