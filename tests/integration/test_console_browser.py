"""The 综治中心 console in a real browser (Debian's headless Chromium through chromedriver),
against the real broker, a real ``hub casework`` (clock driven by the test) and ``hub console``.

Set HUB_SCREENSHOTS=DIR to keep the board and incident page screenshots (docs/ holds a set).
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.settings import Settings
from tests.case_builders import MIN, incident
from tests.integration.casework_harness import (
    CHROMEDRIVER,
    CHROMIUM,
    TopicReader,
    casework,
    chromium,
    console,
    console_process,
    free_port,
    send_incident,
    send_ticks,
)
from tests.integration.casework_harness import sign_in as signed_in

pytestmark = pytest.mark.timeout(420)

ACCOUNTS = {"t1": ("TOWNSHIP", "T-CW-1", "pw-town-one"), "t2": ("TOWNSHIP", "T-CW-2", "pw-two-2"),
            "d1": ("DISTRICT", "D-CW-1", "pw-district")}


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.fail("chromium / chromedriver missing: scripts/install.sh installs them (apt)")
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


def sign_in(driver: Any, url: str, user: str) -> None:
    signed_in(driver, url, user, ACCOUNTS[user][2])


def wait(driver: Any, seconds: float) -> Any:
    """The board re-renders live (SSE): an element found a moment ago may be gone, so a stale
    one means "look again", as a missing one does."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.05,
                         ignored_exceptions=(StaleElementReferenceException,))


def row(driver: Any, iid: str) -> Any:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, f'#board tr[data-incident="{iid}"]')
    return found[0] if found else None


def row_text(driver: Any, iid: str) -> str | None:
    """The row's text, None when it is not on the board (inside ``wait``: a row re-rendered
    while being read is looked for again)."""
    found = row(driver, iid)
    return None if found is None else str(found.text)


def open_row(driver: Any, iid: str) -> bool:
    """Click the row's link; False (try again) when it is not on the board (inside ``wait``: a
    row re-rendered under the click is looked for again)."""
    from selenium.webdriver.common.by import By

    found = row(driver, iid)
    if found is None:
        return False
    found.find_element(By.TAG_NAME, "a").click()
    return True


