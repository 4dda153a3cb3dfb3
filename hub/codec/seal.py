"""Sealing dead-letter bytes that cannot be searched for personal values.

A truncated AccessSwipe still carries the raw card number a vendor forgot to hash; it does not
decode, so the hub cannot find the number and pseudonymize it, and hub.deadletter is a topic that
operators and downstream tools read (a scan of every topic found 56 raw card numbers there).
Such bytes are kept, so they can be re-driven after a fix, but sealed with a key of their
own (``HUB_DEADLETTER_KEY``), separate from the pseudonym key: a Fernet token (AES-128-CBC with
HMAC-SHA256, from the ``cryptography`` package; the standard library has no authenticated
cipher). Whoever holds the key unseals (``hub consume hub.deadletter --unseal``).
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken

from hub.model.errors import HubError


class SealError(HubError):
    """A sealed value that this key cannot open."""


@cache
def _fernet(key: str) -> Fernet:
    # Fernet wants 32 random bytes; an operator's secret of any length is stretched to them.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


def seal(data: bytes, key: str) -> bytes:
    """``data`` sealed with ``key`` (a Fernet token, ASCII)."""
    return _fernet(key).encrypt(data)


def unseal(token: bytes, key: str) -> bytes:
    """The bytes :func:`seal` sealed; SealError when ``key`` is not the one they were sealed
    with (or the token was altered)."""
    try:
        return _fernet(key).decrypt(token)
    except InvalidToken:
        raise SealError("cannot unseal original_value: HUB_DEADLETTER_KEY is not the key it was "
                        "sealed with, or the bytes were altered") from None
