"""The user's known_hosts file: looking keys up, trusting a new robot, forgetting an old one.

Entries are appended and removed line by line, so comments, hashed entries and every other
host's lines stay exactly as they were.
"""

from __future__ import annotations

import threading
from pathlib import Path

import paramiko
from paramiko.hostkeys import HostKeyEntry

from fleet.names import validate_host, validate_port

_LOCK = threading.Lock()  # one run's robots trust their keys from several threads


def host_pattern(name: str, port: int) -> str:
    return name if port == 22 else f"[{name}]:{port}"


def _matches(field: str, candidates: set[str]) -> bool:
    for entry in field.split(","):
        if entry.startswith("|1|"):
            salt = entry.split("|")[2]
            if any(paramiko.HostKeys.hash_host(c, salt) == entry for c in candidates):
                return True
        elif entry in candidates:
            return True
    return False


class KnownHosts:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _lines(self) -> list[str]:
        try:
            return self.path.read_text().splitlines(keepends=True)
        except FileNotFoundError:
            return []

    def lookup(self, name: str, port: int) -> dict[str, paramiko.PKey]:
        """Key type -> key recorded for this host and port."""
        candidates = {host_pattern(name, port)}
        found: dict[str, paramiko.PKey] = {}
        for line in self._lines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if not _matches(line.split(None, 1)[0], candidates):
                continue
            try:
                entry = HostKeyEntry.from_line(line)
            except Exception:  # noqa: BLE001 - a line paramiko cannot read is not ours to judge
                continue
            if entry is not None and entry.key is not None:
                found[entry.key.get_name()] = entry.key
        return found

    def add(self, names: list[str], port: int, key: paramiko.PKey) -> None:
        for name in names:  # a comma or a newline would add a host pattern or a CA line
            validate_host(name)
        validate_port(port)
        patterns = ",".join(dict.fromkeys(host_pattern(n, port) for n in names))
        line = f"{patterns} {key.get_name()} {key.get_base64()}\n"
        with _LOCK:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            existing = self._lines()
            if existing and not existing[-1].endswith("\n"):
                line = "\n" + line
            with open(self.path, "a") as handle:
                handle.write(line)

    def forget(self, names: list[str], port: int = 22) -> int:
        """Remove every line naming any of `names` (on any port given); return how many."""
        candidates = {host_pattern(n, p) for n in names for p in {22, port}}
        with _LOCK:
            lines = self._lines()
            kept = [
                line
                for line in lines
                if not line.strip()
                or line.lstrip().startswith("#")
                or not _matches(line.split(None, 1)[0], candidates)
            ]
            if len(kept) != len(lines):
                self.path.write_text("".join(kept))
        return len(lines) - len(kept)
