"""Which MQTT topics ``hub mqtt-bridge`` subscribes to and what they say: ``topology/mqtt.yaml``.

A :class:`Subscription` is one entry: a topic filter whose levels may be named placeholders
(``hub/hikvision/{site_id}/{device_id}``), the payload's format, and fixed values for what neither
the topic nor the payload says (``zone``, ``building_id``, ...). Loading refuses, with the entry,
field and fix, anything that would make a message unroutable or stored twice; :func:`route`
finds a topic's subscription and :func:`site_of` the device's site from what it says. Pure
(no MQTT, no Kafka).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from connectors.common import DEFAULT_ZONE, MappingError, Site
from hub.core.yaml_keys import load_unique
from hub.model.errors import ConfigError
from hub.model.events import SOURCE_KINDS

#: Payload formats a subscription can name; each is also the vendor label of the edge metrics.
FORMATS = ("interchange", "hikvision", "dahua", "gat1400")
#: What a topic level or a fixed value may fill in: the site (小区), its building and time zone,
#: the device (Dahua lines do not name it) and, for interchange payloads, the kind.
PLACEHOLDERS = ("site_id", "building_id", "zone", "device_id", "kind")
#: The format of the ``unmatched:`` filter's entry: what arrives under it and under no
#: subscription goes to the dead-letter topic, naming its topic. A device publishing under a
#: wrong topic is then told, where without it the broker delivers its messages to nobody.
UNMATCHED = "unmatched"

_PLACEHOLDER = re.compile(r"^\{([a-z_]+)\}$")


@dataclass(frozen=True)
class Subscription:
    """One subscription of ``topology/mqtt.yaml``.

    ``pattern``: the configured filter (``hub/dahua/{site_id}/{device_id}``); ``topic_filter``:
    what is subscribed at the broker (placeholders as ``+``); ``names``: per topic level, the
    placeholder it fills or None; ``fixed``: configured values (``site_id``, ``zone``, ...).
    """

    pattern: str
    topic_filter: str
    format: str
    qos: int
    names: tuple[str | None, ...]
    multi_level: bool
    fixed: Mapping[str, str] = field(default_factory=dict)

    def match(self, topic: str) -> dict[str, str] | None:
        """The placeholder values of ``topic``, or None when it does not match this filter.

        MQTT's own rules: ``+`` and ``{name}`` are one level, a trailing ``#`` any number (also
        none); topics starting with ``$`` never match a wildcard at the first level."""
        levels = topic.split("/")
        filters = self.topic_filter.split("/")
        if topic.startswith("$") and filters[0] in ("+", "#"):
            return None
        if self.multi_level:
            filters = filters[:-1]
            if len(levels) < len(filters):
                return None
        elif len(levels) != len(filters):
            return None
        captured: dict[str, str] = {}
        for level, want, name in zip(levels, filters, self.names, strict=False):
            if want == "+":
                if name is not None:
                    if not level:
                        return None  # an empty level names nothing
                    captured[name] = level
            elif level != want:
                return None
        return captured

    def values(self, captured: Mapping[str, str]) -> dict[str, str]:
        """Topic values over fixed ones (they cannot both be configured: load refuses it)."""
        return {**self.fixed, **captured}


def parse_subscriptions(data: Any, source: str = "mqtt.yaml") -> list[Subscription]:
    """``{"subscriptions": [{topic, format, qos?, kind?, site_id?, building_id?, zone?,
    device_id?}, ...], "unmatched"?: filter}`` -> subscriptions, the ``unmatched`` filter's
    last (format ``UNMATCHED``); :class:`ConfigError` names the entry, field and fix."""
    if not isinstance(data, Mapping) or not isinstance(data.get("subscriptions"), list):
        raise ConfigError(f"{source}: expected a mapping with a list 'subscriptions:' (see "
                          "docs/mqtt.md)")
    unknown_keys = set(data) - {"subscriptions", "unmatched"}
    if unknown_keys:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(sorted(map(str, unknown_keys)))}"
                          "; use subscriptions and unmatched")
    out: list[Subscription] = []
    filters: set[str] = set()
    for i, item in enumerate(data["subscriptions"]):
        where = f"{source}: subscriptions[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}: expected a mapping with topic and format")
        unknown = set(item) - {"topic", "format", "qos", *PLACEHOLDERS}
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; use "
                              f"topic, format, qos, {', '.join(PLACEHOLDERS)}")
        sub = _subscription(item, where)
        if sub.topic_filter in filters:
            raise ConfigError(f"{where}.topic: {sub.topic_filter!r} is subscribed twice; a "
                              "message would be stored twice, merge the entries")
        filters.add(sub.topic_filter)
        out.append(sub)
    if not out:
        raise ConfigError(f"{source}: 'subscriptions:' is empty; the bridge would hear nothing")
    if data.get("unmatched") is not None:
        catch_all = _unmatched(data["unmatched"], f"{source}: unmatched")
        if catch_all.topic_filter in filters:
            raise ConfigError(f"{source}: unmatched: {catch_all.topic_filter!r} is also a "
                              "subscription; use a wider filter (e.g. hub/#) or remove it")
        out.append(catch_all)
    return out


def _unmatched(pattern: Any, where: str) -> Subscription:
    """The catch-all filter: plain MQTT (+ and a final #), no placeholders, QoS 1 so that its
    dead letters are acknowledged only once Kafka has them."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise ConfigError(f"{where}: expected a topic filter, e.g. unmatched: hub/#")
    levels = pattern.strip().split("/")
    for n, level in enumerate(levels):
        if ("#" in level and (level != "#" or n != len(levels) - 1)) \
                or ("+" in level and level != "+") or "{" in level or "}" in level:
            raise ConfigError(f"{where}: level {level!r}: use plain levels, + and a final # "
                              "(no placeholders), e.g. hub/#")
    return Subscription(pattern.strip(), pattern.strip(), UNMATCHED, 1,
                        tuple(None for _ in levels), levels[-1] == "#")


def _subscription(item: Mapping[str, Any], where: str) -> Subscription:
    pattern = item.get("topic")
    if not isinstance(pattern, str) or not pattern.strip():
        raise ConfigError(f"{where}.topic: missing; e.g. topic: hub/hikvision/{{site_id}}/"
                          "{device_id}")
    fmt = item.get("format")
    if fmt not in FORMATS:
        raise ConfigError(f"{where}.format: {fmt!r}; use one of {', '.join(FORMATS)}")
    qos = item.get("qos", 1)
    if qos not in (0, 1) or isinstance(qos, bool):
        raise ConfigError(f"{where}.qos: {qos!r}; use 1 (acknowledged once Kafka has the "
                          "event) or 0 (best effort)")
    fixed: dict[str, str] = {}
    for name in PLACEHOLDERS:
        value = item.get(name)
        if value is None:
            continue
        if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
            raise ConfigError(f"{where}.{name}: expected text, got {value!r}")
        fixed[name] = str(value).strip()
    levels = pattern.strip().split("/")
    names: list[str | None] = []
    filter_levels: list[str] = []
    for n, level in enumerate(levels):
        placeholder = _PLACEHOLDER.match(level)
        if placeholder:
            name = placeholder.group(1)
            if name not in PLACEHOLDERS:
                raise ConfigError(f"{where}.topic: {{{name}}} is not a placeholder; use "
                                  f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)} or +")
            if name in names:
                raise ConfigError(f"{where}.topic: {{{name}}} appears twice")
            if name in fixed:
                raise ConfigError(f"{where}: {name} is both a topic placeholder and a fixed "
                                  "value; keep one")
            names.append(name)
            filter_levels.append("+")
            continue
        if level == "#" and n != len(levels) - 1:
            raise ConfigError(f"{where}.topic: '#' must be the last level")
        if ("#" in level or "+" in level or "{" in level or "}" in level) \
                and level not in ("#", "+"):
            raise ConfigError(f"{where}.topic: level {level!r}: a wildcard or placeholder must "
                              "be a whole level ({name}, + or #)")
        names.append(None)
        filter_levels.append(level)
    multi = filter_levels[-1] == "#"
    values = {name for name in names if name} | set(fixed)
    if fmt != "interchange" and "site_id" not in values:
        raise ConfigError(f"{where}: {fmt} payloads do not say their site; add {{site_id}} to "
                          "the topic or a fixed site_id:")
    if fmt == "dahua" and "device_id" not in values:
        raise ConfigError(f"{where}: Dahua event lines do not name the device; add {{device_id}} "
                          "to the topic or a fixed device_id:")
    if "kind" in values and fmt != "interchange":
        raise ConfigError(f"{where}: kind is only for interchange payloads (a vendor mapping "
                          "decides the kind)")
    if "kind" in fixed and fixed["kind"] not in SOURCE_KINDS:
        raise ConfigError(f"{where}.kind: {fixed['kind']!r}; use one of "
                          f"{', '.join(SOURCE_KINDS)}")
    if "zone" in fixed:
        try:
            Site("check", fixed["zone"]).tzinfo()
        except MappingError as exc:
            raise ConfigError(f"{where}.zone: {exc.detail}") from None
    return Subscription(pattern.strip(), "/".join(filter_levels), fmt, int(qos), tuple(names),
                        multi, fixed)


def load_subscriptions(path: Path) -> list[Subscription]:
    """Read ``path`` (YAML); errors name the file."""
    try:
        data = load_unique(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror}); set HUB_MQTT_FILE or pass "
                          "--config") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse_subscriptions(data, str(path))


def route(subscriptions: Iterable[Subscription], topic: str
          ) -> tuple[Subscription, dict[str, str]] | None:
    """The first subscription whose filter matches ``topic``, with its placeholder values; None
    for a topic that only the ``unmatched:`` filter (or nothing) matches."""
    for sub in subscriptions:
        if sub.format == UNMATCHED:
            continue
        captured = sub.match(topic)
        if captured is not None:
            return sub, captured
    return None


def site_of(values: Mapping[str, str]) -> Site:
    """The device's site from topic and fixed values (``site_id`` required)."""
    site_id = values.get("site_id", "").strip()
    if not site_id:
        raise MappingError("topic.site_id", "empty; the topic level of {site_id} must name the "
                           "hub's site id")
    site = Site(site_id, values.get("zone") or DEFAULT_ZONE, values.get("building_id") or None)
    site.tzinfo()
    return site

