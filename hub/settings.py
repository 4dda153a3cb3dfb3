"""The one place the environment is read.

Every knob the hub has is a field here, read once from ``HUB_*`` variables. Other modules receive a
``Settings`` (or the plain values they need) as a parameter, so tests never patch ``os.environ``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

#: Topic names are part of the public contract; topology/topics.yaml declares the same names and a
#: contract test keeps the two in step.
SOURCE_TOPICS: dict[str, str] = {
    "perimeter_alarm": "hub.src.perimeter_alarm",
    "access_swipe": "hub.src.access_swipe",
    "face_match": "hub.src.face_match",
    "building_lookup": "hub.src.building_lookup",
    "grid_report": "hub.src.grid_report",
}
REGISTRY_TOPIC = "hub.registry.building"
INCIDENTS_TOPIC = "hub.incidents"
LEVEL_TOPICS: dict[str, str] = {
    "GRID": "hub.incidents.grid",
    "TOWNSHIP": "hub.incidents.township",
    "DISTRICT": "hub.incidents.district",
    "CITY": "hub.incidents.city",
}
DEADLETTER_TOPIC = "hub.deadletter"
ACTIONS_TOPIC = "hub.incident.actions"
CASES_TOPIC = "hub.cases"
CORRELATE_TOPIC = "hub.internal.correlate"
#: Area analytics (docs/analytics.md): record kind -> topic
ANALYTICS_TOPICS: dict[str, str] = {
    "dispute_funnel": "hub.analytics.disputes",
    "risk_warning": "hub.analytics.risk",
    "safety_index": "hub.analytics.safety_index",
}
#: Topics only the hub's own processes write: what downstream apps and the hub's state trust.
HUB_WRITTEN_TOPICS = frozenset((INCIDENTS_TOPIC, *LEVEL_TOPICS.values(), DEADLETTER_TOPIC,
                                CASES_TOPIC, CORRELATE_TOPIC, *ANALYTICS_TOPICS.values()))


def only_the_hub_writes(topic: str) -> bool:
    """Whether ``topic`` is the hub's output or state (its internal topics, a worker's changelog,
    the casework's clock): ``hub produce --topic`` and ``hub replay --map`` never send there
    what vendors send (a swipe mapped onto hub.incidents reached the incidents' readers)."""
    return (topic in HUB_WRITTEN_TOPICS or topic.startswith("hub.internal.")
            or topic.endswith(("-changelog", "-casework-clock")))


#: Port fields; a port outside 1..65535 fails at bind time, far from the variable that set it.
#: HUB_WEB_PORT may be 0: the worker then serves no metrics (``hub worker --metrics-port 0``).
_PORTS = {"kafka_port", "controller_port", "redis_port", "console_port", "gateway_port",
          "mqtt_port"}
_PORTS_OR_OFF = {"web_port"}
#: Fields that must be > 0 (and finite): a timer interval of 0 or nan spins or never fires.
_POSITIVE = {"idle_seconds", "tick_seconds", "checkpoint_seconds", "gateway_max_bytes"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_REDIS_SCHEMES = ("redis", "rediss", "unix")


class SettingsError(ValueError):
    """A ``HUB_*`` variable holds a value the hub cannot use; the message names the variable and
    the values it takes, so ``hub`` prints it as one line and exits 2 (README, "Exit status")."""


def _project_root() -> Path:
    return Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Runtime configuration; defaults suit the local stack started by ``hub stack up``."""

    bootstrap: str = "127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    kafka_port: int = 9092
    controller_port: int = 9093
    redis_port: int = 6379
    state_dir: Path = field(default_factory=lambda: _project_root() / ".hub")
    kafka_version: str = "4.1.1"
    kafka_heap: str = "512m"
    pseudonym_key: str = "dev-only-pseudonym-key-change-me"
    #: Seals dead-letter bytes that cannot be decoded (hub.codec.seal); keep it apart from the
    #: pseudonym key and from whoever only reads hub.deadletter.
    deadletter_key: str = "dev-only-deadletter-key-change-me"
    rules_dir: Path = field(default_factory=lambda: _project_root() / "topology" / "rules")
    topics_file: Path = field(default_factory=lambda: _project_root() / "topology" / "topics.yaml")
    analytics_file: Path = field(
        default_factory=lambda: _project_root() / "topology" / "analytics.yaml")
    dispatch_file: Path = field(
        default_factory=lambda: _project_root() / "topology" / "dispatch.yaml")
    schemas_dir: Path = field(default_factory=lambda: _project_root() / "schemas" / "avro")
    #: This worker process's name (``hub worker --worker-id`` wins); empty: host-pid. It names
    #: the worker's transactional producer, so two live workers must never share it.
    worker_id: str = ""
    web_port: int = 6066
    web_host: str = "127.0.0.1"
    #: ``hub console``: where it listens, and the accounts file (hub/console/accounts.py)
    console_host: str = "127.0.0.1"
    console_port: int = 8090
    console_accounts: str = ""
    #: ``hub gateway``: where it listens, its API key file (hub/edge/api_keys.py) and the largest
    #: request body it reads (413 beyond; pictures in multipart uploads count).
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8088
    gateway_keys: str = ""
    gateway_max_bytes: int = 1 << 20
    #: ``hub mqtt-bridge`` (docs/mqtt.md): the port of the stack's own Mosquitto (``hub stack
    #: up``), the broker the bridge subscribes at (``mqtt://[user:pass@]host:port``, ``mqtts://``
    #: for TLS), its fixed client id (the broker keeps that session's unacknowledged QoS 1
    #: messages) and its subscriptions file.
    mqtt_port: int = 1883
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_client_id: str = "hub-mqtt-bridge"
    mqtt_file: Path = field(default_factory=lambda: _project_root() / "topology" / "mqtt.yaml")
    app_id: str = "tianluo-hub"
    idle_seconds: float = 10.0
    tick_seconds: float = 1.0
    #: How often the worker writes the correlation state changed since the last time (a
    #: checkpoint; sooner once its input goes quiet): longer writes less to the changelog, and a
    #: successor after a crash applies up to this much of the correlation topic again.
    checkpoint_seconds: float = 5.0
    #: Publish PROVISIONAL incidents at arrival (and RETRACTED ones when late data disproves
    #: them) beside the CONFIRMED ones: docs/contracts.md, "Incident status".
    early_alerts: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``HUB_<FIELD>`` for every field; a malformed or out-of-range value raises
        ``SettingsError`` naming the variable (``hub`` prints it and exits 2)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            name = f"HUB_{f.name.upper()}"
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            default = getattr(cls(), f.name)
            values[f.name] = _parse(name, f.name, raw, default)
        return cls(**values)  # type: ignore[arg-type]

    @staticmethod
    def env_names() -> list[str]:
        """The environment variable names the hub reads (docker-compose.yml must use these)."""
        return [f"HUB_{f.name.upper()}" for f in fields(Settings)]


def _parse(name: str, field_name: str, raw: str, default: object) -> object:
    """``raw`` as the type of ``default``, checked against the field's range; a ``SettingsError``
    naming ``name`` otherwise (a typo must not silently become False, 0 or nan)."""
    if isinstance(default, bool):
        word = raw.strip().lower()
        if word not in _TRUE | _FALSE:
            raise SettingsError(f"{name}={raw!r} is not a boolean; use one of "
                                "1/true/yes/on or 0/false/no/off")
        return word in _TRUE
    if isinstance(default, int):
        is_port = field_name in _PORTS | _PORTS_OR_OFF
        low = 0 if field_name in _PORTS_OR_OFF else 1
        try:
            number = int(raw)
        except ValueError:
            number = -1
            if not is_port:
                raise SettingsError(f"{name}={raw!r} is not a whole number") from None
        if is_port and not low <= number <= 65535:
            raise SettingsError(f"{name}={raw!r} is not a port; use {low}..65535"
                                + (" (0: off)" if low == 0 else ""))
        if field_name in _POSITIVE and number <= 0:
            raise SettingsError(f"{name}={raw!r} must be greater than 0")
        return number
    if isinstance(default, float):
        try:
            real = float(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a number (seconds)") from None
        if field_name in _POSITIVE and not (math.isfinite(real) and real > 0):
            raise SettingsError(f"{name}={raw!r} must be a finite number greater than 0")
        return real
    if isinstance(default, Path):
        return Path(raw)
    if field_name == "redis_url":
        check_redis_url(name, raw)
    if field_name == "bootstrap":
        check_bootstrap(name, raw)
    return raw


def check_bootstrap(name: str, raw: str) -> None:
    """Raise ``SettingsError`` for a broker list with a blank entry or a space in one: librdkafka
    would only say, after its metadata timeout, that no broker answered."""
    if any(not item or any(c.isspace() for c in item) for item in raw.split(",")):
        raise SettingsError(f"{name}={raw!r} is not a list of brokers; use host:port, "
                            "comma-separated without spaces (e.g. 127.0.0.1:9092)")


def check_redis_url(name: str, raw: str) -> None:
    """Raise ``SettingsError`` naming ``name`` (a variable or a flag) for what redis-py's
    ``from_url`` would reject with a traceback, or take as something else (a db that is not a
    number), long after the command started."""
    form = "use redis://host:port/db (rediss:// for TLS, unix:///path.sock)"
    try:
        url = urlsplit(raw)
        port = url.port  # ValueError when not a number in 0..65535
        if url.scheme not in _REDIS_SCHEMES:
            raise ValueError
        if url.scheme != "unix":
            db = url.path.lstrip("/")
            if not url.hostname or (port is not None and port < 1) or (db and not db.isdigit()):
                raise ValueError
        elif not url.path:
            raise ValueError
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a Redis URL; {form}") from None
