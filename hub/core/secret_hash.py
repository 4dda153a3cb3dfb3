"""Stored secrets (console passwords, gateway API keys) as salted scrypt strings, checked in
constant time.

Pure: hashlib only, no I/O. One module for both files so the console and the edge cannot drift
apart in format or cost, and the edge need not import the console to check a key.

The stored form is ``scrypt$N$r$p$<salt b64>$<hash b64>`` (32-byte hash). The parameters travel
with each hash, so raising them later leaves existing accounts and keys valid; verifying reads
them from the string, never from the constants here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCRYPT_N, SCRYPT_R, SCRYPT_P = 16384, 8, 1
_DKLEN = 32
_SCHEME = "scrypt"


def hash_secret(secret: str, *, salt: bytes | None = None) -> str:
    """The storable scrypt form of ``secret``; ``salt`` is for tests only (16 random bytes)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=_DKLEN)
    b64 = base64.b64encode
    return f"{_SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` matches a hash_secret string, in constant time; a malformed or
    non-scrypt ``stored`` value is a mismatch, never an exception."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != _SCHEME:
            return False
        got = hashlib.scrypt(secret.encode(), salt=base64.b64decode(salt), n=int(n),
                             r=int(r), p=int(p), dklen=_DKLEN)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


def looks_hashed(stored: str) -> bool:
    """Whether ``stored`` has the shape of a hash_secret string (six ``$`` fields, scrypt first):
    the loaders' guard against a plain password or key pasted into a file."""
    return stored.startswith(f"{_SCHEME}$") and stored.count("$") == 5
