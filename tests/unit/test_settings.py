"""Settings.from_env: every malformed or out-of-range HUB_* value is refused with one line that
names the variable (a typo must not become False, 0 or nan), and the defaults stay valid."""

from __future__ import annotations

import pytest

from hub.settings import Settings, SettingsError


@pytest.mark.parametrize(("name", "raw", "message"), [
    ("HUB_TICK_SECONDS", "abc", "HUB_TICK_SECONDS='abc' is not a number"),
    ("HUB_KAFKA_PORT", "x", "HUB_KAFKA_PORT='x' is not a port; use 1..65535"),
    ("HUB_GATEWAY_PORT", "0", "HUB_GATEWAY_PORT='0' is not a port; use 1..65535"),
    ("HUB_CONSOLE_PORT", "99999", "HUB_CONSOLE_PORT='99999' is not a port"),
    ("HUB_WEB_PORT", "-1", "HUB_WEB_PORT='-1' is not a port; use 0..65535 (0: off)"),
    ("HUB_TICK_SECONDS", "nan", "HUB_TICK_SECONDS='nan' must be a finite number greater than 0"),
    ("HUB_TICK_SECONDS", "inf", "HUB_TICK_SECONDS='inf' must be a finite number"),
    ("HUB_TICK_SECONDS", "0", "HUB_TICK_SECONDS='0' must be a finite number greater than 0"),
    ("HUB_CHECKPOINT_SECONDS", "-1", "HUB_CHECKPOINT_SECONDS='-1' must be"),
    ("HUB_IDLE_SECONDS", "0", "HUB_IDLE_SECONDS='0' must be"),
    ("HUB_GATEWAY_MAX_BYTES", "0", "HUB_GATEWAY_MAX_BYTES='0' must be greater than 0"),
    ("HUB_GATEWAY_MAX_BYTES", "1MB", "HUB_GATEWAY_MAX_BYTES='1MB' is not a whole number"),
    ("HUB_EARLY_ALERTS", "ture", "HUB_EARLY_ALERTS='ture' is not a boolean; use one of"),
])
def test_a_bad_value_names_its_variable(name: str, raw: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: raw})
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("value", [" ", "a:1,", ",a:1", "a:1, b:2", "a:1,,b:2", " a:1", "a b:1",
                                   "a:1\tb:2", "a:1\n"])
def test_a_broker_list_with_a_blank_entry_names_hub_bootstrap(value: str) -> None:
    with pytest.raises(SettingsError, match=r"^HUB_BOOTSTRAP=.* is not a list of brokers; use "
                       r"host:port, comma-separated"):
        Settings.from_env({"HUB_BOOTSTRAP": value})


def test_an_empty_variable_is_unset() -> None:
    """As README says: ``HUB_X=`` (docker-compose passes them so) leaves the default."""
    assert Settings.from_env({"HUB_BOOTSTRAP": "", "HUB_TICK_SECONDS": ""}) == Settings()
    assert Settings.from_env({"HUB_BOOTSTRAP": "k1:9092,k2:9092"}).bootstrap == "k1:9092,k2:9092"


def test_the_values_that_mean_something_are_taken() -> None:
    s = Settings.from_env({"HUB_WEB_PORT": "0", "HUB_KAFKA_PORT": "65535",
                           "HUB_TICK_SECONDS": "0.25", "HUB_EARLY_ALERTS": " Off "})
    assert (s.web_port, s.kafka_port, s.tick_seconds, s.early_alerts) == (0, 65535, 0.25, False)
    for word in ("1", "true", "YES", "on"):
        assert Settings.from_env({"HUB_EARLY_ALERTS": word}).early_alerts is True
    assert Settings.from_env({}) == Settings()


@pytest.mark.parametrize("url", ["bad", "http://h:6379/0", "redis://h:x/0", "redis://h:1/x",
                                 "redis://:6379/0", "redis://h:99999/0"])
def test_a_redis_url_redis_py_would_refuse_names_hub_redis_url(url: str) -> None:
    with pytest.raises(SettingsError, match=r"^HUB_REDIS_URL=.* is not a Redis URL; use "
                       r"redis://host:port/db"):
        Settings.from_env({"HUB_REDIS_URL": url})


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "redis://redis", "rediss://u:p@h:1/2",
                                 "unix:///run/redis.sock"])
def test_the_redis_urls_redis_py_takes_are_taken(url: str) -> None:
    assert Settings.from_env({"HUB_REDIS_URL": url}).redis_url == url
