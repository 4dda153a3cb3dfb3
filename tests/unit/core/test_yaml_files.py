"""Every YAML file the hub reads refuses a key given twice and a file nested too deeply, in one
line naming the file (stop 39's probe: a rule file nested 5,000 levels ended `hub correlate` in a
RecursionError traceback; the other files kept the last of two keys without a word)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hub.adapters.topic_specs import load_topic_specs
from hub.core.analytics.config import load_analytics
from hub.core.cases import load_dispatch
from hub.core.rule_loading import load_rules
from hub.edge.mqtt_subscriptions import load_subscriptions
from hub.model.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]

LOADERS: dict[str, tuple[Path, Callable[[Path], Any]]] = {
    "rules": (REPO / "topology" / "rules" / "perimeter.yaml",
              lambda p: load_rules(p.parent)),
    "topics": (REPO / "topology" / "topics.yaml", load_topic_specs),
    "dispatch": (REPO / "topology" / "dispatch.yaml", load_dispatch),
    "analytics": (REPO / "topology" / "analytics.yaml", load_analytics),
    "mqtt": (REPO / "topology" / "mqtt.yaml", load_subscriptions),
}


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_a_file_nested_too_deeply_is_one_line_naming_it(name: str, tmp_path: Path) -> None:
    real, load = LOADERS[name]
    bad = tmp_path / real.name
    bad.write_text("a: " + "[" * 5_000 + "]" * 5_000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(bad)
    assert str(bad) in str(info.value) and "nested deeper" in str(info.value)


@pytest.mark.parametrize("name", sorted(set(LOADERS) - {"rules"}))  # rules: test_rule_value_types
def test_a_key_given_twice_is_named(name: str, tmp_path: Path) -> None:
    real, load = LOADERS[name]
    load(real)  # the shipped file loads
    text = real.read_text(encoding="utf-8")
    first = next(line for line in text.splitlines() if line and line[0].isalpha())
    twice = tmp_path / real.name
    twice.write_text(text + "\n" + first + "\n", encoding="utf-8")  # a top-level key again
    with pytest.raises(ConfigError) as info:
        load(twice)
    key = first.split(":")[0]
    assert f"key {key!r} is given twice" in str(info.value)
