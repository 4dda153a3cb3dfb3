"""What ``hub stack status`` reports: plain frozen values, printable and assertable in tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServiceStatus:
    """One service of the local stack as seen right now."""

    name: str
    port: int
    data_dir: Path
    pid: int | None = None
    ready: bool = False
    detail: str = ""

    @property
    def running(self) -> bool:
        """A process is there (a pid); it may not answer yet (see ``ready``)."""
        return self.pid is not None

    def line(self) -> str:
        """The service's line of ``hub stack status``."""
        state = "ready" if self.ready else ("running, NOT ready" if self.running else "stopped")
        pid = f"pid {self.pid}" if self.pid is not None else "no pid"
        extra = f"  ({self.detail})" if self.detail else ""
        return (
            f"{self.name:<6} {state:<18} {pid:<10} 127.0.0.1:{self.port:<6} {self.data_dir}{extra}"
        )


@dataclass(frozen=True)
class StackStatus:
    """Kafka, Redis and Mosquitto together; ``ready`` only when all answer.

    ``mqtt`` is None only where a caller builds a status without the broker (older callers)."""

    kafka: ServiceStatus
    redis: ServiceStatus
    mqtt: ServiceStatus | None = None

    @property
    def ready(self) -> bool:
        """True only when every service of the stack answers."""
        return self.kafka.ready and self.redis.ready and (self.mqtt is None or self.mqtt.ready)

    def lines(self) -> list[str]:
        """One line per service, in the order ``hub stack status`` prints them."""
        return [self.kafka.line(), self.redis.line(),
                *([self.mqtt.line()] if self.mqtt is not None else [])]
