"""API key file: hashed keys only, permissions, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.edge.api_keys import add_key, load_keys
from hub.model.errors import ConfigError
from hub.model.events import SOURCE_KINDS
from tests.unit.edge.support import ROLES


def test_a_key_is_shown_once_and_stored_only_as_a_hash(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    key = add_key(path, "north-gate", role="PROPERTY", kinds=["perimeter_alarm"],
                  vendors=["hikvision"], roles=ROLES, known_kinds=SOURCE_KINDS)
    text = path.read_text(encoding="utf-8")
    assert key.split(".")[1] not in text and "scrypt$" in text
    keys = load_keys(path, ROLES, SOURCE_KINDS)
    caller = keys.check(key)
    assert caller is not None and caller.name == "north-gate" and caller.role == "PROPERTY"
    assert caller.may_send("perimeter_alarm") and not caller.may_send("face_match")
    assert caller.may_use("hikvision") and not caller.may_use("dahua")
    assert keys.cached(key) == caller
    assert keys.check(key + "x") is None and keys.check("unknown.key") is None


@pytest.mark.parametrize(("entry", "message"), [
    ("{name: a, id: x, role: SYSTEM, kinds: ['*'], vendors: ['*'], key: plain}",
     "field 'key': not a scrypt hash"),
    ("{name: a, id: x, role: KING, kinds: ['*'], vendors: ['*'], key: 's$1$2$3$4$5'}",
     "field 'role'"),
    ("{name: a, id: x, role: SYSTEM, kinds: [fire], vendors: ['*'], "
     "key: 'scrypt$1$2$3$4$5'}", "field 'kinds': fire unknown"),
    ("{name: a, id: x, role: SYSTEM, kinds: ['*'], vendors: [acme], "
     "key: 'scrypt$1$2$3$4$5'}", "field 'vendors': acme unknown"),
    ("{id: x, role: SYSTEM, kinds: ['*'], vendors: ['*'], key: 'scrypt$1$2$3$4$5'}",
     "field 'name': missing"),
])
def test_bad_entries_name_the_field(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(f"keys:\n  - {entry}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_keys(path, ROLES, SOURCE_KINDS)
    assert "keys[0]" in str(info.value)
