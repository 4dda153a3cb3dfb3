"""Stored secrets: one scrypt format for passwords and gateway keys; old hashes still verify."""

from __future__ import annotations

import pytest

from hub.core.secret_hash import hash_secret, looks_hashed, verify_secret

#: Written by hub.console.accounts.hash_password before the helper was shared (salts fixed): files
#: in the field hold such strings, so they must keep verifying, byte for byte the same format.
GOLDEN = [
    ("correct horse",
     "scrypt$16384$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$0LupyHkzAIgDr9UDsriAAf87vMbCbcaUfDvFOAHk0D0=",
     b"0123456789abcdef"),
    ("3f9c2a7b1d04.secret-part",
     "scrypt$16384$8$1$ZmVkY2JhOTg3NjU0MzIxMA==$krOs6L4LzIPEiPTzx8Qt9+v2Fo/PSVQ9l7S4OYbHusA=",
     b"fedcba9876543210"),
]


def test_a_secret_verifies_against_its_hash_and_nothing_else() -> None:
    stored = hash_secret("correct horse")
    assert stored.startswith("scrypt$") and "correct horse" not in stored and looks_hashed(stored)
    assert verify_secret("correct horse", stored)
    assert not verify_secret("correct horsE", stored)
    assert not verify_secret("correct horse", "garbage")


@pytest.mark.parametrize(("secret", "stored", "salt"), GOLDEN)
def test_hashes_written_before_keep_verifying(secret: str, stored: str, salt: bytes) -> None:
    assert verify_secret(secret, stored)
    assert hash_secret(secret, salt=salt) == stored


@pytest.mark.parametrize("stored", ["plain", "scrypt$1$2$3$4", "bcrypt$1$2$3$4$5", ""])
def test_plain_or_foreign_values_do_not_look_hashed(stored: str) -> None:
    assert not looks_hashed(stored)
    assert not verify_secret("x", stored)
