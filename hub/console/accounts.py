"""Console accounts: one per department (综治中心 or grid), passwords stored as scrypt hashes.

The file is named by ``HUB_CONSOLE_ACCOUNTS`` (YAML)::

    accounts:
      - user: xihu-district
        name: 西湖区综治中心
        level: DISTRICT          # GRID, TOWNSHIP, DISTRICT or CITY
        code: "330106"           # the unit's code at that level (building registry)
        password: scrypt$16384$8$1$<salt>$<hash>   # `hub console add-account` writes it

A plain password in the file is refused: whoever reads the file must not be able to sign in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hub.core.secret_hash import hash_secret, looks_hashed
from hub.core.yaml_keys import load_unique
from hub.model.cases import Department
from hub.model.errors import ConfigError
from hub.model.incidents import ROUTE_LEVELS


@dataclass(frozen=True)
class Account:
    """One console operator: the department fixes which incidents and areas they may see and act on;
    ``password`` is only ever the scrypt string of hub.core.secret_hash.hash_secret."""

    user: str
    name: str
    department: Department
    password: str  # scrypt$N$r$p$salt$hash


def load_accounts(path: Path) -> dict[str, Account]:
    """Read the accounts file; ConfigError names the file, the entry and the field."""
    try:
        raw = load_unique(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the console accounts: "
                          f"{getattr(exc, 'strerror', None) or exc}") from exc
    items = raw.get("accounts") if isinstance(raw, Mapping) else None
    if not isinstance(items, list):
        raise ConfigError(f"{path}: field 'accounts': expected a list of accounts "
                          "(user, name, level, code, password)")
    out: dict[str, Account] = {}
    for i, item in enumerate(items):
        where = f"{path}: accounts[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}: expected a mapping")
        account = _account(where, item)
        if account.user in out:
            raise ConfigError(f"{where}: field 'user': {account.user!r} appears twice")
        out[account.user] = account
    return out


def _account(where: str, item: Mapping[str, Any]) -> Account:
    for name in ("user", "level", "code", "password"):
        if not item.get(name):
            raise ConfigError(f"{where}: field '{name}': missing")
    level = str(item["level"])
    if level not in ROUTE_LEVELS:
        raise ConfigError(f"{where}: field 'level': {level!r} is not a level; use one of "
                          f"{', '.join(ROUTE_LEVELS)}")
    password = str(item["password"])
    if not looks_hashed(password):
        raise ConfigError(f"{where}: field 'password': not a scrypt hash; write it with "
                          "`hub console add-account` (plain passwords are refused)")
    return Account(str(item["user"]), str(item.get("name") or item["user"]),
                   Department(level, str(item["code"])), password)


def add_account(path: Path, user: str, name: str, level: str, code: str, password: str) -> None:
    """Add or replace ``user`` in the accounts file (created if missing)."""
    raw: dict[str, Any] = {"accounts": []}
    if path.exists():
        loaded = load_unique(path.read_text(encoding="utf-8")) or {}
        if isinstance(loaded, Mapping) and isinstance(loaded.get("accounts"), list):
            raw = dict(loaded)
    entry = {"user": user, "name": name, "level": level, "code": code,
             "password": hash_secret(password)}
    _account(f"{path}: new account", entry)
    raw["accounts"] = [a for a in raw["accounts"] if a.get("user") != user] + [entry]
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
