from __future__ import annotations

from pathlib import Path

import pytest

from hub.core.analytics import AnalyticsConfig, load_analytics
from hub.model.errors import ConfigError

SHIPPED = Path(__file__).resolve().parents[4] / "topology" / "analytics.yaml"


def test_the_shipped_file_holds_the_defaults() -> None:
    assert load_analytics(SHIPPED) == AnalyticsConfig()


def test_left_out_settings_take_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("risk:\n  min_count: 7\n", encoding="utf-8")
    config = load_analytics(path)
    assert config.risk.min_count == 7
    assert config.risk.baseline_weeks == 15 and config.time_zone == "Asia/Shanghai"


@pytest.mark.parametrize(("text", "field"), [
    ("safety:\n  incident_weights: {CRITICAL: 1, HIGH: 1, MEDIUM: 1}\n",
     "safety.incident_weights.LOW"),
    ("safety:\n  incident_weights: {CRITICAL: 1, HIGH: 1, MEDIUM: 1, LOW: -1}\n",
     "safety.incident_weights.LOW"),
    ("safety:\n  incident_weights: {CRITICAL: 1, HIGH: 1, MEDIUM: 1, LOW: 1, HUGE: 3}\n",
     "safety.incident_weights.HUGE"),
    ("risk:\n  min_count: 2.5\n", "risk.min_count"),
    ("risk:\n  p_value_below: 0\n", "risk.p_value_below"),
    ("risk:\n  high_below: 0.05\n", "risk.high_below"),
    ("risk:\n  early_warnings: sometimes\n", "risk.early_warnings"),
    ("risk:\n  threshold: 3\n", "risk.threshold"),
    ("time_zone: Mars/Olympus\n", "time_zone"),
    ("lateness: soon\n", "lateness"),
    ("disputes:\n  periods: [DAY, DECADE]\n", "disputes.periods"),
    ("colour: red\n", "colour"),
])  # fmt: skip
def test_errors_name_the_file_and_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "analytics.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_analytics(path)
    assert str(path) in str(info.value) and f"'{field}'" in str(info.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_analytics(tmp_path / "none.yaml")
