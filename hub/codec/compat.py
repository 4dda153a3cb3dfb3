"""Schema compatibility per the Avro resolution rules: can data written with one schema be read
with another?

:func:`read_problems` returns what would fail (empty list = compatible), in the spirit of Java's
``SchemaCompatibility``. :func:`full_problems` checks both directions, which is what the hub
requires of every released schema: old readers read new data, new readers read old data.
"""

from __future__ import annotations

from typing import Any

from hub.codec.schemas import PRIMITIVES, fullname

_PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}


class _Names:
    def __init__(self, root: Any) -> None:
        self.table: dict[str, dict[str, Any]] = {}
        self._collect(root, "hub")

    def _collect(self, node: Any, ns: str) -> None:
        if isinstance(node, list):
            for branch in node:
                self._collect(branch, ns)
        elif isinstance(node, dict):
            kind = node.get("type")
            if kind in ("record", "error", "enum", "fixed"):
                ns = node.get("namespace", ns)
                self.table[fullname(node["name"], ns)] = node
                for fld in node.get("fields", []):
                    self._collect(fld["type"], ns)
            elif kind == "array":
                self._collect(node["items"], ns)
            elif kind == "map":
                self._collect(node["values"], ns)
            elif isinstance(kind, (dict, list)):
                self._collect(kind, ns)

    def resolve(self, node: Any) -> Any:
        """Named references replaced by definitions; ``{"type": "long", ...}`` by ``"long"``."""
        if isinstance(node, str):
            if node in PRIMITIVES:
                return node
            return self.table.get(node) or self.table.get(fullname(node, "hub")) or node
        if isinstance(node, dict):
            kind = node.get("type")
            if kind in PRIMITIVES:
                return kind
            if isinstance(kind, (dict, list)) or (
                isinstance(kind, str)
                and kind not in ("record", "error", "enum", "fixed", "array", "map")
            ):
                return self.resolve(kind)
        return node


def _type_of(node: Any) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return "union"
    return str(node.get("type"))


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _names_match(w: dict[str, Any], r: dict[str, Any]) -> bool:
    aliases = {_short(a) for a in r.get("aliases", [])}
    return _short(w["name"]) == _short(r["name"]) or _short(w["name"]) in aliases


class _Checker:
    def __init__(self, writer: Any, reader: Any) -> None:
        self.w = _Names(writer)
        self.r = _Names(reader)
        self.seen: set[tuple[str, str]] = set()

    def matches(self, w: Any, r: Any) -> bool:
        """Whether a reader union branch is chosen for writer type ``w`` (spec: first match)."""
        wt, rt = _type_of(w), _type_of(r)
        if wt in ("record", "enum", "fixed") and wt == rt:
            return _names_match(w, r)
        if wt == rt:
            return True
        return rt in _PROMOTIONS.get(wt, frozenset())

    def check(self, writer: Any, reader: Any, path: str) -> list[str]:
        w, r = self.w.resolve(writer), self.r.resolve(reader)
        wt, rt = _type_of(w), _type_of(r)
        where = path or "(top level)"
        if wt == "union":
            problems = []
            for branch in w:
                problems += self.check(branch, reader, path)
            return problems
        if rt == "union":
            for branch in r:
                rb = self.r.resolve(branch)
                if self.matches(w, rb):
                    return self.check(w, rb, path)
            return [f"{where}: writer type {_describe(w)} matches no branch of the reader's union"]
        if wt != rt and rt not in _PROMOTIONS.get(wt, frozenset()):
            return [f"{where}: writer type {_describe(w)} cannot be read as {_describe(r)}"]
        if wt == "record":
            return self.record(w, r, path)
        if wt == "enum":
            if not _names_match(w, r):
                return [f"{where}: enum {w['name']} cannot be read as {r['name']}"]
            missing = [s for s in w["symbols"] if s not in r["symbols"]]
            if missing and "default" not in r:
                return [
                    f"{where}: writer symbols {', '.join(missing)} are unknown to the reader's "
                    f"enum {r['name']}, which has no default"
                ]
            return []
        if wt == "array":
            return self.check(w["items"], r["items"], f"{path}[]")
        if wt == "map":
            return self.check(w["values"], r["values"], f"{path}{{}}")
        if wt == "fixed" and (not _names_match(w, r) or w.get("size") != r.get("size")):
            return [f"{where}: fixed {w['name']} cannot be read as {r['name']}"]
        return []

    def record(self, w: dict[str, Any], r: dict[str, Any], path: str) -> list[str]:
        where = path or "(top level)"
        if not _names_match(w, r):
            return [f"{where}: record {w['name']} cannot be read as {r['name']}"]
        key = (str(w["name"]), str(r["name"]))
        if key in self.seen:  # recursive types: checked once
            return []
        self.seen.add(key)
        wfields = {f["name"]: f for f in w["fields"]}
        problems = []
        for rf in r["fields"]:
            names = [rf["name"], *rf.get("aliases", [])]
            wf = next((wfields[n] for n in names if n in wfields), None)
            fpath = f"{path}.{rf['name']}" if path else rf["name"]
            if wf is None:
                if "default" not in rf:
                    problems.append(
                        f"{fpath}: the reader needs this field, the writer does not have it, and "
                        "it has no default"
                    )
                continue
            problems += self.check(wf["type"], rf["type"], fpath)
        return problems


def _describe(node: Any) -> str:
    if isinstance(node, dict) and "name" in node:
        return f"{node.get('type')} {node['name']}"
    return _type_of(node)


def read_problems(writer: Any, reader: Any) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader`` (empty: it can)."""
    return _Checker(writer, reader).check(writer, reader, "")


def full_problems(old: Any, new: Any) -> list[str]:
    """Problems in either direction between a released schema and its successor."""
    return [f"new reader, old data: {p}" for p in read_problems(old, new)] + [
        f"old reader, new data: {p}" for p in read_problems(new, old)
    ]
