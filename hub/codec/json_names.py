"""JSON objects that give one name twice.

RFC 8259 leaves such an object's meaning open and Python's ``json`` keeps the last value without a
word, so ``{"result": "DENIED", ..., "result": "GRANTED"}`` would pass as a GRANTED swipe: the
sender meant one of them and nobody can tell which. The edge and the interchange readers refuse
it, naming the field, as any other bad field.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from hub.model.errors import ValidationError


class NamedTwice(dict[str, Any]):
    """A parsed object in which ``names`` were given more than once (the last value kept)."""

    __slots__ = ("names",)

    def __init__(self, pairs: list[tuple[str, Any]], names: tuple[str, ...]) -> None:
        super().__init__(pairs)
        self.names = names


def object_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json``'s object hook: a plain dict, or a :class:`NamedTwice` saying which names
    repeat (the caller decides; an array of events rejects only the object at fault)."""
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    twice: dict[str, None] = {}
    for name, _ in pairs:
        if name in seen:
            twice[name] = None
        seen.add(name)
    return NamedTwice(pairs, tuple(twice))


#: A decoder whose objects say the names they repeat (``raw_decode`` for pieces of a payload).
DECODER = json.JSONDecoder(object_pairs_hook=object_pairs)


def loads(text: str | bytes) -> Any:
    """``json.loads`` whose objects say the names they repeat (see :func:`refuse_twice`)."""
    return json.loads(text, object_pairs_hook=object_pairs)


def loads_once(text: str | bytes) -> Any:
    """``json.loads`` that raises ValueError naming the first name an object (at any depth)
    gives twice: for payloads read whole, where no caller can refuse just the object at fault
    (a GA/T 1400 notification with two ``IDNumber``s was taken with the last)."""
    return json.loads(text, object_pairs_hook=_once_each)


def _once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = object_pairs(pairs)
    names = getattr(obj, "names", None)
    if names:
        raise ValueError(f"{names[0]!r} is given more than once in one object; send each "
                         "field once")
    return obj


def why_not_json(exc: ValueError, fix: str = "") -> str:
    """What a reader says of a line ``json`` refused (``fix``: what to do about bad JSON, said
    after it): Python's guard against huge numbers, and its advice to raise
    ``sys.set_int_max_str_digits``, are not the sender's business."""
    if "int_max_str_digits" in str(exc):
        return (f"a number of more than {sys.get_int_max_str_digits():,} digits; no field "
                "takes one: check the sender")
    return f"not valid JSON: {exc}" + (f"; {fix}" if fix else "")


def loads_line(text: str) -> Any:
    """:func:`loads` for one interchange line at plain ``json.loads``'s cost: a flat object
    has as many ``":`` as names, so only a line where they differ (a name twice, or a value
    holding ``":``, or a space before a colon) is read again with the hook."""
    obj = json.loads(text)
    if type(obj) is dict and text.count('":') != len(obj):
        return loads(text)
    return obj


def with_fields(obj: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    """A copy of ``obj`` with ``fields`` set (an edge filling in what its route fixes, e.g. the
    path's kind) that still says the names ``obj`` was given twice, for the reader to refuse."""
    names = getattr(obj, "names", None)
    out = NamedTwice(list(obj.items()), names) if names else dict(obj)
    out.update(fields)
    return out


def refuse_twice(obj: Mapping[str, Any]) -> None:
    """Raise :class:`ValidationError` naming the first field ``obj`` was given twice."""
    names = getattr(obj, "names", None)
    if names:
        raise ValidationError(
            "given more than once in one object; JSON readers keep only one of the values, "
            "so send each field once", field=names[0])
