"""The local credential store: one JSON file, mode 0600, in the user's config directory.

Several accounts per registry are allowed (one read-only token per site).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from fleet.errors import FleetError
from fleet.files import write_file

STORE_ENV = "FLEET_CREDENTIALS"


@dataclass(frozen=True)
class Credential:
    registry: str  # config.json key
    username: str
    secret: str

    def __repr__(self) -> str:  # never show the secret, even in a traceback
        return f"Credential(registry={self.registry!r}, username={self.username!r})"


def default_path() -> Path:
    if os.environ.get(STORE_ENV):
        return Path(os.environ[STORE_ENV])
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "fleet" / "credentials.json"


class Store:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()

    def _load(self) -> dict[str, dict[str, dict[str, object]]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise FleetError(
                f"{self.path}: the credential store is not valid JSON ({exc})"
            ) from None
        return data.get("registries", {})

    def _save(self, registries: dict[str, dict[str, dict[str, object]]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        write_file(temporary, json.dumps({"version": 1, "registries": registries}, indent=2))
        os.replace(temporary, self.path)

    def add(self, credential: Credential) -> bool:
        """Store it; False when exactly this credential was already stored."""
        registries = self._load()
        accounts = registries.setdefault(credential.registry, {})
        current = accounts.get(credential.username)
        if current is not None and current.get("secret") == credential.secret:
            return False
        accounts[credential.username] = {"secret": credential.secret, "stored": int(time.time())}
        self._save(registries)
        return True

    def get(self, registry: str, username: str | None = None) -> Credential | None:
        accounts = self._load().get(registry, {})
        if username is None:
            if len(accounts) != 1:
                return None
            username = next(iter(accounts))
        entry = accounts.get(username)
        if entry is None:
            return None
        return Credential(registry, username, str(entry["secret"]))

    def usernames(self, registry: str) -> list[str]:
        return list(self._load().get(registry, {}))

    def all(self) -> list[Credential]:
        return [
            Credential(registry, user, str(entry["secret"]))
            for registry, accounts in self._load().items()
            for user, entry in accounts.items()
        ]

    def remove(self, registry: str, username: str | None = None) -> int:
        registries = self._load()
        accounts = registries.get(registry, {})
        names = [username] if username else list(accounts)
        removed = sum(1 for n in names if accounts.pop(n, None) is not None)
        if not accounts:
            registries.pop(registry, None)
        if removed:
            self._save(registries)
        return removed
