"""The local stack without Docker: Apache Kafka (KRaft) and Redis on 127.0.0.1.

``up`` is idempotent and waits for real readiness; ``down`` stops only what ``up`` started. Tests
call these directly (``tests/integration/conftest.py``), the CLI wraps them as ``hub stack``.
"""

from hub.stack.control import (
    down,
    install,
    restart_kafka,
    start_kafka,
    status,
    stop_kafka,
    up,
)
from hub.stack.errors import StackError
from hub.stack.status import ServiceStatus, StackStatus

__all__ = [
    "ServiceStatus",
    "StackError",
    "StackStatus",
    "down",
    "install",
    "restart_kafka",
    "start_kafka",
    "status",
    "stop_kafka",
    "up",
]
