"""Checking console passwords without stalling the page, telling nothing, and slowing guessing.

A scrypt check costs ~50 ms of a core. Run on the event loop, 200 wrong passwords sent at once
held every page, live board and action of the console for 11 s (an outside probe), and an
unknown user, answered without a check, came back in 1 ms against 50-69 ms for a known one: the
timing said which accounts exist. Here every check runs in a worker thread (scrypt releases the
GIL), two at a time, and an unknown user is checked against a decoy hash at the same cost. After
``FAILS_PER_NAME`` failures for one user name, or ``FAILS_PER_CLIENT`` from one address, within
``WINDOW_S``, further tries are refused (429) without a check until the window has moved on.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from collections.abc import Callable

from hub.console.accounts import Account
from hub.core.secret_hash import hash_secret, verify_secret

WINDOW_S = 60.0
FAILS_PER_NAME = 5
FAILS_PER_CLIENT = 20
#: password checks running at once (each holds a core for ~50 ms)
CHECKS_AT_ONCE = 2
#: names and addresses remembered at most (made-up names cost memory): then it starts again
MOST_REMEMBERED = 10_000


class SignIns:
    """The console's password checks: ``refused_for`` (seconds to wait, 0: go on), then
    ``check``."""

    def __init__(self, accounts: dict[str, Account], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.accounts = accounts
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        #: made at the first check, known user or not (so no timing tells them apart), off
        #: the event loop: a scrypt hash costs ~50 ms, and a console that nobody signs in to
        #: (every test that builds one) need not pay it
        self._decoy: str | None = None
        self._slots: asyncio.Semaphore | None = None

    def refused_for(self, user: str, client: str) -> float:
        """Seconds until ``user`` from ``client`` may try again; 0 when it may now."""
        now = self._clock()
        wait = 0.0
        for key, most in ((f"name:{user}", FAILS_PER_NAME), (f"client:{client}", FAILS_PER_CLIENT)):
            times = self._failures.get(key)
            if times is None:
                continue
            while times and times[0] <= now - WINDOW_S:
                times.popleft()
            if len(times) >= most:
                wait = max(wait, times[0] + WINDOW_S - now)
        return wait

    async def check(self, user: str, password: str, client: str) -> Account | None:
        """The account when ``password`` is ``user``'s; None otherwise, after the same work."""
        loop = asyncio.get_running_loop()
        if self._decoy is None:
            self._decoy = await loop.run_in_executor(None, hash_secret,
                                                     secrets.token_urlsafe(16))
        account = self.accounts.get(user)
        stored = account.password if account is not None else self._decoy
        if self._slots is None:
            self._slots = asyncio.Semaphore(CHECKS_AT_ONCE)
        async with self._slots:
            ok = await loop.run_in_executor(None, verify_secret, password, stored)
        if account is not None and ok:
            self._failures.pop(f"name:{user}", None)
            return account
        self._failed(f"name:{user}")
        self._failed(f"client:{client}")
        return None

    def _failed(self, key: str) -> None:
        if len(self._failures) >= MOST_REMEMBERED and key not in self._failures:
            self._failures.clear()
        self._failures.setdefault(key, deque()).append(self._clock())
