"""Putting registry credentials on robots, taking them off, and seeing who holds what.

Deciding (which account, what the new config.json says) is pure; the robot is read and
written over the run's SSH connection, with every secret on stdin, never in a command.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fleet.credentials import dockerconfig
from fleet.credentials.names import BadRegistry, config_key, display_name, fingerprint
from fleet.credentials.store import Credential, Store
from fleet.inventory.model import Host
from fleet.results import HostResult, Status
from fleet.session import Session
from fleet.transport.ssh import Connection, Unreachable

_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")


def account_for(host_vars: Mapping[str, Any], registry: str, default: str | None) -> str | None:
    """The stored account this robot gets for `registry`: `fleet_registry_accounts` in
    the inventory (registry names in any spelling), else the default."""
    mapping = host_vars.get("fleet_registry_accounts") or {}
    if isinstance(mapping, Mapping):
        for name, username in mapping.items():
            try:
                if config_key(str(name)) == registry:
                    return str(username)
            except BadRegistry:
                continue
    return default


@dataclass(frozen=True)
class RobotConfig:
    path: str
    text: str | None  # None: there is no config.json yet


def _home_expr(docker_user: str | None) -> str:
    if docker_user is None:
        return '"$HOME"'
    if not _USER.match(docker_user):
        raise ValueError(f"--docker-user {docker_user!r} is not a user name")
    return f'"$(getent passwd {docker_user} | cut -d: -f6)"'


def read_config(conn: Connection, docker_user: str | None) -> RobotConfig:
    script = (
        f"home={_home_expr(docker_user)}; "
        '[ -n "$home" ] || { echo "no such user" >&2; exit 3; }; '
        'cfg="$home/.docker/config.json"; printf "%s\\n" "$cfg"; '
        'if [ -e "$cfg" ]; then echo present; cat "$cfg"; else echo missing; fi'
    )
    done = conn.run(script)
    if done.exit_status != 0:
        raise RemoteError(f"cannot read the Docker config: {done.stderr.decode().strip()}")
    path, state, *rest = done.text.split("\n", 2) + [""]
    return RobotConfig(path, rest[0] if state == "present" else None)


class RemoteError(Exception):
    pass


def write_config(
    conn: Connection, path: str, text: str, docker_user: str | None, backup: bool
) -> None:
    """Replace config.json atomically: a temporary file beside it (mode 0600, directory
    0700, the right owner) renamed over it. Killed at any moment, the robot keeps the old
    file or the new one, never half of one.

    The content comes on stdin; if fleet dies while sending it, the robot's `cat` sees an
    early end of file, so the script renames only a file of exactly the expected size."""
    data = text.encode()
    owner = (
        f'chown "$(id -u {docker_user}):$(id -g {docker_user})" "$tmp" "$dir"; '
        if docker_user
        else ""
    )
    keep = f'cp -p "$cfg" "$cfg.fleet-backup-{int(time.time())}"; ' if backup else ""
    script = (
        f'set -e; umask 077; cfg={shlex.quote(path)}; dir=$(dirname "$cfg"); '
        'mkdir -p "$dir"; chmod 700 "$dir"; '
        'rm -f "$dir"/.config.json.fleet-*; '  # what an interrupted run left
        f"{keep}"
        'tmp=$(mktemp "$dir/.config.json.fleet-XXXXXX"); cat > "$tmp"; '
        f'if [ "$(wc -c < "$tmp")" -ne {len(data)} ]; then rm -f "$tmp"; '
        'echo "the new config arrived incomplete; nothing changed" >&2; exit 1; fi; '
        f"{owner}"
        'sync "$tmp" 2>/dev/null || true; mv -f "$tmp" "$cfg"'
    )
    done = conn.run(script, stdin=data)
    if done.exit_status != 0:
        raise RemoteError(f"cannot write {path}: {done.stderr.decode().strip()}")


def _as_user(docker_user: str | None, command: str) -> str:
    return f"runuser -u {docker_user} -- {command}" if docker_user else command


def helper_get(
    conn: Connection, helper: str, registry: str, docker_user: str | None
) -> tuple[str, str] | None:
    done = conn.run(
        _as_user(docker_user, f"docker-credential-{shlex.quote(helper)} get"),
        stdin=registry.encode(),
    )
    if done.exit_status != 0:
        return None
    try:
        data = json.loads(done.stdout)
    except ValueError:
        return None
    return str(data.get("Username", "")), str(data.get("Secret", ""))


def helper_call(
    conn: Connection, helper: str, action: str, payload: bytes, docker_user: str | None
) -> None:
    done = conn.run(
        _as_user(docker_user, f"docker-credential-{shlex.quote(helper)} {action}"), stdin=payload
    )
    if done.exit_status != 0:
        detail = (done.stdout or done.stderr).decode(errors="replace").strip()[:200]
        raise RemoteError(f"credential helper {helper} failed to {action}: {detail}")


def _on_robot(host: Host, work: Callable[[], HostResult]) -> HostResult:
    """One robot's work, with its failures turned into its result."""
    try:
        return work()
    except (Unreachable, TimeoutError) as exc:
        return HostResult(host.name, Status.UNREACHABLE, str(exc))
    except (RemoteError, ValueError) as exc:
        return HostResult(host.name, Status.FAILED, str(exc))


