"""The 综治中心 console under load: 1,000 open incidents, then 20 new ones a second.

    python -m benchmarks.console_bench [--open 1000] [--rate 20] [--seconds 60] [--shots DIR]

Runs on the local stack (`hub stack up`): a fresh ``hub casework`` (wall clock) and ``hub
console``, Debian's headless Chromium signed in as the district. Prints, as JSON lines:
- the console's RSS idle (the baseline) and after the open incidents and the load, with the ratio;
- the board's render time (navigation to every row drawn) with 10 rows (the baseline) and with
  the open incidents, and the ratio;
- while incidents arrive at ``--rate``: the time from producing an incident to its row on the
  open board (p50, p95, max over every ``--sample``-th incident), and whether the page kept up.
Nothing here is a pass/fail gate; BENCHMARKS.md keeps the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.common import machine_note
from hub.settings import Settings
from tests.case_builders import incident
from tests.integration.casework_harness import (
    CODEC,
    casework,
    chromium,
    console_process,
    producer,
    sign_in,
)

RULES = [("perimeter_breach_entry", "周界入侵后门禁异常 breach then entry", "HIGH"),
         ("watchlist_face_at_door", "布控人员人脸命中 watchlist face at a door", "CRITICAL"),
         ("credential_brute_force", "门禁连续失败 repeated denied swipes", "MEDIUM"),
         ("forced_door", "门被强行打开 door forced", "HIGH"),
         ("night_lookup_spike", "夜间楼宇身份证查询激增 lookups spike", "LOW"),
         ("grid_dispute_escalating", "网格纠纷升级 dispute escalating", "MEDIUM")]
TOWNSHIPS = ["T-CW-1", "T-CW-2", "T-CW-3", "T-CW-4", "T-CW-5"]
#: A district of its own per run, so earlier runs' and tests' cases stay off its board.
DISTRICT = f"D-BENCH-{uuid.uuid4().hex[:6]}"
ACCOUNTS = {"d1": ("DISTRICT", DISTRICT, "bench-district")}


def varied(i: int, tag: str, now: int) -> Any:
    rule, title, risk = RULES[i % len(RULES)]
    township = TOWNSHIPS[(i // len(RULES)) % len(TOWNSHIPS)]
    base = incident(f"inc-bench-{tag}-{i:05d}", risk=risk, township=township, emitted=now,
                    district=DISTRICT)
    return dataclasses.replace(base, rule_id=rule, title=title)


def send_many(settings: Settings, incidents: list[Any]) -> None:
    p = producer(settings)
    for inc in incidents:
        p.produce("hub.incidents", key=inc.incident_id.encode(),
                  value=CODEC.encode("incident", inc.to_record()))
        p.poll(0)
    assert p.flush(60) == 0


def rss_mb(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = {line.split(":")[0]: line.split()[1] for line in status.splitlines()
              if line.startswith(("VmRSS", "VmHWM"))}
    return int(fields["VmRSS"]) / 1024, int(fields["VmHWM"]) / 1024


def render_seconds(driver: Any, url: str, rows: int) -> float:
    """Navigation to the board until at least ``rows`` rows are drawn."""
    start = time.perf_counter()
    driver.get(url)
    while driver.execute_script("return document.querySelectorAll('#board tbody tr').length") \
            < rows:
        if time.perf_counter() - start > 60:
            raise AssertionError(f"the board never drew {rows} rows")
        time.sleep(0.01)
    return time.perf_counter() - start


def wait_row(driver: Any, url: str, iid: str, timeout: float = 300) -> int:
    """Open the board, wait until ``iid``'s row is drawn; how many rows the board has then."""
    driver.get(url)
    deadline = time.monotonic() + timeout
    script = f"return !!document.querySelector('#board tr[data-incident=\"{iid}\"]')"
    while time.monotonic() < deadline:
        if driver.execute_script(script):
            time.sleep(1)  # let a refresh in flight land
            return int(driver.execute_script(
                "return document.querySelectorAll('#board tbody tr').length"))
        time.sleep(0.2)
    raise AssertionError(f"{iid} never reached the board")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--open", type=int, default=1000)
    p.add_argument("--rate", type=float, default=20.0)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--sample", type=int, default=5, help="time every Nth live incident")
    p.add_argument("--shots", type=Path, default=None, help="save screenshots here")
    args = p.parse_args(argv)
    settings = Settings.from_env()
    tag = uuid.uuid4().hex[:6]
    print(json.dumps({"machine": machine_note()}))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with casework(settings, tmp, clock="wall"), \
                console_process(settings, tmp, ACCOUNTS) as (url, pid):
            driver = chromium()
            try:
                sign_in(driver, url, "d1", ACCOUNTS["d1"][2])
                idle_rss, _ = rss_mb(pid)
                now = int(time.time() * 1000)
                first = [varied(i, tag, now) for i in range(10)]
                send_many(settings, first)
                n_small = wait_row(driver, url, first[-1].incident_id)
                small = min(render_seconds(driver, url, n_small) for _ in range(3))
                if args.shots:
                    screenshots(driver, args.shots)
                rest = [varied(i, tag, now) for i in range(10, args.open)]
                send_many(settings, rest)
                n_full = wait_row(driver, url, rest[-1].incident_id)
                full = min(render_seconds(driver, url, n_full) for _ in range(3))
                loaded_rss, _ = rss_mb(pid)
                print(json.dumps({"rows_small": n_small, "render_s_small": round(small, 3),
                                  "rows_full": n_full, "render_s_full": round(full, 3),
                                  "ratio": round(full / small, 2)}))
                latencies = live_load(settings, driver, args, tag)
                rss, peak = rss_mb(pid)
                print(json.dumps({"console_rss_mb_idle": round(idle_rss, 1),
                                  f"console_rss_mb_{args.open}_open": round(loaded_rss, 1),
                                  "console_rss_mb_after_load": round(rss, 1),
                                  "console_rss_mb_peak": round(peak, 1),
                                  "ratio_after_load_vs_idle": round(rss / idle_rss, 2)}))
                lat = sorted(latencies)
                print(json.dumps({
                    "live_incidents_timed": len(lat),
                    "produce_to_row_p50_s": round(statistics.median(lat), 3),
                    "produce_to_row_p95_s": round(lat[int(0.95 * (len(lat) - 1))], 3),
                    "produce_to_row_max_s": round(lat[-1], 3),
                    "within_2s": sum(1 for x in lat if x <= 2.0)}))
            finally:
                driver.quit()
    return 0


