"""Errors of the local stack: each message says what happened *and* what to do about it."""

from __future__ import annotations

from hub.model.errors import HubError


class StackError(HubError):
    """The local Kafka/Redis stack could not be started, stopped or inspected.

    The message is printed as-is by ``hub stack``; it must name the remedy (install Java, free the
    port or set ``HUB_KAFKA_PORT``, look at a log file, ...), not only the symptom.
    """