def _parsed(current: RobotConfig) -> dict[str, Any]:
    try:
        return dockerconfig.parse(current.text or "")
    except dockerconfig.CorruptConfig as exc:
        raise RemoteError(f"{current.path} is {exc}") from None


def push_credential(
    session: Session,
    host: Host,
    credential: Credential,
    *,
    docker_user: str | None = None,
    force: bool = False,
) -> HostResult:
    def work() -> HostResult:
        name = host.name
        conn = session.connection(host)
        current = read_config(conn, docker_user)
        try:
            config = _parsed(current)
        except RemoteError as exc:
            if not force:
                raise RemoteError(
                    f"{exc}; fix it, or rerun with --force (which keeps a backup)"
                ) from None
            edit = dockerconfig.set_auth(
                "", credential.registry, credential.username, credential.secret
            )
            write_config(conn, current.path, edit.text, docker_user, backup=True)
            return HostResult(
                name, Status.CHANGED, f"replaced the corrupt {current.path} (backup kept)"
            )
        helper = dockerconfig.helper_for(config, credential.registry)
        if helper:
            held = helper_get(conn, helper, credential.registry, docker_user)
            if held == (credential.username, credential.secret):
                return HostResult(
                    name, Status.OK, f"{credential.username} already in helper {helper}"
                )
            payload = {
                "ServerURL": credential.registry,
                "Username": credential.username,
                "Secret": credential.secret,
            }
            helper_call(conn, helper, "store", json.dumps(payload).encode(), docker_user)
            return HostResult(
                name, Status.CHANGED, f"stored {credential.username} in helper {helper}"
            )
        edit = dockerconfig.set_auth(
            current.text or "", credential.registry, credential.username, credential.secret
        )
        if not edit.changed:
            return HostResult(
                name, Status.OK, f"{current.path} already holds {credential.username}"
            )
        write_config(conn, current.path, edit.text, docker_user, backup=False)
        return HostResult(name, Status.CHANGED, f"wrote {credential.username} to {current.path}")

    return _on_robot(host, work)


def remove_credential(
    session: Session, host: Host, registry: str, *, docker_user: str | None = None
) -> HostResult:
    def work() -> HostResult:
        name = host.name
        conn = session.connection(host)
        current = read_config(conn, docker_user)
        helper = dockerconfig.helper_for(_parsed(current), registry)
        if helper:
            if helper_get(conn, helper, registry, docker_user) is None:
                return HostResult(name, Status.OK, f"helper {helper} holds nothing for it")
            helper_call(conn, helper, "erase", registry.encode(), docker_user)
            return HostResult(name, Status.CHANGED, f"erased from helper {helper}")
        edit = dockerconfig.remove_auth(current.text or "", registry)
        if not edit.changed:
            return HostResult(name, Status.OK, "not logged in there")
        write_config(conn, current.path, edit.text, docker_user, backup=False)
        return HostResult(name, Status.CHANGED, f"removed from {current.path}")

    return _on_robot(host, work)


def audit_robot(session: Session, host: Host, *, docker_user: str | None = None) -> HostResult:
    """Which registries a robot holds, as whom, with each secret's fingerprint."""

    def work() -> HostResult:
        conn = session.connection(host)
        config = _parsed(read_config(conn, docker_user))
        held = [
            {
                "registry": display_name(reg),
                "username": user,
                "fingerprint": fingerprint(secret) if secret is not None else None,
                "via": "auths",
            }
            for reg, user, secret in dockerconfig.held_accounts(config)
        ]
        helpers = set(filter(None, [config.get("credsStore")])) | set(
            (config.get("credHelpers") or {}).values()
        )
        for helper in sorted(helpers):
            listed = conn.run(
                _as_user(docker_user, f"docker-credential-{shlex.quote(helper)} list")
            )
            try:
                registries = json.loads(listed.stdout or b"{}")
            except ValueError:
                registries = {}
            for reg in registries:
                got = helper_get(conn, helper, reg, docker_user)
                if got:
                    held.append(
                        {
                            "registry": display_name(reg),
                            "username": got[0],
                            "fingerprint": fingerprint(got[1]),
                            "via": helper,
                        }
                    )
        summary = ", ".join(f"{h['registry']}={h['username']}" for h in held) or "no credentials"
        return HostResult(host.name, Status.OK, summary, {"credentials": held})

    return _on_robot(host, work)


def credential_for_host(
    store: Store, host: Host, registry: str, default: str | None
) -> Credential | str:
    """The stored credential this robot gets, or the message that says how to add it."""
    username = account_for(host.vars, registry, default)
    credential = store.get(registry, username)
    if credential is None:
        shown = display_name(registry)
        who = username or "USER"
        return f"no stored account for {shown}; run: fleet login {shown} --username {who}"
    return credential
