"""The console's feed says the board is complete only once it has read every topic to where it
ended at start: an outside probe found `caught_up` set on the first empty answer, before any
fetch had returned, so a freshly started console showed 0 of 91 cases as complete and answered
404 for real incidents."""

from __future__ import annotations

import time
import uuid

import pytest

from hub.codec import load_codec
from hub.console.board import Board
from hub.console.feed import Feed
from hub.core.cases import CaseBook, load_dispatch
from hub.settings import CASES_TOPIC, Settings
from tests.integration.casework_harness import send
from tests.unit.core.test_cases import NOW, incident

pytestmark = [pytest.mark.integration]


def test_the_board_is_complete_when_it_says_so(stack_settings: Settings) -> None:
    codec = load_codec()
    book = CaseBook(load_dispatch(stack_settings.dispatch_file))
    run = uuid.uuid4().hex[:8]
    ids = [f"inc-feed-{run}-{i}" for i in range(2_000)]
    items = []
    for iid in ids:
        [opened] = book.on_incident(incident(iid), NOW)
        items.append((iid, codec.encode("case_change", opened.to_record())))
    send(stack_settings, CASES_TOPIC, items)
    for attempt in range(3):  # each start reads from the beginning, as a restarted console
        board = Board()
        feed = Feed(stack_settings, codec, board, on_change=lambda: None)
        feed.start()
        try:
            assert feed.caught_up.wait(60), "the feed never caught up"
            missing = [iid for iid in ids if not board.known(iid)]
            assert not missing, (f"start {attempt}: caught_up with {len(missing)} of "
                                 f"{len(ids)} cases not read yet")
        finally:
            feed.close()
        time.sleep(0.1)
