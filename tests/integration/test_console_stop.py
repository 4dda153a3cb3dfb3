"""`hub console` stops within seconds of SIGTERM even while a browser keeps its live board open
(the board's event stream would otherwise hold aiohttp's shutdown for up to a minute)."""

from __future__ import annotations

import http.cookiejar
import os
import signal
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from hub.settings import Settings
from tests.integration.casework_harness import console_process

pytestmark = [pytest.mark.integration]


def _exited(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in {"Z", "X"}


def test_sigterm_stops_the_console_with_a_stream_open(stack_settings: Settings,
                                                      tmp_path: Path) -> None:
    accounts = {"op": ("TOWNSHIP", "T-STOP-1", "pw-stop-1")}
    with console_process(stack_settings, tmp_path, accounts) as (url, pid):
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(f"{url}/login", data=urllib.parse.urlencode(
            {"user": "op", "password": "pw-stop-1"}).encode(), timeout=10).close()
        stream = opener.open(f"{url}/api/stream", timeout=30)
        first = stream.readline()
        assert first.startswith(b"event: change"), first
        reader = threading.Thread(target=lambda: stream.read(), daemon=True)
        reader.start()  # a browser holding the stream open
        began = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        while not _exited(pid) and time.monotonic() - began < 20:
            time.sleep(0.1)
        took = time.monotonic() - began
        stream.close()
        assert _exited(pid) and took <= 5.0, f"hub console took {took:.1f}s to stop"
