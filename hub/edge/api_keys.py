"""The gateway's callers: one API key each, stored as a scrypt hash, with what it may send.

The file is named by ``HUB_GATEWAY_KEYS`` (YAML)::

    keys:
      - name: xihu-hikvision-cameras      # who calls: shows in logs and in request["caller"]
        id: 3f9c2a7b1d04                  # the public part of the key (before the dot)
        role: SYSTEM                      # a RequesterRole (schemas/avro/RequesterRole.avsc)
        kinds: [perimeter_alarm, access_swipe]   # "*": every source kind
        vendors: [hikvision]                      # "*": every vendor route (interchange too)
        key: scrypt$16384$8$1$<salt>$<hash>      # `hub gateway --add-key` writes it

A key is ``<id>.<secret>``. The id finds the entry without trying every hash (scrypt costs tens of
milliseconds by design), the secret is checked against the entry's hash. A plain key in the file
is refused: whoever reads the file must not be able to send events.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hub.core.secret_hash import hash_secret, looks_hashed, verify_secret
from hub.core.yaml_keys import load_unique
from hub.model.errors import ConfigError

#: What ``kinds`` / ``vendors`` hold to allow everything.
ANY = "*"
#: The vendor name of ``POST /v1/events/{kind}`` (interchange JSON, no vendor mapping).
INTERCHANGE = "interchange"
#: The vendor routes a key can be allowed, plus the interchange route.
VENDORS = (INTERCHANGE, "hikvision", "dahua", "gat1400")


@dataclass(frozen=True)
class Caller:
    """Who sent a request, as the API key file says; set as ``request["caller"]`` for routes."""

    name: str
    role: str
    kinds: frozenset[str]
    vendors: frozenset[str]

    def may_send(self, kind: str) -> bool:
        """Whether the key may send events of ``kind`` (``*`` allows all)."""
        return ANY in self.kinds or kind in self.kinds

    def may_use(self, vendor: str) -> bool:
        """Whether the key may post to the ``vendor`` routes (``*`` allows all)."""
        return ANY in self.vendors or vendor in self.vendors


@dataclass(frozen=True)
class KeyEntry:
    """One line of the API key file: only a scrypt hash of the key is stored, looked up by the
    ``key_id`` prefix so each request costs one scrypt."""

    key_id: str
    key_hash: str  # scrypt$N$r$p$salt$hash of the whole key
    caller: Caller


class ApiKeys:
    """The loaded key file: ``check(key)`` -> the Caller, or None for an unknown or wrong key.

    Verified keys are remembered for the process's life (by their full text, in memory only), so a
    camera posting every second costs one scrypt, not one per request."""

    def __init__(self, entries: Iterable[KeyEntry]) -> None:
        self._by_id = {e.key_id: e for e in entries}
        self._verified: dict[str, Caller] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def cached(self, key: str) -> Caller | None:
        """The caller of a key already verified (cheap; safe on the event loop)."""
        return self._verified.get(key)

    def check(self, key: str) -> Caller | None:
        """Verify ``key`` (slow for an unverified key: run it off the event loop)."""
        known = self._verified.get(key)
        if known is not None:
            return known
        key_id, dot, _ = key.partition(".")
        entry = self._by_id.get(key_id) if dot else None
        if entry is None or not verify_secret(key, entry.key_hash):
            return None
        if len(self._verified) < 10_000:
            self._verified[key] = entry.caller
        return entry.caller


def load_keys(path: Path, roles: Collection[str], kinds: Collection[str]) -> ApiKeys:
    """Read the key file; ConfigError names the file, the entry and the field.

    ``roles``: the RequesterRole symbols; ``kinds``: the source kinds a key may name."""
    try:
        raw = load_unique(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: cannot read the gateway keys: not UTF-8 text; save it as "
                          "UTF-8") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the gateway keys: "
                          f"{getattr(exc, 'strerror', None) or exc}") from exc
    items = raw.get("keys") if isinstance(raw, Mapping) else None
    if not isinstance(items, list):
        raise ConfigError(f"{path}: field 'keys': expected a list of keys (name, id, role, "
                          "kinds, vendors, key); create one with `hub gateway --add-key NAME`")
    entries: list[KeyEntry] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"{path}: keys[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}: expected a mapping")
        entry = _entry(where, item, roles, kinds)
        if entry.key_id in seen:
            raise ConfigError(f"{where}: field 'id': {entry.key_id!r} appears twice")
        seen.add(entry.key_id)
        entries.append(entry)
    return ApiKeys(entries)


def _names(where: str, item: Mapping[str, Any], name: str, allowed: Collection[str]
           ) -> frozenset[str]:
    value = item.get(name)
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: field '{name}': expected a list, e.g. [{next(iter(allowed))}]"
                          f" or [\"{ANY}\"] for all")
    out = frozenset(str(v) for v in value)
    unknown = sorted(out - set(allowed) - {ANY})
    if unknown:
        raise ConfigError(f"{where}: field '{name}': {', '.join(unknown)} unknown; use "
                          f"{', '.join(allowed)} or {ANY}")
    return out


def _entry(where: str, item: Mapping[str, Any], roles: Collection[str],
           kinds: Collection[str]) -> KeyEntry:
    for name in ("name", "id", "role", "key"):
        if not item.get(name):
            raise ConfigError(f"{where}: field '{name}': missing")
    role = str(item["role"])
    if role not in roles:
        raise ConfigError(f"{where}: field 'role': {role!r} is not a RequesterRole; use one of "
                          f"{', '.join(roles)}")
    key_hash = str(item["key"])
    if not looks_hashed(key_hash):
        raise ConfigError(f"{where}: field 'key': not a scrypt hash; write it with "
                          "`hub gateway --add-key` (plain keys are refused)")
    key_id = str(item["id"])
    if "." in key_id:
        raise ConfigError(f"{where}: field 'id': must not contain '.'")
    caller = Caller(str(item["name"]), role, _names(where, item, "kinds", kinds),
                    _names(where, item, "vendors", VENDORS))
    return KeyEntry(key_id, key_hash, caller)


def add_key(path: Path, name: str, *, role: str, kinds: Collection[str],
            vendors: Collection[str], roles: Collection[str],
            known_kinds: Collection[str]) -> str:
    """Add a key for ``name`` to the key file (created if missing) and return the key, which is
    stored only as a hash: the caller must be given it now. Other entries are kept; an existing
    entry of the same name stays valid (rotate by adding, then deleting the old entry)."""
    raw: dict[str, Any] = {"keys": []}
    if path.exists():
        try:
            loaded = load_unique(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: cannot read the gateway keys: not UTF-8 text; save it "
                              "as UTF-8") from None
        except yaml.YAMLError as exc:
            # PyYAML's text spans lines (a marker under the bad column): one line here
            raise ConfigError(f"{path}: cannot read the gateway keys: "
                              f"{' '.join(str(exc).split())}") from None
        if isinstance(loaded, Mapping) and isinstance(loaded.get("keys"), list):
            raw = dict(loaded)
    key_id = secrets.token_hex(6)
    key = f"{key_id}.{secrets.token_urlsafe(32)}"
    entry = {"name": name, "id": key_id, "role": role, "kinds": sorted(kinds),
             "vendors": sorted(vendors), "key": hash_secret(key)}
    _entry(f"{path}: new key", entry, roles, known_kinds)
    raw["keys"] = [*raw["keys"], entry]
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    path.chmod(0o600)
    return key
