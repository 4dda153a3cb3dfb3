"""Compiled field filters (``where:`` clauses of rules).

A clause maps field names to either a plain value (equals) or one operator mapping
(``in``, ``not_in``, ``eq``, ``ne``, ``gt``, ``gte``, ``lt``, ``lte``, ``exists``). Compiling once
into closures keeps per-event evaluation cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]
OPERATORS = ("in", "not_in", "eq", "ne", "gt", "gte", "lt", "lte", "exists")
#: Operators that take a number and hold only for a field that is a number.
COMPARISONS = ("gt", "gte", "lt", "lte")


def _missing(_fields: Mapping[str, Any]) -> bool:
    return True


def _one_value(name: str, op: str, value: Any) -> None:
    """A value an event field can equal: a list or mapping never does, a NaN never equals."""
    if isinstance(value, list | tuple | Mapping):
        raise ValueError(f"field {name!r}: {op} takes one value, got {value!r}; for any of "
                         "several write {in: [...]}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"field {name!r}: {op} takes a finite value, got {value!r}")


def _compile_one(name: str, spec: Any) -> Predicate:
    if not isinstance(spec, Mapping):
        value = spec
        _one_value(name, "a plain value", value)
        return lambda f: f.get(name) == value
    if len(spec) != 1:
        raise ValueError(f"field {name!r}: use exactly one operator of {', '.join(OPERATORS)}")
    ((op, arg),) = spec.items()
    if op not in OPERATORS:
        raise ValueError(
            f"field {name!r}: unknown operator {op!r}; use one of {', '.join(OPERATORS)}"
        )
    if op in ("in", "not_in"):
        if not isinstance(arg, list | tuple) or not arg:
            raise ValueError(f"field {name!r}: {op} takes a non-empty list")
        for value in arg:
            _one_value(name, f"each value of {op}", value)
        values = frozenset(arg)
        if op == "in":
            return lambda f: f.get(name) in values
        return lambda f: f.get(name) not in values
    if op in ("eq", "ne"):
        _one_value(name, op, arg)
    if op == "eq":
        return lambda f: f.get(name) == arg
    if op == "ne":
        return lambda f: f.get(name) != arg
    if op == "exists":
        if not isinstance(arg, bool):  # "no" is text, and any text was taken as true
            raise ValueError(f"field {name!r}: exists takes true or false (unquoted), got "
                             f"{arg!r}")
        want = arg
        return lambda f: (f.get(name) is not None) == want
    if not isinstance(arg, int | float) or isinstance(arg, bool) or not math.isfinite(arg):
        raise ValueError(f"field {name!r}: {op} takes a finite number, got {arg!r}")
    bound = arg

    def compare(f: Mapping[str, Any]) -> bool:
        v = f.get(name)
        if not isinstance(v, int | float) or isinstance(v, bool):
            return False
        if op == "gt":
            return v > bound
        if op == "gte":
            return v >= bound
        if op == "lt":
            return v < bound
        return v <= bound

    return compare


def clause_values(spec: Any) -> tuple[str, tuple[Any, ...]]:
    """The operator of one clause (``eq`` for a plain value) and the values it names.

    ``in``/``not_in`` name each value of their list, ``eq``/``ne`` and a plain value name one,
    a comparison names its bound and ``exists`` names none. For a clause that
    :func:`compile_where` accepted; rule loading uses it to check values against the contracts.
    """
    if not isinstance(spec, Mapping):
        return "eq", (spec,)
    ((op, arg),) = spec.items()
    if op in ("in", "not_in"):
        return str(op), tuple(arg)
    if op == "exists":
        return "exists", ()
    return str(op), (arg,)


def compile_where(where: Mapping[str, Any] | None) -> Predicate:
    """Turn a ``where:`` mapping into one predicate over an event's fields (all must hold)."""
    if not where:
        return lambda _f: True
    if not isinstance(where, Mapping):
        raise ValueError("where: must be a mapping of field -> value or {operator: value}")
    preds = [_compile_one(str(k), v) for k, v in where.items()]
    if len(preds) == 1:
        return preds[0]
    return lambda f: all(p(f) for p in preds)
