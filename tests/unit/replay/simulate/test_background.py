"""The background (hub.replay.simulate.background): a daily rhythm with noise, and never a rule
satisfied by chance."""

from __future__ import annotations

from collections import Counter, defaultdict
from itertools import pairwise

import pytest

from hub.replay.simulate.config import SimConfig
from tests.unit.replay.simulate.support import (
    D,
    H,
    S,
    events_of,
    oracle,
    sim,
)


def test_swipes_follow_a_daily_rhythm_and_noise_is_present() -> None:
    s = sim(3, 30, 7)
    evs = events_of(s)
    start = SimConfig(seed=0, buildings=2, days=1).start_ms
    hours = Counter(
        ((e["event_time"] - start) % D) // H
        for e in evs
        if e["kind"] == "access_swipe" and e["result"] == "GRANTED"
    )
    night = hours[2] + hours[3] + hours[4]
    assert hours[7] > 10 * max(night, 1) and hours[18] > 10 * max(night, 1)
    assert hours[7] > 2 * hours[14] and hours[18] > 2 * hours[14]

    lines = Counter(s.event_lines)
    assert any(n > 1 for n in lines.values()), "exact duplicate retransmissions"
    assert any(e["similarity"] >= 0.90 for e in evs if e["kind"] == "face_match"), "injected"
    background_faces = [e for e in evs if e["kind"] == "face_match" and e["similarity"] < 0.9]
    assert len(background_faces) > 20

    alarms = [e for e in evs if e["kind"] == "perimeter_alarm"]
    by_dev: dict[tuple[str, str], list[int]] = defaultdict(list)
    for a in alarms:
        by_dev[(a["device_id"], a["alarm_type"])].append(a["event_time"])
    flaps = 0
    for times in by_dev.values():
        ts = sorted(times)
        flaps += sum(1 for x, y in pairwise(ts) if y - x <= 10 * S)
    assert flaps > 0, "flapping sensors"
    assert any(a["alarm_type"] == "INTRUSION" for a in alarms), "false intrusion alarms"
    results = Counter(e["result"] for e in evs if e["kind"] == "access_swipe")
    assert results["DENIED"] > 0 and results["FORCED_OPEN"] > 0 and results["TAILGATE"] > 0
    assert results["ANTI_PASSBACK"] > 0
    statuses = {e["report_id"]: e for e in evs if e["kind"] == "grid_report"}
    assert len(statuses) < sum(1 for e in evs if e["kind"] == "grid_report"), "status updates"


@pytest.mark.parametrize("seed", [1, 7])
def test_background_alone_never_triggers_a_rule(seed: int) -> None:
    s = sim(seed, 40, 9)
    injected = {i for lab in s.labels for i in lab.event_ids}
    background = [e for e in events_of(s) if e["event_id"] not in injected]
    assert oracle(background) == []
    quiet = sim(seed, 40, 9, inject=False)
    assert quiet.labels == () and oracle(events_of(quiet)) == []
