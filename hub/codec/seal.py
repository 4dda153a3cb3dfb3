"""Sealing dead-letter bytes that cannot be searched for personal values.

A truncated AccessSwipe still carries the raw card number a vendor forgot to hash; it does not
decode, so the hub cannot find the number and pseudonymize it, and hub.deadletter is a topic that
operators and downstream tools read (a scan of every topic found 56 raw card numbers there).
Such bytes are kept, so they can be re-driven after a fix, but sealed with a key of their
own (``HUB_DEADLETTER_KEY``), separate from the pseudonym key, with an authenticated cipher from
the ``cryptography`` package (the standard library has none): AES-256-GCM, ``SEALED_V2`` then a
12-byte random nonce then the ciphertext and its tag. Whoever holds the key unseals (``hub
consume hub.deadletter --unseal``).

Values sealed before 2026-12-07 are Fernet tokens (AES-128-CBC with HMAC-SHA256, ASCII) and
still unseal. Fernet cost ~27 us a value in Python around its C calls, GCM ~2: a flood of
20,000 undecodable messages kept honest devices' alerts waiting ~4.4 s behind its dead
letters, over half of it sealing (an outside probe, 2026-12-07).
"""

from __future__ import annotations

import base64
import hashlib
import os
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.model.errors import HubError

#: What a value sealed with AES-256-GCM starts with (a Fernet token starts with ``gAAAAA``).
SEALED_V2 = b"\x00hubseal2\x00"
_NONCE = 12


class SealError(HubError):
    """A sealed value that this key cannot open."""


@cache
def _fernet(key: str) -> Fernet:
    # Fernet wants 32 random bytes; an operator's secret of any length is stretched to them.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


@cache
def _gcm(key: str) -> AESGCM:
    # A key of its own, derived apart from Fernet's: one secret, never one key for two ciphers.
    return AESGCM(hashlib.sha256(b"hub dead-letter seal v2\x00" + key.encode()).digest())


def seal(data: bytes, key: str) -> bytes:
    """``data`` sealed with ``key``: ``SEALED_V2``, a random nonce, AES-256-GCM ciphertext."""
    nonce = os.urandom(_NONCE)
    return SEALED_V2 + nonce + _gcm(key).encrypt(nonce, data, SEALED_V2)


def unseal(token: bytes, key: str) -> bytes:
    """The bytes :func:`seal` sealed (or a Fernet token of before); SealError when ``key`` is
    not the one they were sealed with (or the bytes were altered)."""
    try:
        if token.startswith(SEALED_V2):
            body = token[len(SEALED_V2):]
            return _gcm(key).decrypt(body[:_NONCE], body[_NONCE:], SEALED_V2)
        return _fernet(key).decrypt(token)
    except (InvalidToken, InvalidTag, ValueError):
        raise SealError("cannot unseal original_value: HUB_DEADLETTER_KEY is not the key it was "
                        "sealed with, or the bytes were altered") from None
