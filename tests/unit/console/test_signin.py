"""Sign-in (hub.console.signin through POST /login): checks off the event loop, the same work
for an unknown user, and a 429 after repeated failures."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hub.console import signin
from hub.console.accounts import Account
from hub.console.web import Console
from hub.core.secret_hash import hash_secret
from hub.model.cases import Department
from tests.unit.console.serving import Client, make_console, serve

PASSWORD = "correct horse battery"


def console(clock: list[float] | None = None) -> Console:
    c = make_console({"t1": Account("t1", "T1", Department("TOWNSHIP", "T-1"),
                                    hash_secret(PASSWORD))})
    if clock is not None:
        c.signins = signin.SignIns(c.accounts, clock=lambda: clock[0])
    return c


async def login(client: Client, user: str, password: str) -> int:
    r = await client.post("/login", data={"user": user, "password": password},
                          allow_redirects=False)
    return r.status


def test_a_password_check_never_holds_the_other_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the check has started, /healthz is asked for and the check waits until it has been
    answered. Run on the event loop, nothing is served while it waits: it waits in vain."""
    checking, healthy = threading.Event(), threading.Event()
    saw: list[bool] = []

    def slow(secret: str, stored: str) -> bool:
        checking.set()
        saw.append(healthy.wait(5))
        return False

    monkeypatch.setattr(signin, "verify_secret", slow)

    async def test(client: Client) -> None:
        attempt = asyncio.create_task(login(client, "t1", "wrong"))
        assert await asyncio.get_running_loop().run_in_executor(None, checking.wait, 10)
        assert (await client.get("/healthz")).status == 200
        healthy.set()
        assert await attempt == 401

    serve(console(), test)
    assert saw == [True]


def test_an_unknown_user_costs_a_check_as_a_known_one(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str] = []
    real = signin.verify_secret

    def spy(secret: str, stored: str) -> bool:
        checked.append(stored)
        return real(secret, stored)

    monkeypatch.setattr(signin, "verify_secret", spy)

    async def test(client: Client) -> None:
        assert await login(client, "nobody", "x") == 401
        assert await login(client, "t1", "x") == 401
        assert await login(client, "t1", PASSWORD) == 303

    serve(console(), test)
    assert len(checked) == 3 and checked[0].startswith("scrypt$") and checked[0] != checked[1]


def test_repeated_failures_are_refused_without_a_check_until_the_window_moves() -> None:
    clock = [1000.0]
    c = console(clock)

    async def test(client: Client) -> None:
        for _ in range(signin.FAILS_PER_NAME):
            assert await login(client, "t1", "guess") == 401
        r = await client.post("/login", data={"user": "t1", "password": PASSWORD},
                              allow_redirects=False)
        assert r.status == 429 and 0 < int(r.headers["Retry-After"]) <= 61
        assert await login(client, "ghost", "guess") == 401  # another name may still try
        clock[0] += signin.WINDOW_S
        assert await login(client, "t1", PASSWORD) == 303

    serve(c, test)


def test_one_address_guessing_many_names_is_refused_too() -> None:
    clock = [1000.0]
    c = console(clock)

    async def test(client: Client) -> None:
        for i in range(signin.FAILS_PER_CLIENT):
            assert await login(client, f"user-{i}", "guess") == 401
        assert await login(client, "t1", PASSWORD) == 429

    serve(c, test)
