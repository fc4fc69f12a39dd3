"""`fleet forget NAME` and `fleet keys install`: managing SSH trust with robots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fleet.cli import options as opt
from fleet.cli.common import RunOptions, run_on_robots
from fleet.discovery.resolve import ResolveError, Resolver
from fleet.inventory import load
from fleet.tasks.keys import install_key, public_key
from fleet.transport.known_hosts import KnownHosts
from fleet.transport.ssh import SSHOptions

keys_app = typer.Typer(help="Put your public key on robots that only take a password.")


def forget(
    names: Annotated[list[str], typer.Argument(help="Robot names, e.g. robot07.local.")],
    inventory: opt.Inventory = None,
    known_hosts: opt.KnownHostsFile = None,
) -> None:
    """Drop a re-flashed robot's old host keys from known_hosts, by name and by address,
    so the next connection with --accept-new trusts its new key."""
    known = KnownHosts(known_hosts or SSHOptions().known_hosts)
    aliases: list[str] = []
    addresses: dict[str, str] = {}
    if inventory is not None:
        found = load.load(inventory).inventory
        addresses = {n: found.host(n).address for n in names if n in found.host_vars}
    resolver = Resolver(timeout=2)
    try:
        for name in names:
            aliases.append(name)
            address = addresses.get(name)
            if address is None:
                try:
                    address = resolver.resolve(name)
                except ResolveError:
                    address = None
            if address and address != name:
                aliases.append(address)
    finally:
        resolver.close()
    removed = known.forget(aliases)
    typer.echo(f"removed {removed} known_hosts entries for {', '.join(aliases)} from {known.path}")


@keys_app.command("install")
@opt.robot_command(timeout=60.0, ask_pass=True)
def keys_install(
    run: RunOptions,
    key: Annotated[
        Path | None, typer.Option("--key", help="Public key file (default: ~/.ssh/id_ed25519.pub).")
    ] = None,
) -> None:
    """Append your public key to each robot's ~/.ssh/authorized_keys (once: a second run
    changes nothing). Log in with --ask-pass or FLEET_SSH_PASSWORD the first time."""
    line = public_key(key)
    raise typer.Exit(run_on_robots(run, lambda s, host, ctx: install_key(s, host, line)))
