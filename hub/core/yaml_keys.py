"""A YAML loader that refuses a key given twice in one mapping.

PyYAML keeps the last of two equal keys without a word: a rule with ``within: 30s`` and, lower
down, ``within: 5m`` ran with 5 minutes, and whoever fixed the first line saw no change. Every
file the hub reads as YAML (rules, topics, dispatch, analytics, MQTT, keys, accounts) is read
with this loader instead, so the second key is named.
"""

from __future__ import annotations

from typing import Any

import yaml


class DuplicateKeyError(yaml.YAMLError):
    """A mapping names a key twice; the message says which, and where."""


class NestedTooDeep(yaml.YAMLError):
    """A document nested deeper than Python's recursion allows (a hostile or broken file: the
    hub's files are a few levels deep); said in one line, not a RecursionError traceback."""


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that raises DuplicateKeyError on a repeated mapping key."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """As SafeLoader's, after checking that no key appears twice."""
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                first, again = seen[key].start_mark, key_node.start_mark
                raise DuplicateKeyError(
                    f"key {key!r} is given twice (line {first.line + 1} and line "
                    f"{again.line + 1}); YAML would keep only the last: remove one")
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def load_unique(text: str) -> Any:
    """``yaml.safe_load`` that refuses repeated keys (DuplicateKeyError)."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise NestedTooDeep("nested deeper than can be read; the hub's YAML files are a few "
                            "levels deep: check the file's indentation and brackets") from None
