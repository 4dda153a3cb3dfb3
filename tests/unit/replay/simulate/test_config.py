"""What a SimConfig refuses (hub.replay.simulate.config)."""

from __future__ import annotations

import pytest

from hub.replay.simulate.config import SimConfig


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="buildings"):
        SimConfig(seed=1, buildings=1, days=1)
    with pytest.raises(ValueError, match="days"):
        SimConfig(seed=1, buildings=5, days=0)
