"""hub/adapters/http_server.py: a request aiohttp cannot parse is one warning line, not an
ERROR with a traceback per hostile request. A real aiohttp server on 127.0.0.1, real sockets."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web

from hub.adapters.http_server import quiet_malformed_requests


async def _send_raw(requests: list[bytes]) -> list[bytes]:
    app = web.Application()
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    answers = []
    try:
        for raw in requests:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw)
            await writer.drain()
            answers.append(await asyncio.wait_for(reader.read(100), 5))
            writer.close()
        await asyncio.sleep(0.1)  # the server logs after it answers
    finally:
        await runner.cleanup()
    return answers


@pytest.mark.parametrize("raw", [
    b"GET /" + b"z" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
])
def test_a_request_aiohttp_cannot_parse_is_one_warning_line(
        raw: bytes, caplog: pytest.LogCaptureFixture) -> None:
    quiet_malformed_requests()
    quiet_malformed_requests()  # installed once, however often asked
    with caplog.at_level(logging.DEBUG, logger="aiohttp.server"):
        answers = asyncio.run(_send_raw([raw]))
    assert answers[0].startswith(b"HTTP/1.0 400") or answers[0].startswith(b"HTTP/1.1 400")
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert len(records) == 1, [r.getMessage() for r in records]
    record = records[0]
    assert record.levelno == logging.WARNING and record.exc_info is None
    line = record.getMessage()
    assert "bad HTTP request (400)" in line and "127.0.0.1" in line and len(line) < 300, line
    assert len(logging.getLogger("aiohttp.server").filters) == 1


def test_a_connection_that_never_finishes_its_request_is_closed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Half a request line, then nothing: closed after IDLE_CLOSE_S (here 0.3 s), where
    aiohttp's default held it an hour. A whole request on another connection is answered."""
    import socket

    from hub.adapters import http_server

    monkeypatch.setattr(http_server, "IDLE_CLOSE_S", 0.3)

    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def main() -> tuple[bytes, float, bytes]:
        app = web.Application()
        app.router.add_get("/", hello)
        runner = http_server.make_runner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        loop = asyncio.get_running_loop()
        try:
            with socket.create_connection(("127.0.0.1", port)) as slow, \
                    socket.create_connection(("127.0.0.1", port)) as whole:
                slow.sendall(b"POST /v1/events/x HTTP/1.1\r\nHost: x\r\n")
                whole.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                started = loop.time()
                slow.settimeout(5)
                whole.settimeout(5)
                closed = await loop.run_in_executor(None, slow.recv, 100)
                waited = loop.time() - started
                answer = await loop.run_in_executor(None, whole.recv, 100)
        finally:
            await runner.cleanup()
        return closed, waited, answer

    closed, waited, answer = asyncio.run(main())
    assert closed == b"" and waited < 4.0  # closed by the server, not the 5 s socket timeout
    assert answer.startswith(b"HTTP/1.1 200")
