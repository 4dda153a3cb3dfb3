"""Building DeadLetter records: the original message kept byte for byte, plus why it failed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.core.pseudonym import scrub_text
from hub.model.errors import REASONS, RecordError

DEAD_LETTER_KIND = "dead_letter"


def dead_letter_record(
    error: BaseException,
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] | None = None,
    time_ms: int,
    timestamp_ms: int | None = None,
    source_kind: str | None = None,
    worker_id: str | None = None,
    sealed: bool = False,
    pseudonym_key: bytes | str | None = None,
) -> dict[str, Any]:
    """A DeadLetter record (encode it with ``codec.encode("dead_letter", ...)``).

    ``error`` is usually a :class:`~hub.model.errors.RecordError`, whose ``reason``, ``detail``
    and ``field`` are kept; any other exception is a PROCESSING_ERROR (a bug of ours).
    ``sealed``: ``value`` is already sealed with the dead-letter key (hub.codec.seal).
    ``pseudonym_key``: for a message from outside, personal numbers in the detail, the field
    name, the key and the header values are replaced by their pseudonyms (``scrub_text``).
    An error quotes what the sender wrote so they can find it, and a mangled vendor field can
    be a phone number ("'13911110027' is not Start, Stop"); a vendor may key its messages by
    card number: the value is sealed or pseudonymized, and these must not undo it.
    """
    if isinstance(error, RecordError):
        reason, detail, field = error.reason, error.detail, error.field
    else:
        reason, detail, field = "PROCESSING_ERROR", f"{type(error).__name__}: {error}", None
    if reason not in REASONS:
        reason = "PROCESSING_ERROR"
    pairs = [(str(k), None if v is None else bytes(v)) for k, v in headers or ()]
    if pseudonym_key is not None:
        detail = scrub_text(detail, pseudonym_key)
        field = None if field is None else scrub_text(field, pseudonym_key)
        scrubbed_key = _scrubbed(key, pseudonym_key)
        scrubbed_pairs = [(k, _scrubbed(v, pseudonym_key)) for k, v in pairs]
        if scrubbed_key != key or scrubbed_pairs != pairs:
            detail += (" (personal numbers in the original key or headers replaced by their "
                       "pseudonyms)")
        key, pairs = scrubbed_key, scrubbed_pairs
    return {
        "reason": reason,
        "detail": detail,
        "field": field,
        "source_kind": source_kind,
        "source_topic": topic,
        "source_partition": int(partition),
        "source_offset": int(offset),
        "source_timestamp": timestamp_ms,
        "original_key": None if key is None else bytes(key),
        "original_value": b"" if value is None else bytes(value),
        "original_sealed": sealed,
        "original_headers": [{"key": k, "value": v} for k, v in pairs],
        "worker_id": worker_id,
        "time": int(time_ms),
    }


def _scrubbed(data: bytes | None, pseudonym_key: bytes | str) -> bytes | None:
    """``data`` with the personal numbers in it pseudonymized when it is UTF-8 text."""
    if data is None or len(data) < 11:
        return None if data is None else bytes(data)
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return bytes(data)
    return scrub_text(text, pseudonym_key).encode("utf-8")
