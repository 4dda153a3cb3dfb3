"""The hub's exception tree: errors are data on their way to the dead-letter topic.

Each error carries a machine-readable ``reason`` (the dead-letter reason code), the ``field`` at
fault when there is one, and a ``detail`` a person can act on.
"""

from __future__ import annotations

#: Dead-letter reason codes (DeadLetter.reason in schemas/avro).
REASONS = (
    "DECODE_ERROR",  # bytes are not Avro single-object / JSON we can read
    "UNKNOWN_SCHEMA",  # fingerprint or kind we do not know
    "VALIDATION_ERROR",  # decodes, but a field breaks the contract
    "LATE",  # event time behind the watermark: windows already closed
    "PROCESSING_ERROR",  # a bug of ours: kept so nothing is lost
)


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class RecordError(HubError):
    """A record that cannot be accepted; goes to the dead-letter topic with ``reason``."""

    reason = "VALIDATION_ERROR"

    def __init__(self, detail: str, *, field: str | None = None, reason: str | None = None):
        # What the sender wrote is quoted in these texts (a field name, a value), and JSON can
        # carry a lone surrogate ("\ud800") that no UTF-8 output (a file, a topic, a response)
        # can: written escaped, the error reaches its reader instead of raising where it is
        # written.
        field = None if field is None else _printable(field)
        detail = _printable(detail)
        self.field = field
        self.detail = detail
        if reason is not None:
            self.reason = reason
        super().__init__(f"{field}: {detail}" if field else detail)


def _printable(text: str) -> str:
    """``text`` with each lone surrogate written as its escape (``\\ud800``); else unchanged."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class DecodeError(RecordError):
    """The bytes or text cannot be read at all."""

    reason = "DECODE_ERROR"


class UnknownSchemaError(RecordError):
    """The payload names a schema (fingerprint or kind) the hub does not have."""

    reason = "UNKNOWN_SCHEMA"


class ValidationError(RecordError):
    """The record decodes but a field breaks the contract."""

    reason = "VALIDATION_ERROR"


class ConfigError(HubError):
    """A configuration file (rules, topics) is wrong; the message names file, item and field."""
