"""The live analytics' clock topic is readable and writable by others: a tick that is not this
run's, or whose number does not read, is skipped instead of stopping the agent."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.codec import load_codec
from hub.core.analytics import load_analytics
from hub.online.analytics_app import LiveAnalyticsApp
from hub.settings import Settings

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture()
def live(tmp_path: Path) -> LiveAnalyticsApp:
    settings = Settings.from_env({"HUB_BOOTSTRAP": "127.0.0.1:1"})
    return LiveAnalyticsApp(settings, load_analytics(REPO / "topology" / "analytics.yaml"),
                            load_codec(settings.schemas_dir), run_id="run1", datadir=tmp_path)


@pytest.mark.parametrize("value", [
    "run1:\u00b2".encode(),  # a digit to str.isdigit, not to int()
    "run1:\u0663".encode(),  # ARABIC-INDIC DIGIT THREE: int() reads it, a barrier number is ASCII
    b"run1:\xff", b"run1:", b"run1:-1", b"run1:1e3", b"\xff\xfe", b"",
    b"other:1",
])
def test_a_tick_that_is_not_ours_is_skipped(live: LiveAnalyticsApp, value: bytes) -> None:
    assert live.on_tick(value) == []
    assert live.ticks_taken == 0


def test_our_tick_is_taken(live: LiveAnalyticsApp) -> None:
    assert live.on_tick(b"run1:3") == []  # no barrier was taken under that number
    assert live.ticks_taken == 3
