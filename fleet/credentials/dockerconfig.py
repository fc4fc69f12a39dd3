"""Docker client config.json: reading and changing one registry's entry (pure).

Every other key stays: other registries, `proxies`, `credHelpers`, keys we do not know.
The file keeps its indentation; Docker itself writes tabs.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any


class CorruptConfig(ValueError):
    pass


def parse(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: [[[[... too deep
        raise CorruptConfig(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CorruptConfig("not a JSON object")
    if not isinstance(data.get("auths", {}), dict):
        raise CorruptConfig('"auths" is not an object')
    return data


def _indent(text: str) -> str | int:
    match = re.search(r"\n([ \t]+)\S", text)
    return match.group(1) if match else "\t"


def dump(data: dict[str, Any], like: str = "") -> str:
    indent = _indent(like) if like.strip() else "\t"
    return json.dumps(data, indent=indent) + "\n"


def encode_auth(username: str, secret: str) -> str:
    return base64.b64encode(f"{username}:{secret}".encode()).decode()


def decode_auth(entry: Any) -> tuple[str, str] | None:
    if not isinstance(entry, dict):
        return None
    if entry.get("auth"):
        try:
            user, _, secret = base64.b64decode(entry["auth"]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):  # "auth": 5
            return None
        return user, secret
    if entry.get("username") and entry.get("password"):
        return str(entry["username"]), str(entry["password"])
    return None


@dataclass(frozen=True)
class Edit:
    text: str
    changed: bool


def set_auth(text: str, registry: str, username: str, secret: str) -> Edit:
    """config.json with `registry` logged in as `username`; unchanged when it already was."""
    config = parse(text)
    current = decode_auth((config.get("auths") or {}).get(registry))
    if current == (username, secret):
        return Edit(text, False)
    auths = config.setdefault("auths", {})
    existing = auths.get(registry)
    entry = dict(existing) if isinstance(existing, dict) else {}  # a hand-edited "x": 1
    entry.pop("username", None)
    entry.pop("password", None)
    entry["auth"] = encode_auth(username, secret)
    auths[registry] = entry
    return Edit(dump(config, text), True)


def remove_auth(text: str, registry: str) -> Edit:
    config = parse(text)
    auths = config.get("auths") or {}
    if registry not in auths:
        return Edit(text, False)
    del auths[registry]
    return Edit(dump(config, text), True)


def held_accounts(config: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(registry, username, secret or None when unreadable) for every auths entry."""
    found: list[tuple[str, str, str | None]] = []
    for registry, entry in (config.get("auths") or {}).items():
        decoded = decode_auth(entry)
        if decoded:
            found.append((registry, decoded[0], decoded[1]))
        elif isinstance(entry, dict) and entry:
            found.append((registry, "?", None))
    return found
