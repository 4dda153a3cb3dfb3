"""Which rules (and which of their steps) an event matches, with one dict lookup where possible.

Most rule steps filter one field against a value or a set (``result: {in: [DENIED, ...]}``). For
each event kind the most used such field becomes an index from value to (rule, step bits), so an
access swipe costs one lookup instead of one predicate call per step; other steps are still
evaluated one by one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from hub.core.rules import Matcher

R = TypeVar("R", bound=Hashable)
_HASHABLE = (str, int, float, bool, type(None))


def _indexable(matcher: Matcher) -> tuple[str, frozenset[Any]] | None:
    """(field, values) when the step's filter is exactly 'field equals / is in values'."""
    where = matcher.where
    if len(where) != 1:
        return None
    ((name, spec),) = where.items()
    if not isinstance(spec, Mapping):
        values: list[Any] = [spec]
    elif len(spec) == 1 and "eq" in spec:
        values = [spec["eq"]]
    elif len(spec) == 1 and "in" in spec and isinstance(spec["in"], list | tuple):
        values = list(spec["in"])
    else:
        return None
    if not all(isinstance(v, _HASHABLE) for v in values):
        return None
    return str(name), frozenset(values)


class KindDispatch(Generic[R]):
    """Step masks per rule for events of one kind."""

    def __init__(self, entries: Sequence[tuple[R, int, Matcher]]) -> None:
        specs = [_indexable(m) for _, _, m in entries]
        fields = Counter(spec[0] for spec in specs if spec is not None)
        self.field = fields.most_common(1)[0][0] if fields else None
        self.index: dict[Any, list[tuple[R, int]]] = {}
        self.generic: list[tuple[R, int, Matcher]] = []
        for owner, bit, matcher in entries:
            spec = _indexable(matcher)
            if spec is not None and spec[0] == self.field:
                for value in spec[1]:
                    self.index.setdefault(value, []).append((owner, bit))
            else:
                self.generic.append((owner, bit, matcher))
        self.owners: list[R] = list(dict.fromkeys(owner for owner, _, _ in entries))
        # With no generic step, an event's masks depend on its indexed value alone: merge them
        # once per value, so the per-event cost is a single dict lookup.
        self.merged: dict[Any, tuple[tuple[R, int], ...]] | None = None
        if not self.generic:
            merged: dict[Any, tuple[tuple[R, int], ...]] = {}
            for value, pairs in self.index.items():
                masks: dict[R, int] = {}
                for owner, bit in pairs:
                    masks[owner] = masks.get(owner, 0) | bit
                merged[value] = tuple(masks.items())
            self.merged = merged

    def pairs(self, fields: Mapping[str, Any]) -> tuple[tuple[R, int], ...] | list[tuple[R, int]]:
        """(owner, step mask) for every owner with a step the event matches."""
        merged = self.merged
        if merged is not None:
            try:
                return merged.get(fields.get(self.field), ())  # type: ignore[arg-type]
            except TypeError:  # an unhashable value (a list, a map) matches no indexed step
                return ()
        return list(self.masks(fields).items())

    def masks(self, fields: Mapping[str, Any]) -> dict[R, int]:
        """Owner -> step mask for the event's fields, evaluating every step (the slow path pairs()
        uses when the index was not merged); unhashable values match no indexed step."""
        out: dict[R, int] = {}
        if self.field is not None:
            value = fields.get(self.field)
            if isinstance(value, _HASHABLE):
                for owner, bit in self.index.get(value, ()):
                    out[owner] = out.get(owner, 0) | bit
        for owner, bit, matcher in self.generic:
            if matcher.pred(fields):
                out[owner] = out.get(owner, 0) | bit
        return out
