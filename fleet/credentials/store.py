"""The local credential store: one JSON file, mode 0600, in the user's config directory.

Several accounts per registry are allowed (one read-only token per site). Adding and
removing are locked read-modify-write cycles (`fleet.files.locked_update`), so parallel
`fleet login` runs all land. A store that others can read, or that is not the shape
fleet writes, is refused with a message naming the file, never used or half-read.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from fleet.errors import FleetError
from fleet.files import locked_update

STORE_ENV = "FLEET_CREDENTIALS"
FORMAT_VERSION = 1

# registry -> username -> {"secret": str, "stored": int}
Registries = dict[str, dict[str, dict[str, object]]]
T = TypeVar("T")


class InvalidSecret(FleetError, ValueError):
    """A secret (or user name) that cannot be stored: the message never contains it."""


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


def check_text(value: object, what: str) -> str:
    """`value` as a storable one-line text, or InvalidSecret (which never quotes it)."""
    if not isinstance(value, str) or not value:
        raise InvalidSecret(f"the {what} is empty or not text")
    if any(c in value for c in "\n\r\0"):
        raise InvalidSecret(f"the {what} contains a line break or a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidSecret(f"the {what} is not valid UTF-8 text") from None
    return value


def parse_store(text: str, path: Path) -> Registries:
    """The registries in a store file's text; FleetError naming `path` for anything that
    is not what fleet writes (a hand edit gone wrong must not become an internal error)."""

    def corrupt(why: str) -> FleetError:
        return FleetError(
            f"{path}: the credential store is corrupt ({why}); fix or remove it, then "
            "`fleet login` again"
        )

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise corrupt(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise corrupt("not a JSON object")
    if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise corrupt(f"unknown version {data.get('version')!r}")
    registries = data.get("registries", {})
    if not isinstance(registries, dict):
        raise corrupt('"registries" is not an object')
    for registry, accounts in registries.items():
        if not isinstance(accounts, dict):
            raise corrupt(f"the accounts of {registry!r} are not an object")
        for username, entry in accounts.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("secret"), str):
                raise corrupt(f"account {username!r} of {registry!r} has no text secret")
    return registries


def render_store(registries: Mapping[str, object]) -> str:
    return json.dumps({"version": FORMAT_VERSION, "registries": registries}, indent=2) + "\n"


def _check_private(path: Path, info: os.stat_result) -> None:
    if info.st_uid != os.geteuid():
        raise FleetError(
            f"{path} belongs to another user (uid {info.st_uid}); a credential store must be "
            f"your own: `chown {os.geteuid()} {path}` and `chmod 600 {path}`"
        )
    if info.st_mode & 0o077:
        raise FleetError(
            f"{path} can be read by other users (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"make it private with `chmod 600 {path}`, and consider its secrets exposed"
        )


class Store:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()

    def _read(self) -> str | None:
        """The file's text, checked private on the very file that was opened."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise FleetError(f"cannot read {self.path}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            _check_private(self.path, os.fstat(handle.fileno()))
            data = handle.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise FleetError(f"{self.path}: the credential store is not UTF-8 text") from None

    def _load(self) -> Registries:
        text = self._read()
        return {} if text is None else parse_store(text, self.path)

    def _change(self, change: Callable[[Registries], tuple[T, bool]]) -> T:
        """Run `change(registries) -> (result, changed)` under the store's lock and save."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            with locked_update(self.path) as update:
                registries = self._load()  # read again under the lock: another fleet wrote?
                result, changed = change(registries)
                if changed:
                    update.write(render_store(registries), mode=0o600)
        except OSError as exc:
            raise FleetError(
                f"cannot write {self.path}: {exc.strerror or exc}; it was left as it was"
            ) from None
        return result

    def add(self, credential: Credential) -> bool:
        """Store it; False when exactly this credential was already stored."""
        check_text(credential.registry, "registry name")
        check_text(credential.username, "user name")
        check_text(credential.secret, "secret")

        def add_to(registries: Registries) -> tuple[bool, bool]:
            accounts = registries.setdefault(credential.registry, {})
            current = accounts.get(credential.username)
            if current is not None and current.get("secret") == credential.secret:
                return False, False
            accounts[credential.username] = {
                "secret": credential.secret,
                "stored": int(time.time()),
            }
            return True, True

        return self._change(add_to)

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
        def remove_from(registries: Registries) -> tuple[int, bool]:
            accounts = registries.get(registry, {})
            names = [username] if username else list(accounts)
            removed = sum(1 for n in names if accounts.pop(n, None) is not None)
            if not accounts:
                registries.pop(registry, None)
            return removed, removed > 0

        return self._change(remove_from)
