"""One SSH connection per robot per run, with host keys checked the way OpenSSH does.

An unknown key is refused unless the user said `--accept-new`; a changed key is always
refused. Keys are checked under the robot's name and under the address reached, so a
robot found by mDNS keeps its identity when its address changes.
"""

from __future__ import annotations

import getpass
import os
import select
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from fleet.discovery.resolve import ResolveError, Resolver
from fleet.errors import Unreachable
from fleet.inventory.model import Host
from fleet.transport.known_hosts import KnownHosts, host_pattern


@dataclass(frozen=True)
class SSHOptions:
    known_hosts: Path = field(default_factory=lambda: Path("~/.ssh/known_hosts").expanduser())
    ssh_config: Path = field(default_factory=lambda: Path("~/.ssh/config").expanduser())
    accept_new: bool = False
    connect_timeout: float = 10.0
    keepalive: int = 15
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SSHTarget:
    """Where and as whom to connect, from the inventory first, then ~/.ssh/config."""

    name: str
    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...]


def ssh_target(host: Host, options: SSHOptions) -> SSHTarget:
    config: dict[str, object] = {}
    if options.ssh_config.exists():
        config = paramiko.SSHConfig.from_path(str(options.ssh_config)).lookup(host.name)
    keys = [host.key_file] if host.key_file else list(config.get("identityfile") or [])
    return SSHTarget(
        name=host.name,
        hostname=str(host.vars.get("ansible_host") or config.get("hostname") or host.name),
        port=int(host.port or config.get("port") or 22),
        user=str(host.user or config.get("user") or getpass.getuser()),
        key_files=tuple(os.path.expanduser(str(k)) for k in keys),
    )


class _TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
    """Called only when known_hosts has no key for the robot's name."""

    def __init__(self, known: KnownHosts, target: SSHTarget, address: str, accept_new: bool):
        self.known, self.target, self.address, self.accept_new = known, target, address, accept_new

    def missing_host_key(self, client, hostname, key):  # noqa: ANN001 - paramiko's signature
        if not self.accept_new:
            raise Unreachable(
                f"unknown host key ({key.get_name()} {_fingerprint(key)}); "
                "rerun with --accept-new to trust it on first use"
            )
        names = [self.target.name] + ([self.address] if self.address != self.target.name else [])
        self.known.add(names, self.target.port, key)


def _fingerprint(key: paramiko.PKey) -> str:
    return key.fingerprint if hasattr(key, "fingerprint") else key.get_base64()[:16]


def _changed_message(target: SSHTarget, where: str) -> str:
    return (
        f"host key for {where} has CHANGED; refusing to connect (if {target.name} was "
        f"re-flashed, run `fleet forget {target.name}` and connect again with --accept-new)"
    )


@dataclass
class CommandResult:
    exit_status: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode(errors="replace")


class Connection:
    """An open SSH connection to one robot, reused for everything a run does there."""

    def __init__(self, target: SSHTarget, address: str, client: paramiko.SSHClient) -> None:
        self.target = target
        self.address = address
        self.client = client

    @property
    def transport(self) -> paramiko.Transport:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise Unreachable(f"the SSH connection to {self.target.name} closed")
        return transport

    def run(self, command: str, stdin: bytes | None = None, timeout: float = 60) -> CommandResult:
        """Run a shell command; stdin (e.g. a secret) goes over the channel, never in argv."""
        channel = self.transport.open_session(timeout=timeout)
        try:
            channel.exec_command(command)
            if stdin is not None:
                channel.sendall(stdin)
            channel.shutdown_write()
            return _collect(channel, time.monotonic() + timeout, command)
        finally:
            channel.close()

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _collect(channel: paramiko.Channel, deadline: float, command: str) -> CommandResult:
    out, err = bytearray(), bytearray()
    while True:
        if channel.recv_ready():
            out += channel.recv(65536)
            continue
        if channel.recv_stderr_ready():
            err += channel.recv_stderr(65536)
            continue
        if (
            channel.exit_status_ready()
            and not channel.recv_ready()
            and not channel.recv_stderr_ready()
        ):
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"command did not finish in time: {command.split()[0]}")
        select.select([channel], [], [], min(remaining, 0.5))
    return CommandResult(channel.recv_exit_status(), bytes(out), bytes(err))


def connect(host: Host, options: SSHOptions, resolver: Resolver) -> Connection:
    target = ssh_target(host, options)
    try:
        address = resolver.resolve(target.hostname)
    except ResolveError as exc:
        raise Unreachable(str(exc)) from None
    try:
        sock = socket.create_connection((address, target.port), timeout=options.connect_timeout)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, TimeoutError | socket.timeout):
            reason = f"no answer within {options.connect_timeout:g} s"
        raise Unreachable(f"cannot connect to {address}:{target.port}: {reason}") from None

    known = KnownHosts(options.known_hosts)
    client = paramiko.SSHClient()
    # Keys recorded under the robot's name are checked by paramiko itself (a mismatch
    # raises BadHostKeyException); with none, the policy decides.
    for key in known.lookup(target.name, target.port).values():
        client.get_host_keys().add(host_pattern(target.name, target.port), key.get_name(), key)
    client.set_missing_host_key_policy(_TrustOnFirstUse(known, target, address, options.accept_new))
    try:
        client.connect(
            hostname=target.name,
            port=target.port,
            username=target.user,
            key_filename=list(target.key_files) or None,
            password=options.password,
            sock=sock,
            timeout=options.connect_timeout,
            banner_timeout=options.connect_timeout,
            auth_timeout=options.connect_timeout,
        )
    except Unreachable:
        client.close()
        raise
    except paramiko.BadHostKeyException:
        client.close()
        raise Unreachable(_changed_message(target, target.name)) from None
    except paramiko.AuthenticationException:
        client.close()
        raise Unreachable(
            f"authentication failed for {target.user}@{target.name} "
            "(is your key in the robot's authorized_keys? `fleet keys install` puts it there)"
        ) from None
    except (paramiko.SSHException, OSError, EOFError) as exc:
        client.close()
        if "No authentication methods available" in str(exc):
            raise Unreachable(
                f"no key or password to log in to {target.user}@{target.name} with: set "
                "ansible_ssh_private_key_file, an IdentityFile in ~/.ssh/config, or use --ask-pass"
            ) from None
        raise Unreachable(f"SSH to {target.name} failed: {exc}") from None
    _check_address_key(client, known, target, address)
    transport = client.get_transport()
    assert transport is not None
    transport.set_keepalive(options.keepalive)
    return Connection(target, address, client)


def _check_address_key(
    client: paramiko.SSHClient, known: KnownHosts, target: SSHTarget, address: str
) -> None:
    """A key recorded for the address must match too: that address may now be another robot."""
    if address == target.name:
        return
    transport = client.get_transport()
    key = transport.get_remote_server_key() if transport else None
    recorded = known.lookup(address, target.port).get(key.get_name()) if key else None
    if key is not None and recorded is not None and recorded != key:
        client.close()
        raise Unreachable(_changed_message(target, address))
