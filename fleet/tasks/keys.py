"""`fleet keys install`: put the user's public key into a robot's authorized_keys, once."""

from __future__ import annotations

from pathlib import Path

from fleet.errors import FleetError
from fleet.inventory.model import Host
from fleet.results import HostResult, Status
from fleet.session import Session
from fleet.transport.ssh import Unreachable

DEFAULT_KEYS = ("id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub")

# The key arrives on stdin; the script adds it only when that exact line is missing.
INSTALL_SCRIPT = (
    'umask 077; mkdir -p "$HOME/.ssh"; touch "$HOME/.ssh/authorized_keys"; '
    # A key cut short (fleet killed mid-send) has no newline: read fails, nothing is added.
    'IFS= read -r key || exit 3; [ -n "$key" ] || exit 3; '
    'if grep -qxF "$key" "$HOME/.ssh/authorized_keys"; then echo present; '
    'else printf "%s\\n" "$key" >> "$HOME/.ssh/authorized_keys" && echo added; fi'
)


def public_key(path: Path | None) -> str:
    candidates = [path] if path else [Path.home() / ".ssh" / name for name in DEFAULT_KEYS]
    for candidate in candidates:
        if candidate.exists():
            key = candidate.read_text().strip()
            if not key.startswith(("ssh-", "ecdsa-", "sk-")) or "\n" in key:
                raise FleetError(f"{candidate} does not hold one OpenSSH public key")
            return key
    looked = ", ".join(str(c) for c in candidates)
    raise FleetError(f"no public key found ({looked}); create one with ssh-keygen, or pass --key")


def install_key(session: Session, host: Host, key: str) -> HostResult:
    try:
        done = session.connection(host).run(INSTALL_SCRIPT, stdin=(key + "\n").encode())
    except (Unreachable, TimeoutError) as exc:
        return HostResult(host.name, Status.UNREACHABLE, str(exc))
    answer = done.text.strip()
    if done.exit_status != 0 or answer not in ("added", "present"):
        detail = done.stderr.decode(errors="replace").strip() or answer
        return HostResult(host.name, Status.FAILED, f"could not update authorized_keys: {detail}")
    if answer == "added":
        return HostResult(host.name, Status.CHANGED, "key added to ~/.ssh/authorized_keys")
    return HostResult(host.name, Status.OK, "key already in ~/.ssh/authorized_keys")
