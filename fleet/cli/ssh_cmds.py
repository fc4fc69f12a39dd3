"""`fleet forget NAME` and `fleet keys install`: managing SSH trust with robots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fleet.cli import options as opt
from fleet.cli.common import RunOptions, run_on_robots
from fleet.cli.terminal import current_terminal
from fleet.discovery.resolve import ResolveError, Resolver
from fleet.inventory import load
from fleet.inventory.model import Host
from fleet.tasks.keys import install_key, public_key
from fleet.transport.known_hosts import KnownHosts
from fleet.transport.ssh import SSHOptions, SSHTarget, ssh_target

keys_app = typer.Typer(help="Put your public key on robots that only take a password.")


def forget(
    names: Annotated[list[str], typer.Argument(help="Robot names, e.g. robot07.local.")],
    inventory: opt.Inventory = None,
    known_hosts: opt.KnownHostsFile = None,
) -> None:
    """Drop a re-flashed robot's old host keys from known_hosts.

    Under every name fleet checks them by (inventory name, ansible_host, HostName,
    HostKeyAlias, address, on the robot's port), so the next connection with
    --accept-new trusts its new key."""
    options = SSHOptions(known_hosts=known_hosts) if known_hosts else SSHOptions()
    found = load.load(inventory).inventory if inventory is not None else None
    resolver = Resolver(timeout=2)
    patterns: list[str] = []
    try:
        for name in names:
            host = found.host(name) if found and name in found.host_vars else Host(name, {})
            target = ssh_target(host, options)
            patterns.extend(target.forget_patterns(_address(target, resolver)))
    finally:
        resolver.close()
    patterns = list(dict.fromkeys(patterns))
    known = KnownHosts(options.known_hosts)
    removed = known.forget(patterns)
    current_terminal().echo(
        f"removed {removed} known_hosts entries for {', '.join(patterns)} from {known.path}"
    )


def _address(target: SSHTarget, resolver: Resolver) -> str | None:
    """The address a direct connection would reach (none through a hop or a proxy)."""
    if not target.direct:
        return None
    try:
        return resolver.resolve(target.hostname)
    except ResolveError:
        return None


@keys_app.command("install")
@opt.robot_command(timeout=60.0, ask_pass=True)
def keys_install(
    run: RunOptions,
    key: Annotated[
        Path | None, typer.Option("--key", help="Public key file (default: ~/.ssh/id_ed25519.pub).")
    ] = None,
) -> None:
    """Append your public key to each robot's ~/.ssh/authorized_keys, once.

    A second run changes nothing. Log in with --ask-pass or FLEET_SSH_PASSWORD the first
    time."""
    line = public_key(key)
    raise typer.Exit(run_on_robots(run, lambda s, host, ctx: install_key(s, host, line)))
