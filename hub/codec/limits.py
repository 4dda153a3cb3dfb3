"""Size and character limits on input: what one careless vendor may send (docs/contracts.md).

A 50,000-character event_id, a 100 KB description or an id carrying NUL or U+202E (which makes
an operator's screen show a different id than the one stored) used to pass validation and travel
into incidents, state and every version of them. Each limit is checked per record, so
a violation is that record's error (a dead letter, a rejected line) and costs no other record
anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from hub.model.errors import DecodeError, ValidationError
from hub.model.events import REGISTRY_KIND, SOURCE_KINDS

#: One interchange line or source message, in bytes: just under the source topics' default
#: max.message.bytes (1,048,588), so a line that passes always fits its topic.
MAX_LINE_BYTES = 1_000_000
#: JSON nesting: the contracts need 3 levels; the margin is for future schemas.
MAX_DEPTH = 32
#: Ids, hashes, codes, enum symbols: any string field not listed in TEXT_MAX.
MAX_ID_CHARS = 128
#: Free-text fields and their limits (characters).
TEXT_MAX: Mapping[str, int] = {"description": 4_000, "name": 200, "address": 400}
#: Items of a list of strings (a building's risk_tags).
MAX_LIST_ITEMS = 64

#: C0 and C1 controls, and the bidirectional marks and overrides (U+200E/F, U+202A–E,
#: U+2066–9): none belongs in an id. Nor do invisible ones (U+200B–D, U+2060–4, U+FEFF, U+00AD):
#: an id of a zero-width space alone passed "must not be empty" (an outside probe), and one
#: inside an id makes two ids that look the same.
BAD_IN_ID = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
#: The kinds whose records are checked: what comes in.
LIMITED_KINDS = frozenset((*SOURCE_KINDS, REGISTRY_KIND))


def check_limits(kind: str, record: Mapping[str, Any]) -> None:
    """Raise ValidationError, naming the field, for the first string over its limit or an id
    with a control or bidirectional character. Only input kinds are checked."""
    if kind not in LIMITED_KINDS:
        return
    for name, value in record.items():
        if type(value) is str:
            _check_string(name, value)
        elif type(value) is list:
            if len(value) > MAX_LIST_ITEMS:
                raise ValidationError(f"{len(value)} items; at most {MAX_LIST_ITEMS}", field=name)
            for item in value:
                if type(item) is str:
                    _check_string(name, item)


def _check_string(name: str, value: str) -> None:
    limit = TEXT_MAX.get(name)
    if limit is not None:
        if len(value) > limit:
            raise ValidationError(f"{len(value):,} characters; at most {limit:,} (free text is "
                                  "for people: put attachments elsewhere and link them)",
                                  field=name)
        if "\x00" in value:
            raise ValidationError("contains a NUL character; remove it", field=name)
        return
    if len(value) > MAX_ID_CHARS:
        raise ValidationError(f"{len(value):,} characters; ids and codes have at most "
                              f"{MAX_ID_CHARS}", field=name)
    bad = BAD_IN_ID.search(value)
    if bad is not None:
        raise ValidationError(
            f"contains U+{ord(bad.group()):04X} at position {bad.start()}: control, invisible "
            "and bidirectional-override characters are not allowed in ids", field=name)


#: A line still without a break after this many bytes ends the reading of its file: no JSON-lines
#: file has one (``hub produce /dev/zero`` took 16 GB in 15 s before lines were bounded).
RUNAWAY_LINE_BYTES = 64 * MAX_LINE_BYTES


def bounded_lines(handle: Any) -> Iterator[bytes | int]:
    """The lines of a binary file, each as bytes, or as its size (an int) when it is longer than
    MAX_LINE_BYTES: such a line is skipped in slices, never held whole. A line longer than
    RUNAWAY_LINE_BYTES is given as its size so far and ends the reading."""
    while True:
        line = handle.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            yield line
            continue
        size = len(line)
        while not line.endswith(b"\n"):
            line = handle.readline(MAX_LINE_BYTES)
            if not line:
                break
            size += len(line)
            if size > RUNAWAY_LINE_BYTES:
                yield size
                return
        yield size


def check_line_size(size: int) -> None:
    """A line (or message) of ``size`` bytes is too large: DecodeError before it is parsed."""
    if size > MAX_LINE_BYTES:
        raise DecodeError(f"the line is {size:,} bytes; a record has at most "
                          f"{MAX_LINE_BYTES:,} (the source topics' message limit)")


def check_depth(obj: Any) -> None:
    """Raise DecodeError when ``obj`` (parsed JSON) nests deeper than MAX_DEPTH."""
    stack = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DecodeError(f"JSON nested deeper than {MAX_DEPTH} levels; records are flat")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
