"""Console accounts: scrypt hashes only, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.console.accounts import add_account, load_accounts
from hub.core.secret_hash import verify_secret
from hub.model.errors import ConfigError


def test_added_accounts_load_with_their_department(tmp_path: Path) -> None:
    path = tmp_path / "accounts.yaml"
    add_account(path, "xihu", "西湖区综治中心", "DISTRICT", "330106", "pw-123456")
    add_account(path, "t1", "t1", "TOWNSHIP", "330106001", "pw-abcdef")
    add_account(path, "xihu", "西湖区综治中心", "DISTRICT", "330106", "pw-new-one")  # replaced
    accounts = load_accounts(path)
    assert sorted(accounts) == ["t1", "xihu"]
    assert (accounts["xihu"].department.level, accounts["xihu"].department.code) == (
        "DISTRICT", "330106")
    assert verify_secret("pw-new-one", accounts["xihu"].password)
    assert "pw-" not in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("entry", "message"), [
    ({"user": "a", "level": "DISTRICT", "code": "1", "password": "plain"}, "not a scrypt hash"),
    ({"user": "a", "level": "PROVINCE", "code": "1", "password": "x"}, "not a level"),
    ({"user": "a", "level": "DISTRICT", "password": "x"}, "field 'code': missing"),
])
def test_bad_entries_name_the_field(tmp_path: Path, entry: dict[str, str], message: str) -> None:
    path = tmp_path / "accounts.yaml"
    import yaml
    path.write_text(yaml.safe_dump({"accounts": [entry]}), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_accounts(path)
