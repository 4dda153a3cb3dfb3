"""``up`` / ``down`` / ``status`` of the whole local stack, callable from the CLI and from tests.

Start order: Redis and Mosquitto first (instant), then Kafka (slowest, so its readiness wait is
last).
Stop order is the reverse. Every step is idempotent: running services are left alone and
reported as such.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Callable, Iterator

from hub.settings import Settings
from hub.stack import kafka, mosquitto, redis
from hub.stack.service import LocalService
from hub.stack.status import StackStatus

log = logging.getLogger(__name__)

Say = Callable[[str], None]
DEFAULT_TIMEOUT = 120.0


def _say(say: Say | None) -> Say:
    return say if say is not None else log.info


def _services(settings: Settings) -> tuple[LocalService, ...]:
    """Redis and Mosquitto in start order (``down`` walks it backwards); Kafka is handled apart."""
    return (redis.service(settings), mosquitto.service(settings))


@contextlib.contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    """One ``up``/``down``/restart at a time per state dir: several engineers' test sessions share
    one tree, and two concurrent ``up`` calls must not both launch a broker."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with (settings.state_dir / "stack.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def install(settings: Settings, say: Say | None = None) -> None:
    """Fetch what ``up`` needs (Java check, Kafka jars, redis-server) without starting anything."""
    out = _say(say)
    kafka.java_binary()
    with _locked(settings):
        fetched = kafka.ensure_jars(settings, out)
    libs = kafka.KafkaPaths.of(settings).libs
    out(f"kafka: jars cached in {libs}" if fetched else f"kafka: jars already cached in {libs}")
    for svc in _services(settings):
        out(f"{svc.label}: using {svc.binary(out)}")


def up(
    settings: Settings, *, say: Say | None = None, timeout: float = DEFAULT_TIMEOUT
) -> StackStatus:
    """Start whatever is not running and wait until Kafka answers metadata and Redis PINGs.

    Raises StackError (message says what to do) when a service cannot be brought up in ``timeout``.
    """
    out = _say(say)
    with _locked(settings):
        _up(settings, out, timeout)
    return status(settings)


def _up(settings: Settings, out: Say, timeout: float) -> None:
    # Preflight first: a missing Java/jar/redis-server fails before anything is half started.
    kafka.java_binary()
    kafka.ensure_jars(settings, out)
    services = _services(settings)
    for svc in services:
        svc.binary(out)
    for svc in services:
        svc.ensure_up(out)
    kpid = kafka.running_pid(settings)
    if kpid is not None:
        kafka.wait_ready(settings, kpid, timeout)
        out(f"kafka: already running (pid {kpid}, 127.0.0.1:{settings.kafka_port})")
    else:
        kpid = kafka.start(settings, out)
        out(f"kafka: starting (pid {kpid}); waiting for a metadata answer")
        kafka.wait_ready(settings, kpid, timeout)
        out(f"kafka: ready (pid {kpid}, 127.0.0.1:{settings.kafka_port})")
    _warn_mismatch(settings, out)


def _warn_mismatch(settings: Settings, out: Say) -> None:
    if not settings.bootstrap.endswith(f":{settings.kafka_port}"):
        out(f"warning: HUB_BOOTSTRAP={settings.bootstrap} does not point at kafka_port")
    if f":{settings.redis_port}" not in settings.redis_url:
        out(f"warning: HUB_REDIS_URL={settings.redis_url} does not point at redis_port")
    if f":{settings.mqtt_port}" not in settings.mqtt_url:
        out(f"warning: HUB_MQTT_URL={settings.mqtt_url} does not point at mqtt_port")


def down(settings: Settings, *, say: Say | None = None) -> None:
    """Stop only the processes ``up`` started (pidfile + command line/working dir must match)."""
    out = _say(say)
    with _locked(settings):
        pid = kafka.stop(settings)
        out(f"kafka: stopped pid {pid}" if pid else "kafka: not running (nothing to stop)")
        for svc in reversed(_services(settings)):
            pid = svc.stop()
            out(f"{svc.label}: stopped pid {pid}" if pid else
                f"{svc.label}: not running (nothing to stop)")


def status(settings: Settings) -> StackStatus:
    """What runs where right now, with a live readiness probe of each service."""
    return StackStatus(kafka=kafka.status(settings), redis=redis.status(settings),
                       mqtt=mosquitto.status(settings))


def restart_kafka(
    settings: Settings,
    *,
    hard: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    say: Say | None = None,
) -> StackStatus:
    """Stop the broker (SIGTERM, or SIGKILL when ``hard`` to simulate a crash) and start it again.

    Data and cluster id are kept, so topics, offsets and changelogs survive; returns once the broker
    answers metadata again. Fault tests use this.
    """
    out = _say(say)
    with _locked(settings):
        kafka.stop(settings, hard=hard)
        pid = kafka.start(settings, out)
        kafka.wait_ready(settings, pid, timeout)
    out(f"kafka: restarted (pid {pid})")
    return status(settings)


def stop_kafka(settings: Settings, *, hard: bool = False) -> None:
    """Stop only the broker, e.g. to test how clients behave while it is away."""
    with _locked(settings):
        kafka.stop(settings, hard=hard)


def start_kafka(settings: Settings, *, timeout: float = DEFAULT_TIMEOUT) -> StackStatus:
    """Start the broker again after ``stop_kafka`` (no-op when it runs) and wait until ready."""
    with _locked(settings):
        pid = kafka.running_pid(settings) or kafka.start(settings, log.info)
        kafka.wait_ready(settings, pid, timeout)
    return status(settings)
