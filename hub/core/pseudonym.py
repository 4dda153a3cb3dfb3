"""Pseudonymization at the edge: personal values become keyed hashes before they reach a topic.

Pure: no I/O, no settings lookup; the key is a parameter (``Settings.pseudonym_key``).

A pseudonym is ``"p1:" + first 32 hex digits of HMAC-SHA256(key, value)``, where ``value`` is the
raw personal value with surrounding whitespace removed, encoded as UTF-8. ``p1`` names the scheme so
a later scheme (another key or hash) can live beside it. The same key and value always give the
same pseudonym, so events of the same card or person can still be correlated; without the key the
raw value cannot be recovered or confirmed by guessing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Collection, Mapping
from typing import Any

from hub.model.errors import ValidationError, not_text

SCHEME = "p1"
_PSEUDONYM_RE = re.compile(r"p1:[0-9a-f]{32}")
_is_pseudonym_text = _PSEUDONYM_RE.fullmatch

#: Raw personal field names a vendor may send -> the pseudonymized field that replaces them.
RAW_ALIASES: dict[str, str] = {
    "credential": "credential_hash",
    "card_no": "credential_hash",
    "face_id": "person_hash",
    "person_id": "person_hash",
    "phone": "requester_hash",
    "requester_phone": "requester_hash",
    "reporter_phone": "reporter_hash",
}


#: Between the groups of a number as people write it: a space (also no-break and ideographic), a
#: dash (ASCII, typographic, full-width), a dot, a slash, an underscore, a middle dot; up to three
#: of them (``139  2222  0002``, an outside probe).
_SEP = "[ \\-./_\u00a0\u00b7\u2010-\u2015\u2212\u3000\u30fb\uff0d\uff0e\uff0f]"
_GAP = f"{_SEP}{{0,3}}"
_BREAK = f"{_SEP}{{1,3}}"
#: Chinese numerals as a number is read out digit by digit (一三九二二二二零零零四).
_CN_DIGITS = {c: str(i % 10) for i, c in enumerate("〇一二三四五六七八九")} | {"零": "0"}
_CN = "[〇零一二三四五六七八九]"
#: A personal number inside free text, in digits of any script (a Chinese input method writes
#: full-width １３９) or in Chinese numerals: a mobile number (``+86`` optional, separators
#: anywhere: 139-1234-5678, (139)4444-0007, 1-3-9-2222-0005), an 18-character ID number
#: (身份证, X last; 6-8-4 groups too), a card number in 4-digit groups (6222 0255 5500 0002) or
#: in 4-6-5 (3782 822463 10005), or any other run of 11 to 19 digits (card and account numbers),
#: not part of a longer number. Letters next to it do not hide it ("tel13944440003"). A
#: pseudonym is matched first and kept: its hex holds runs of decimal digits, and scrubbing text
#: twice must change nothing.
_NUMBER_IN_TEXT = re.compile(
    "(?P<kept>p1:[0-9a-f]{32})"
    f"|(?<!\\d)(?<!{_CN})(?P<number>"
    f"(?:[+\uff0b]?86{_GAP})?\\(?1{_GAP}[3-9]{_GAP}\\d\\)?(?:{_GAP}\\d){{8}}"
    f"|\\d{{6}}{_GAP}\\d{{8}}{_GAP}\\d{{3}}[\\dXx\uff38\uff58]"
    f"|\\d{{4}}(?:{_BREAK}\\d{{4}}){{3}}(?:{_GAP}\\d{{1,3}})?"
    f"|\\d{{4}}{_BREAK}\\d{{6}}{_BREAK}\\d{{5}}"
    f"|一[三四五六七八九]{_CN}{{9}}|{_CN}{{15,19}}"
    f"|\\d{{11,19}})(?!\\d)(?!{_CN})")


def _key_bytes(key: bytes | str) -> bytes:
    kb = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if not kb:
        raise ValueError("the pseudonym key is empty: set HUB_PSEUDONYM_KEY")
    return kb


def pseudonymize(value: str, key: bytes | str) -> str:
    """Keyed hash of one raw personal value, e.g. ``p1:3f2a...`` (35 characters)."""
    # "surrogatepass": a lone surrogate hashes instead of raising; callers that take values
    # from senders refuse it first (_hash_raw), naming the field
    digest = hmac.new(_key_bytes(key), value.strip().encode("utf-8", "surrogatepass"),
                      hashlib.sha256).hexdigest()
    return f"{SCHEME}:{digest[:32]}"


def is_pseudonym(value: object) -> bool:
    """True when ``value`` has the form of a pseudonym this module makes."""
    return isinstance(value, str) and _is_pseudonym_text(value) is not None


def scrub_text(text: str, key: bytes | str) -> str:
    """``text`` with every personal number in it (``_NUMBER_IN_TEXT``) replaced by its
    pseudonym: a grid worker's "居民 电话13912345678" must not carry the number to a topic, and
    the same number written ``139-1234-5678`` or ``+86 13912345678`` gives the same pseudonym,
    so reports about one person still meet."""
    if len(text) < 11:
        return text
    return _NUMBER_IN_TEXT.sub(lambda m: m.group() if m.lastgroup == "kept"
                               else pseudonymize(_number(m.group()), key), text)


def _number(found: str) -> str:
    """The digits of a number found in text, in ASCII (an X last kept): the same number
    written with other separators or full-width digits gives the same pseudonym."""
    digits = "".join(str(unicodedata.decimal(c)) if c.isdecimal()
                     else _CN_DIGITS.get(c, "X")
                     for c in found if c.isdecimal() or c in _CN_DIGITS or c in "Xx\uff38\uff58")
    return digits[2:] if len(digits) == 13 and digits.startswith("861") else digits


def _holds_number(text: str) -> bool:
    return any(m.lastgroup == "number" for m in _NUMBER_IN_TEXT.finditer(text))


def unscrubbed_fields(record: Mapping[str, Any], fields: Collection[str]) -> list[str]:
    """The free-text ``fields`` of ``record`` that still hold a personal number."""
    return [name for name in fields
            if type(value := record.get(name)) is str and len(value) >= 11
            and _holds_number(value)]


def scrub_fields(record: Mapping[str, Any], key: bytes | str,
                 fields: Collection[str]) -> dict[str, Any]:
    """A copy of ``record`` whose free-text ``fields`` are scrubbed (:func:`scrub_text`)."""
    out = dict(record)
    for name in fields:
        value = out.get(name)
        if type(value) is str:
            out[name] = scrub_text(value, key)
    return out


def protect(record: Mapping[str, Any], key: bytes | str, hash_fields: Collection[str],
            text_fields: Collection[str]) -> dict[str, Any]:
    """``record`` with no raw personal value left: ``hash_fields`` pseudonymized, ``text_fields``
    scrubbed (what a producer that skipped the edge left, or a dead letter must not keep)."""
    out = pseudonymize_fields(record, key, hash_fields)
    return scrub_fields(out, key, text_fields) if text_fields else out


def shield(record: dict[str, Any], key: bytes | str, hash_fields: Collection[str],
           text_fields: Collection[str]) -> tuple[dict[str, Any], list[str]]:
    """``record`` with no raw personal value left, and the fields that held one (sorted personal
    fields, then free text). A record pseudonymized at the edge, as almost all are, comes back
    itself after one look per field: the worker and the dead letters ask it of every record
    that did not come through the edge, so a producer that skipped it leaks nothing."""
    raw = raw_fields(record, hash_fields)
    if text_fields:
        raw += unscrubbed_fields(record, text_fields)
    if not raw:
        return record, raw
    return protect(record, key, hash_fields, text_fields), raw


def raw_fields(record: Mapping[str, Any], fields: Collection[str]) -> list[str]:
    """The ``fields`` of ``record`` that hold a raw personal value (set, and not a pseudonym),
    sorted: what a producer that skipped the edge left for the hub to pseudonymize."""
    raw: list[str] = []
    for name in fields:  # ingest asks for every event: one loop, sorted only if 2 or more
        value = record.get(name)
        if value is None or value == "":
            continue
        if type(value) is not str or _is_pseudonym_text(value) is None:
            raw.append(name)
    if len(raw) > 1:
        raw.sort()
    return raw


def pseudonymize_fields(
    record: Mapping[str, Any], key: bytes | str, hash_fields: Collection[str]
) -> dict[str, Any]:
    """Return a copy of ``record`` in which no raw personal value remains.

    For every field in ``hash_fields`` (the schema's fields marked ``"pii": "pseudonymized"``):

    - a raw alias (``RAW_ALIASES``, e.g. ``card_no`` for ``credential_hash``) is hashed into the
      field and removed (an interchange object giving both, differently, is refused before:
      :func:`sources_that_differ`);
    - a value that is not already a pseudonym is treated as raw and hashed (integers as their
      digits);
    - ``None`` and empty strings stay as they are, other types too: validation rejects them;
      a raw alias given only as an empty string is refused here, under its own name.

    Raw aliases whose target is not in ``hash_fields`` are left alone, so validation reports them
    as unknown fields of that kind instead of silently renaming them.
    """
    out = dict(record)
    for raw_name, target in RAW_ALIASES.items():
        if target in hash_fields and raw_name in out:
            value = out.pop(raw_name)
            if value is None or value == "":  # given empty: not a value, so it replaces none
                if value == "" and all(record.get(name) in (None, "") for name in (
                        target, *_ALIASES_OF.get(target, ()))):  # said under the name sent:
                    raise ValidationError(  # "credential_hash: must not be empty" puzzled
                        f"must not be empty: it is hashed into {target}; leave it out (or "
                        f"null) when there is none", field=raw_name)
                out.setdefault(target, value)  # ({"credential": "6222...", "card_no": null}
                continue                       # kept the null and lost the card)
            out[target] = _hash_raw(value, key, raw_name)
    for name in hash_fields:
        if name in out and not is_pseudonym(out[name]):
            out[name] = _hash_raw(out[name], key, name)
    return out


def sources_that_differ(record: Mapping[str, Any], hash_fields: Collection[str],
                        key: bytes | str) -> list[str]:
    """The names under which ``record`` gives one personal value differently (``card_no`` and
    ``credential`` for one ``credential_hash``), empty when they agree or only one is given:
    :func:`pseudonymize_fields` would keep one of them and drop the other unsaid."""
    if not any(name in record for name in RAW_ALIASES):  # most records: no raw name at all
        return []
    for target in hash_fields:
        given = [name for name in (target, *_ALIASES_OF.get(target, ()))
                 if record.get(name) not in (None, "")]
        if len(given) > 1:
            values = [record[name] if name == target and is_pseudonym(record[name])
                      else _hash_raw(record[name], key, name) for name in given]
            if any(v != values[0] for v in values[1:]):
                return given
    return []


#: personal field -> the raw names taken for it
_ALIASES_OF: dict[str, tuple[str, ...]] = {}
for _raw, _target in RAW_ALIASES.items():
    _ALIASES_OF[_target] = (*_ALIASES_OF.get(_target, ()), _raw)


def _hash_raw(value: Any, key: bytes | str, name: str) -> Any:
    """Hash a raw value; integers (card numbers sent as JSON numbers) count as their digits.

    Empty strings and other types are returned unchanged so validation can name the problem;
    a string that is not text (a lone surrogate) is refused here, under the ``name`` it was
    sent as, since validation only ever sees its hash.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and value.strip():
        why = not_text(value)
        if why is not None:
            raise ValidationError(why, field=name)
        return pseudonymize(value, key)
    return value