def shot(driver: Any, name: str) -> None:
    target = os.environ.get("HUB_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(target) / name))


def test_operators_see_act_and_escalate_in_the_browser(stack_settings: Settings, tmp_path: Path,
                                                       browser: Any) -> None:
    from selenium.webdriver.common.by import By

    s = stack_settings
    t0 = int(time.time() * 1000)
    tag = uuid.uuid4().hex[:8]
    ack_me, ignore_me = f"inc-ui-ack-{tag}", f"inc-ui-late-{tag}"
    neighbour, warm = f"inc-ui-t2-{tag}", f"inc-ui-warm-{tag}"
    actions = TopicReader(s, "hub.incident.actions")
    with casework(s, tmp_path) as cw, console(s, tmp_path, ACCOUNTS) as url:
        send_ticks(s, cw["app_id"], t0)
        sign_in(browser, url, "t1")
        # Warm-up: the casework has joined its group and the board is live.
        send_incident(s, incident(warm, risk="LOW", emitted=t0))
        wait(browser, 90).until(lambda d: row(d, warm))

        # 1. An incident produced on Kafka is on the board within 2 s, without a reload.
        sent = time.monotonic()
        send_incident(s, incident(ack_me, risk="CRITICAL", emitted=t0))
        wait(browser, 2.0).until(lambda d: row(d, ack_me))
        print(f"incident on the board {time.monotonic() - sent:.2f}s after it was produced")
        order = browser.execute_script(  # one read: the board re-renders on every change
            "return Array.from(document.querySelectorAll('#board tbody tr'), "
            "tr => tr.dataset.incident)")
        assert order.index(ack_me) < order.index(warm)  # CRITICAL above LOW
        send_incident(s, incident(ignore_me, risk="HIGH", emitted=t0))
        send_incident(s, incident(neighbour, risk="HIGH", township="T-CW-2", emitted=t0))
        wait(browser, 10).until(lambda d: row(d, ignore_me))
        assert row(browser, neighbour) is None  # T-CW-2's incident never reaches t1's board
        shot(browser, "console-board.png")

        # 2. Acknowledge in the page: an ACKNOWLEDGE action on the topic, the new state shown.
        wait(browser, 10).until(lambda d: open_row(d, ack_me))  # the board re-renders live
        wait(browser, 10).until(lambda d: d.find_elements(By.ID, "act-ACKNOWLEDGE"))
        card = browser.find_element(By.ID, "card").text
        assert "T-CW-1" in card and "pseudo:" in card  # the 楼宇身份证, personal ids pseudonymized
        shot(browser, "console-incident.png")
        browser.find_element(By.ID, "note").send_keys("已联系网格员")
        browser.find_element(By.ID, "act-ACKNOWLEDGE").click()
        act = actions.wait_for("the ACKNOWLEDGE action", incident_id=ack_me)
        assert (act["action"], act["actor"], act["department_level"], act["department_code"],
                act["note"]) == ("ACKNOWLEDGE", "t1", "TOWNSHIP", "T-CW-1", "已联系网格员")
        wait(browser, 30).until(
            lambda d: d.find_element(By.ID, "state").text == "ACKNOWLEDGED")
        browser.get(url)
        wait(browser, 30).until(lambda d: (r := row(d, ack_me)) is not None
                                and r.get_attribute("data-state") == "ACKNOWLEDGED")

        # 3. A township cannot open its neighbour's incident, in the page or by hand.
        sign_in(browser, url, "t1")
        browser.get(f"{url}/incidents/{neighbour}")
        assert "no incident" in browser.find_element(By.TAG_NAME, "body").text
        cookie = browser.get_cookie("hub_console")["value"]
        request = urllib.request.Request(
            f"{url}/incidents/{neighbour}/actions", data=b"action=ACKNOWLEDGE",
            headers={"Cookie": f"hub_console={cookie}", "Accept": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 404
        refused.value.close()  # the error holds the response and its socket
        sign_in(browser, url, "t2")
        browser.get(f"{url}/incidents/{neighbour}")
        assert browser.find_elements(By.ID, "act-ACKNOWLEDGE")  # its own township can
        # 4. The HIGH incident nobody acknowledged moves to the district after 5 minutes of
        #    the test's clock, and leaves the township's board.
        sign_in(browser, url, "t1")
        wait(browser, 10).until(lambda d: row(d, ignore_me))
        send_ticks(s, cw["app_id"], t0 + 5 * MIN)
        wait(browser, 30).until(lambda d: row(d, ignore_me) is None)
        assert row(browser, ack_me) is not None  # acknowledged in time: stays
        sign_in(browser, url, "d1")
        browser.get(f"{url}/?level=DISTRICT")
        wait(browser, 30).until(lambda d: row(d, ignore_me))
        text = wait(browser, 10).until(lambda d: row_text(d, ignore_me))
        assert "DISTRICT · D-CW-1" in text and "↑DISTRICT" in text
        browser.get(f"{url}/analytics")  # the area analytics page answers for the district
        headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
        assert [h.split()[0] for h in headings] == ["矛盾纠纷", "案件风险管理", "平安指数"]

    assert not actions.matching(incident_id=neighbour)  # nothing was sent for it
    actions.close()


def test_a_board_left_open_goes_to_sign_in_when_the_console_restarts(
        stack_settings: Settings, tmp_path: Path, browser: Any) -> None:
    """Sessions live in the console's memory. After a restart the board's event stream got 401,
    which a browser does not retry: the page stood still, its live dot off, new incidents never
    shown and nothing said (an outside probe). It now goes to the sign-in page."""
    port = free_port()
    with console_process(stack_settings, tmp_path, ACCOUNTS, port=port) as (url, _):
        sign_in(browser, url, "t1")
        wait(browser, 20).until(lambda d: "on" in d.find_element("id", "live").get_attribute(
            "class"))
    with console_process(stack_settings, tmp_path, ACCOUNTS, port=port) as (url, _):
        wait(browser, 30).until(lambda d: d.current_url.endswith("/login"))
