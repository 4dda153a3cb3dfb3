"""Sealed dead-letter bytes (hub.codec.seal): only the dead-letter key opens them."""

from __future__ import annotations

import pytest

from hub.codec import dead_letter_record, load_codec
from hub.codec.seal import SealError, seal, unseal
from hub.model.errors import DecodeError

RAW = b"\xc3\x01truncated swipe 6222021234567890123"


def test_sealed_bytes_hide_the_original_and_the_key_opens_them() -> None:
    token = seal(RAW, "dl-key")
    assert b"6222021234567890123" not in token and token != seal(RAW, "dl-key")  # random IV
    assert unseal(token, "dl-key") == RAW
    with pytest.raises(SealError, match="HUB_DEADLETTER_KEY"):
        unseal(token, "the pseudonym key")
    with pytest.raises(SealError):
        unseal(token[:-2] + b"AA", "dl-key")


def test_a_sealed_dead_letter_says_so_and_older_ones_read_as_not_sealed() -> None:
    codec = load_codec()
    rec = dead_letter_record(DecodeError("truncated"), topic="hub.src.access_swipe", partition=0,
                             offset=1, key=b"S", value=seal(RAW, "k"), time_ms=1, sealed=True)
    kind, back = codec.decode(codec.encode("dead_letter", rec))
    assert kind == "dead_letter" and back["original_sealed"] is True
    assert unseal(back["original_value"], "k") == RAW
    plain = dead_letter_record(DecodeError("x"), topic="t", partition=0, offset=1, key=None,
                               value=b"v", time_ms=1)
    assert plain["original_sealed"] is False


def test_values_sealed_before_gcm_still_unseal() -> None:
    """Letters on hub.deadletter from before 2026-12-07 are Fernet tokens: still opened by the
    same key, refused by another."""
    from hub.codec.seal import _fernet

    old = _fernet("dl-key").encrypt(RAW)
    assert old.startswith(b"gAAAAA") and unseal(old, "dl-key") == RAW
    with pytest.raises(SealError):
        unseal(old, "other")


def test_a_new_seal_is_gcm_and_altering_any_part_is_refused() -> None:
    from hub.codec.seal import SEALED_V2

    token = seal(RAW, "dl-key")
    assert token.startswith(SEALED_V2) and len(token) == len(SEALED_V2) + 12 + len(RAW) + 16
    for at in (len(SEALED_V2), len(SEALED_V2) + 12, len(token) - 1):  # nonce, body, tag
        altered = token[:at] + bytes([token[at] ^ 1]) + token[at + 1:]
        with pytest.raises(SealError):
            unseal(altered, "dl-key")
    with pytest.raises(SealError):
        unseal(SEALED_V2 + b"short", "dl-key")
