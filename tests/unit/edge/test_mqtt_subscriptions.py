"""Subscriptions of ``hub mqtt-bridge`` (hub.edge.mqtt_subscriptions): topic placeholders ->
wildcards and values, routing, the device's Site, and config errors that name entry and fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hub.edge.mqtt_subscriptions import (
    UNMATCHED,
    Subscription,
    load_subscriptions,
    parse_subscriptions,
    route,
    site_of,
)
from hub.model.errors import ConfigError
from hub.settings import Settings


def subs(*entries: dict[str, Any]) -> list[Subscription]:
    return parse_subscriptions({"subscriptions": list(entries)}, "test.yaml")


def test_placeholders_become_single_level_wildcards() -> None:
    (sub,) = subs({"topic": "hub/hikvision/{site_id}/{device_id}", "format": "hikvision",
                   "building_id": "B-7"})
    assert sub.topic_filter == "hub/hikvision/+/+"
    assert sub.qos == 1
    assert sub.match("hub/hikvision/S-01/cam-3") == {"site_id": "S-01", "device_id": "cam-3"}
    assert sub.match("hub/hikvision/S-01") is None
    assert sub.match("hub/hikvision/S-01/cam-3/extra") is None
    assert sub.match("hub/dahua/S-01/cam-3") is None
    assert sub.match("hub/hikvision//cam-3") is None  # an empty level names no site
    site = site_of(sub.values({"site_id": "S-01"}))
    assert (site.site_id, site.building_id, site.zone) == ("S-01", "B-7", "Asia/Shanghai")


def test_multi_level_wildcard_and_dollar_topics() -> None:
    (sub,) = subs({"topic": "+/{site_id}/#", "format": "interchange"})
    assert sub.topic_filter == "+/+/#"
    assert sub.match("x/S-1") == {"site_id": "S-1"}
    assert sub.match("x/S-1/a/b") == {"site_id": "S-1"}
    assert sub.match("$SYS/S-1/a") is None
    assert sub.match("x") is None


def test_route_takes_the_first_matching_subscription() -> None:
    found = subs({"topic": "a/{site_id}", "format": "interchange"},
                 {"topic": "a/#", "format": "interchange", "site_id": "S-9"})
    hit = route(found, "a/S-1")
    assert hit is not None and hit[0] is found[0] and hit[1] == {"site_id": "S-1"}
    hit = route(found, "a/S-1/x")
    assert hit is not None and hit[0] is found[1] and hit[0].values(hit[1])["site_id"] == "S-9"
    assert route(found, "b/S-1") is None


def test_the_repository_config_loads() -> None:
    loaded = load_subscriptions(Settings().mqtt_file)
    assert {s.format for s in loaded} == {"interchange", "hikvision", "dahua", "gat1400",
                                          UNMATCHED}
    assert loaded[-1].format == UNMATCHED and loaded[-1].topic_filter == "hub/#"


def test_the_unmatched_filter_is_subscribed_last_and_routes_nothing() -> None:
    """A message under ``unmatched:`` that a subscription reads goes to that subscription; one
    that none reads routes to nothing (the bridge dead-letters it, naming its topic)."""
    found = parse_subscriptions({"subscriptions": [{"topic": "hub/events/{kind}/{site_id}",
                                                    "format": "interchange"}],
                                 "unmatched": "hub/#"}, "test.yaml")
    catch_all = found[-1]
    assert (catch_all.format, catch_all.topic_filter, catch_all.qos) == (UNMATCHED, "hub/#", 1)
    hit = route(found, "hub/events/perimeter_alarm/S-1")
    assert hit is not None and hit[0] is found[0]
    assert catch_all.match("hub/hikvison/S-1/cam-1") == {}
    assert route(found, "hub/hikvison/S-1/cam-1") is None


@pytest.mark.parametrize(("unmatched", "says"), [
    ("hub/{site_id}", "no placeholders"),
    ("hub/#/x", "no placeholders"),
    ("", "expected a topic filter"),
    (7, "expected a topic filter"),
    ("a/+", "also a subscription"),
])
def test_a_bad_unmatched_filter_is_refused(unmatched: Any, says: str) -> None:
    with pytest.raises(ConfigError, match=r"test\.yaml: unmatched") as err:
        parse_subscriptions({"subscriptions": [{"topic": "a/{site_id}", "format": "interchange"}],
                             "unmatched": unmatched}, "test.yaml")
    assert says in str(err.value)


def test_an_unknown_top_level_key_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"unknown key.*unmached"):
        parse_subscriptions({"subscriptions": [{"topic": "a/{site_id}", "format": "interchange"}],
                             "unmached": "hub/#"}, "test.yaml")


@pytest.mark.parametrize(("entry", "says"), [
    ({"topic": "a/{site}", "format": "interchange"}, "{site} is not a placeholder"),
    ({"topic": "a/{site_id}", "format": "json"}, "format: 'json'"),
    ({"topic": "a/{site_id}", "format": "interchange", "qos": 2}, "qos: 2"),
    ({"topic": "a/b", "format": "hikvision"}, "do not say their site"),
    ({"topic": "a/{site_id}", "format": "dahua"}, "do not name the device"),
    ({"topic": "a/{site_id}", "format": "hikvision", "site_id": "S"}, "both a topic"),
    ({"topic": "a/#/{site_id}", "format": "interchange"}, "'#' must be the last level"),
    ({"topic": "a/x+/{site_id}", "format": "interchange"}, "a whole level"),
    ({"topic": "a/{site_id}", "format": "interchange", "kind": "incident"}, "kind: 'incident'"),
    ({"topic": "a/{site_id}", "format": "hikvision", "kind": "perimeter_alarm"},
     "only for interchange"),
    ({"topic": "a/{site_id}", "format": "gat1400", "zone": "Mars/Base"}, "IANA"),
    ({"topic": "a/{site_id}", "format": "gat1400", "zome": "UTC"}, "unknown field(s) zome"),
    ({"format": "gat1400"}, "topic: missing"),
])
def test_config_errors_name_the_entry_field_and_fix(entry: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError) as err:
        subs(entry)
    assert "test.yaml: subscriptions[0]" in str(err.value)
    assert says in str(err.value)


def test_a_filter_subscribed_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="subscribed twice"):
        subs({"topic": "a/{site_id}", "format": "interchange"},
             {"topic": "a/+", "format": "interchange", "site_id": "S"})


def test_config_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="HUB_MQTT_FILE"):
        load_subscriptions(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("subscriptions: [\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_subscriptions(bad)
