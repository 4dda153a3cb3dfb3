"""Run an aiohttp application on host:port until SIGTERM/SIGINT: the one serve loop of the hub's
web processes (``hub gateway``, ``hub console``).

A stop runs aiohttp's shutdown (``runner.cleanup()``): the app's ``on_shutdown`` hooks run first,
which is how the console ends its live event streams so SIGTERM does not wait on open browsers,
then in-flight requests finish. ``on_stop`` runs last, once the loop is gone (the gateway closes
its Kafka sink there, so what was accepted is delivered).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger(__name__)


class MalformedRequestLine(logging.Filter):
    """aiohttp logs a request it cannot parse (a 10 kB URL, a broken header) at ERROR with a
    traceback; the client already got its 400. One line naming the client and the reason is
    what an operator needs, and a hostile client cannot fill the log with tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite such a record in place; every record is kept."""
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            detail = " ".join(str(exc.message).split())
            record.msg, record.args = "%s: bad HTTP request (%d): %s", (
                record.getMessage(), exc.code, detail[:160])
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


def quiet_malformed_requests() -> None:
    """Install :class:`MalformedRequestLine` on aiohttp's server logger (once)."""
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequestLine) for f in server_log.filters):
        server_log.addFilter(MalformedRequestLine())


#: A connection that has not sent a whole request within this long of connecting, or of its last
#: answer, is closed. aiohttp's default is an hour: 50 clients that sent half a request line held
#: their connections for good, and 20,000 such ran the gateway out of file descriptors (an
#: outside probe). Long answers (the console's live stream, a wait on Kafka) are not idle.
IDLE_CLOSE_S = 15.0


def make_runner(app: web.Application, access_log: logging.Logger | None = None) -> web.AppRunner:
    """The AppRunner every web process of the hub serves ``app`` with (IDLE_CLOSE_S)."""
    return web.AppRunner(app, access_log=access_log, keepalive_timeout=IDLE_CLOSE_S)


class ListenError(Exception):
    """The server cannot listen on host:port (taken, or not an address of this machine); the
    command names its flags and exits 2 instead of showing asyncio's traceback."""


def serve_until_stopped(
    app: web.Application,
    host: str,
    port: int,
    *,
    name: str,
    summary: str,
    on_start: Callable[[asyncio.AbstractEventLoop], Any] | None = None,
    on_stop: Callable[[], Any] | None = None,
    verbose: bool = False,
) -> int:
    """Serve ``app`` until SIGTERM/SIGINT; exit status 0. ``ListenError`` when host:port cannot
    be bound (``on_stop`` still runs).

    Once listening it logs ``"<name> on http://host:port (<summary>)"`` and prints
    ``{"<name>": "http://host:port"}`` on stdout (tests and scripts wait for that line).
    ``on_start`` gets the running loop once the port is bound (the console hands it to its feed
    thread, which must not start, and log, when the console cannot listen); ``verbose`` turns
    aiohttp's access log on.
    """
    access_log = logging.getLogger("aiohttp.access") if verbose else None
    quiet_malformed_requests()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        runner = make_runner(app, access_log)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            # asyncio rewords the errno's text around the address; the errno alone says it
            # (a host name that does not resolve has a negative errno: its own text is right)
            code = exc.errno or 0
            why = os.strerror(code) if code > 0 else exc.strerror or str(exc)
            raise ListenError(f"cannot listen on {host}:{port} ({why})") from None
        if on_start is not None:
            on_start(loop)
        log.info("%s on http://%s:%d (%s)", name, host, port, summary)
        print(json.dumps({name: f"http://{host}:{port}"}), flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    finally:
        if on_stop is not None:
            on_stop()
    return 0
