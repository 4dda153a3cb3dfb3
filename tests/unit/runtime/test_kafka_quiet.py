"""A worker whose broker is away says so in its own words, not in librdkafka's reconnect log
(docs/operations.md, "Logging"): every client it makes logs through ``hub.kafka``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

#: a line librdkafka printed itself: "%3|1796...|FAIL|rdkafka#producer-3| ..."
RAW = re.compile(r"^%\d\|")


def test_a_worker_without_a_broker_does_not_flood_stderr(tmp_path: Path) -> None:
    env = {**os.environ, "HUB_BOOTSTRAP": "127.0.0.1:1", "HUB_APP_ID": "quiet-test",
           "HUB_STATE_DIR": str(tmp_path)}
    lines: list[str] = []
    with subprocess.Popen([sys.executable, "-m", "hub", "worker", "--no-supervise",
                           "--metrics-port", "0"], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True) as worker:
        assert worker.stderr is not None
        reader = threading.Thread(target=lambda: lines.extend(worker.stderr or ()), daemon=True)
        reader.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("waiting for Kafka" in x for x in lines):
            time.sleep(0.2)  # librdkafka meanwhile retries the refused connection ~20 times/s
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=10)
        reader.join(timeout=5)
    assert any("waiting for Kafka" in x for x in lines), "".join(lines[-20:])
    raw = [line for line in lines if RAW.match(line)]
    assert raw == [], f"{len(raw)} raw librdkafka lines, e.g. {raw[:2]}"
