"""Helpers for the casework and console tests: a real ``hub casework`` against the real broker.

Incidents and actions are produced as the worker and the console would (Avro single-object,
keyed by incident id, murmur2 partitioner); the casework's clock is driven by the test
(``--clock driven`` and :func:`send_ticks`), so no test sleeps through a deadline.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hub.adapters.kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from hub.casework.service import clock_topic, ensure_clock_topic
from hub.codec import load_codec
from hub.model.cases import IncidentAction
from hub.model.errors import RecordError
from hub.model.incidents import Incident
from hub.settings import Settings
from tests.integration.harness_common import REPO, free_port, new_app_id, wait_until

CODEC = load_codec()


def producer(settings: Settings) -> Producer:
    return Producer({"bootstrap.servers": settings.bootstrap, "partitioner": "murmur2_random",
                     "enable.idempotence": True, "acks": "all"})


def send(settings: Settings, topic: str, items: list[tuple[str | None, bytes]],
         partition: int | None = None) -> None:
    p = producer(settings)
    for key, value in items:
        kw: dict[str, Any] = {} if partition is None else {"partition": partition}
        p.produce(topic, key=None if key is None else key.encode(), value=value, **kw)
    assert p.flush(30) == 0, f"could not deliver to {topic}"


def send_incident(settings: Settings, inc: Incident, topic: str = "hub.incidents") -> bytes:
    value = CODEC.encode("incident", inc.to_record())
    send(settings, topic, [(inc.incident_id, value)])
    return value


def send_action(settings: Settings, act: IncidentAction) -> bytes:
    value = CODEC.encode("incident_action", act.to_record())
    send(settings, "hub.incident.actions", [(act.incident_id, value)])
    return value


def send_ticks(settings: Settings, app_id: str, now_ms: int, partitions: int = 4) -> None:
    """Move the driven clock of casework ``app_id`` to ``now_ms`` on every partition."""
    p = producer(settings)
    for part in range(partitions):
        p.produce(clock_topic(app_id), value=str(now_ms).encode(), partition=part)
    assert p.flush(30) == 0


class TopicReader:
    """Everything on a topic from its start; decoded records accumulate in ``records``."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.consumer = Consumer({"bootstrap.servers": settings.bootstrap,
                                  "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                                  "enable.auto.commit": False})
        parts = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        self.records: list[dict[str, Any]] = []
        self.raw: list[tuple[bytes | None, bytes]] = []

    def poll(self) -> list[dict[str, Any]]:
        for msg in self.consumer.consume(500, timeout=0.5):
            if msg.error() is None and msg.value():
                try:
                    record = CODEC.decode(msg.value())[1]
                except RecordError:  # another test's junk (test_casework.py sends some): the
                    continue  # casework dead-letters it; it is no record to wait for here
                self.raw.append((msg.key(), msg.value()))
                self.records.append(record)
        return self.records

    def wait_for(self, what: str, timeout: float = 60.0, **match: Any) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for r in self.poll():
                if all(r.get(k) == v for k, v in match.items()):
                    return r
            return None
        return wait_until(found, timeout=timeout, what=what)  # type: ignore[no-any-return]

    def matching(self, **match: Any) -> list[dict[str, Any]]:
        return [r for r in self.poll() if all(r.get(k) == v for k, v in match.items())]

    def close(self) -> None:
        self.consumer.close()


@contextmanager
def casework(settings: Settings, tmp: Path, app_id: str | None = None, clock: str = "driven"
             ) -> Iterator[dict[str, Any]]:
    """A running ``hub casework --clock CLOCK``; yields {"proc", "app_id", "start"}."""
    app_id = app_id or new_app_id("cw")
    ensure_clock_topic(dataclasses.replace(settings, app_id=app_id))
    env = {**os.environ, "HUB_APP_ID": app_id, "HUB_STATE_DIR": str(tmp / app_id),
           "HUB_BOOTSTRAP": settings.bootstrap}
    log = (tmp / f"{app_id}.log").open("ab")

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "hub", "casework", "--clock", clock,
                                 "--loglevel", "info"], cwd=REPO, env=env, stdout=log,
                                stderr=subprocess.STDOUT)

    state: dict[str, Any] = {"proc": start(), "app_id": app_id, "start": start,
                             "log": tmp / f"{app_id}.log"}
    try:
        yield state
    finally:
        proc = state["proc"]
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


@contextmanager
def console(settings: Settings, tmp: Path, accounts: dict[str, tuple[str, str, str]]
            ) -> Iterator[str]:
    """A running ``hub console`` with ``accounts`` {user: (level, code, password)}; its URL."""
    with console_process(settings, tmp, accounts) as (url, _pid):
        yield url


@contextmanager
def console_process(settings: Settings, tmp: Path, accounts: dict[str, tuple[str, str, str]],
                    port: int | None = None) -> Iterator[tuple[str, int]]:
    """As :func:`console`; yields its URL and process id. ``port``: the one to listen on (a
    restart keeps its address), else a free one."""
    from hub.console.accounts import add_account

    path = tmp / "console-accounts.yaml"
    if not path.exists():  # a restart in the same directory keeps the accounts
        for user, (level, code, password) in accounts.items():
            add_account(path, user, f"{user} 综治中心", level, code, password)
    port = port or free_port()
    env = {**os.environ, "HUB_CONSOLE_ACCOUNTS": str(path), "HUB_BOOTSTRAP": settings.bootstrap}
    log = (tmp / "console.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "hub", "console", "--port", str(port)],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return proc.poll() is not None  # died: stop waiting, fail below
    try:
        wait_until(up, timeout=30, what="the console to answer")
        assert proc.poll() is None, (tmp / "console.log").read_text()
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)  # reaped, or "still running" is a ResourceWarning (an error here)
        log.close()


# -- the browser ---------------------------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def chromium() -> Any:
    """Debian's headless Chromium through its chromedriver (selenium); quit() it when done."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        raise RuntimeError("chromium / chromedriver missing: scripts/install.sh installs them")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--lang=zh-CN"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def sign_in(driver: Any, url: str, user: str, password: str) -> None:
    """Sign in on the console's page as ``user``; returns once the page names the account."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.delete_all_cookies()
    driver.get(f"{url}/login")
    driver.find_element(By.ID, "user").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "signin").click()
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "who"))