def screenshots(driver: Any, target: Path) -> None:
    """The board (with its plots) and the first incident's page, for docs/."""
    target.mkdir(parents=True, exist_ok=True)
    driver.set_window_size(1400, 1050)
    time.sleep(1.5)  # plots load after the rows
    driver.save_screenshot(str(target / "console-board.png"))
    first = driver.execute_script("return document.querySelector('#board tbody a').href")
    driver.get(first)
    time.sleep(1)
    driver.save_screenshot(str(target / "console-incident.png"))
    driver.set_window_size(1400, 1000)


def live_load(settings: Settings, driver: Any, args: argparse.Namespace, tag: str
              ) -> list[float]:
    """Produce ``rate`` incidents a second for ``seconds``; time every ``sample``-th to its row."""
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = threading.Event()

    def produce() -> None:
        p = producer(settings)
        start = time.perf_counter()
        i = 0
        while time.perf_counter() - start < args.seconds:
            inc = varied(100_000 + i, tag, int(time.time() * 1000))
            p.produce("hub.incidents", key=inc.incident_id.encode(),
                      value=CODEC.encode("incident", inc.to_record()))
            p.poll(0)
            if i % args.sample == 0:
                sent[inc.incident_id] = time.perf_counter()
            i += 1
            time.sleep(max(0.0, start + i / args.rate - time.perf_counter()))
        p.flush(30)
        done.set()

    thread = threading.Thread(target=produce)
    thread.start()
    script = ("return Array.from(arguments[0]).filter("
              "id => document.querySelector(`#board tr[data-incident=\"${id}\"]`))")
    while not done.is_set() or len(seen) < len(sent):
        waiting = [i for i in list(sent) if i not in seen]
        if waiting:
            for iid in driver.execute_script(script, waiting):
                seen[iid] = time.perf_counter()
        if done.is_set() and waiting and time.perf_counter() - max(sent.values()) > 30:
            break  # a row that never came counts as a 30 s+ latency below
        time.sleep(0.05)
    thread.join()
    return [seen.get(i, sent[i] + 30.0) - sent[i] for i in sent]


if __name__ == "__main__":
    raise SystemExit(main())
