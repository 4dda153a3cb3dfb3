"""A console served in-process (aiohttp's test server), without Kafka: what the page tests
share, so each says only what it sends and what it must be told."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from hub.console.accounts import Account
from hub.console.analytics import AnalyticsView
from hub.console.board import Board
from hub.console.web import COOKIE, Console, create_web_app
from hub.model.cases import IncidentAction

Client = TestClient[Any, Any]


def make_console(accounts: Mapping[str, Account], *, board: Board | None = None,
                 send: Callable[[IncidentAction], None] = lambda _: None) -> Console:
    """A console over ``board`` (empty by default) whose actions go to ``send``."""
    return Console(board or Board(), dict(accounts), AnalyticsView(), send)


def serve(console: Console, test: Callable[[Client], Awaitable[None]], *,
          signed_in: str | None = None) -> None:
    """Run ``test`` against ``console``'s pages; ``signed_in``: the account whose session the
    client's cookie carries (no password check)."""
    async def main() -> None:
        async with TestClient(TestServer(create_web_app(console))) as client:
            if signed_in is not None:
                console.sessions["tok"] = (signed_in, time.time() + 600)
                client.session.cookie_jar.update_cookies({COOKIE: "tok"})
            await test(client)

    asyncio.run(main())
