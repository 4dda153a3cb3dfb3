"""Building DeadLetter records: the original message kept byte for byte, plus why it failed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
) -> dict[str, Any]:
    """A DeadLetter record (encode it with ``codec.encode("dead_letter", ...)``).

    ``error`` is usually a :class:`~hub.model.errors.RecordError`, whose ``reason``, ``detail``
    and ``field`` are kept; any other exception is a PROCESSING_ERROR (a bug of ours).
    ``sealed``: ``value`` is already sealed with the dead-letter key (hub.codec.seal).
    """
    if isinstance(error, RecordError):
        reason, detail, field = error.reason, error.detail, error.field
    else:
        reason, detail, field = "PROCESSING_ERROR", f"{type(error).__name__}: {error}", None
    if reason not in REASONS:
        reason = "PROCESSING_ERROR"
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
        "original_headers": [
            {"key": str(k), "value": None if v is None else bytes(v)} for k, v in headers or ()
        ],
        "worker_id": worker_id,
        "time": int(time_ms),
    }
