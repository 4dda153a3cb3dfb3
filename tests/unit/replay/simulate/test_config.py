"""What a SimConfig refuses (hub.replay.simulate.config)."""

from __future__ import annotations

import pytest

from hub.replay.simulate.config import SimConfig


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="buildings"):
        SimConfig(seed=1, buildings=1, days=1)
    with pytest.raises(ValueError, match="days"):
        SimConfig(seed=1, buildings=5, days=0)


@pytest.mark.parametrize(("start", "days"), [
    (946_594_799_163, 1),  # 1999-12-31T07:00+08:00: every line before 2000
    (4_102_185_600_000, 3),  # 2099-12-29: the last days run into 2100
    (-1, 1),
])
def test_a_city_the_hub_would_reject_is_refused(start: int, days: int) -> None:
    """--start 1999-12-31 made a file `hub correlate` rejected line by line, status 0."""
    with pytest.raises(ValueError, match="do not lie between 2000-01-01 and 2100-01-01 UTC"):
        SimConfig(seed=1, buildings=2, days=days, start_ms=start)


def test_the_plausible_edges_are_accepted() -> None:
    SimConfig(seed=1, buildings=2, days=1, start_ms=946_684_800_000)  # 2000-01-01T00:00Z
    SimConfig(seed=1, buildings=2, days=3, start_ms=4_102_444_800_000 - 4 * 86_400_000)
