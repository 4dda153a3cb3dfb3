"""The hub's exception tree: errors are data on their way to the dead-letter topic.

Each error carries a machine-readable ``reason`` (the dead-letter reason code), the ``field`` at
fault when there is one, and a ``detail`` a person can act on.
"""

from __future__ import annotations

from typing import Any

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
        field = None if field is None else _printable(_clipped(field, FIELD_LIMIT))
        detail = _printable(detail)
        self.field = field
        self.detail = detail
        if reason is not None:
            self.reason = reason
        super().__init__(f"{field}: {detail}" if field else detail)


#: longest value quoted in an error: enough to recognise it, never the sender's whole payload
QUOTE_LIMIT = 60
#: longest field path named (a sender's unknown key can be any length)
FIELD_LIMIT = 120


def quoted(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` for an error's text, cut to ``limit`` characters with the length said.

    Errors quote what the sender wrote so the sender can find it; a 100,000-character value
    quoted whole made a 100 kB line on stderr, in the HTTP answer and in the dead letter's
    reason, which already keeps the original bytes."""
    if isinstance(value, (str, bytes)):  # the size said is the value's, not its repr's
        unit = "characters" if isinstance(value, str) else "bytes"
        return _clipped(repr(value), limit, f" ({len(value):,} {unit})")
    return _clipped(repr(value), limit, "")


def a_or_an(word: str) -> str:
    """``word`` after its article, for errors naming a kind ("an access_swipe record")."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def _clipped(text: str, limit: int, size: str | None = None) -> str:
    """``text`` cut to ``limit`` characters, then ``...`` and ``size`` (`` (N characters)``, its
    own length, when None); unchanged when it fits."""
    if len(text) <= limit:
        return text
    return f"{text[:limit - 3]}...{f' ({len(text):,} characters)' if size is None else size}"


def not_text(value: str) -> str | None:
    """Why ``value`` is not text, or None: a string from JSON may hold a lone UTF-16 surrogate
    (``"\\ud800"`` parses), which no Avro encoder, hash, file or topic can carry. Said as the
    field's error where it arrives, rather than a UnicodeEncodeError further on (a card number
    holding one was a 500 at the gateway and stopped `hub produce`)."""
    if value.isascii():
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"holds U+{ord(value[exc.start]):04X} at character {exc.start}, a lone UTF-16 "
                "surrogate, which is not text: send UTF-8 (a character outside the BMP is one "
                "\\uXXXX\\uXXXX pair in JSON, never half of one)")
    return None


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
