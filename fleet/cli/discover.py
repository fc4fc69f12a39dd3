"""`fleet discover`: find robots on the LAN over mDNS, print them, save them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from fleet.cli.terminal import current_terminal
from fleet.discovery.browse import Browser, interface_addresses
from fleet.discovery.records import Robot, filter_type, merge
from fleet.discovery.resolve import ResolveError, Resolver, system_resolves_local
from fleet.errors import ExitCode
from fleet.inventory.save import save_hosts
from fleet.report import printable

SHORT_SERVICE = {
    "_workstation._tcp.local.": "workstation",
    "_ssh._tcp.local.": "ssh",
    "_duckietown._tcp.local.": "duckietown",
}


def robots_table(robots: list[Robot]) -> Table:
    table = Table()
    for column in ("robot", "addresses", "services", "ssh", "type", "configuration", "state"):
        table.add_column(column, no_wrap=column == "robot")
    for robot in robots:
        row = robot.as_record()
        cells = (
            robot.hostname,
            " ".join(robot.addresses),
            ",".join(SHORT_SERVICE.get(s, s) for s in robot.services),
            str(robot.ssh_port or ""),
            str(row["type"] or ""),
            str(row["configuration"] or ""),
            str(row["state"] or ""),
        )
        # Text, never markup: the cells came from the LAN (checked, and still not markup).
        table.add_row(*(Text(printable(cell)) for cell in cells))
    return table


def inventory_vars(robot: Robot) -> dict[str, Any]:
    """Variables a saved host needs: an address only when this machine's own resolver
    cannot find NAME.local (no nss-mdns in nsswitch.conf), so `ansible -i` reaches it
    too; a port when SSH is not on 22."""
    found: dict[str, Any] = {}
    if not system_resolves_local():
        ipv4 = [a for a in robot.addresses if ":" not in a]
        if ipv4:
            found["ansible_host"] = ipv4[0]
    if robot.ssh_port and robot.ssh_port != 22:
        found["ansible_port"] = robot.ssh_port
    return found


def _browse_once(addresses: list[str], timeout: float, type_: str | None) -> list[Robot]:
    with Browser(addresses, one_shot=True) as browser:
        time.sleep(timeout)
        records = browser.records()
    return filter_type(merge(records), type_)


def _watch(addresses: list[str], type_: str | None, console: Console, as_json: bool) -> None:
    """A live table on a terminal; elsewhere one line per robot that comes or goes."""
    with Browser(addresses) as browser:
        if console.is_terminal and not as_json:
            with Live(robots_table([]), console=console, refresh_per_second=4) as live:
                try:
                    while True:
                        live.update(robots_table(filter_type(merge(browser.records()), type_)))
                        time.sleep(0.25)
                except KeyboardInterrupt:
                    return
        seen: dict[str, dict[str, Any]] = {}
        try:
            while True:
                now = {
                    r.hostname: r.as_record() for r in filter_type(merge(browser.records()), type_)
                }
                for line in watch_lines(seen, now, as_json):
                    current_terminal().echo(line)
                seen = now
                time.sleep(0.25)
        except KeyboardInterrupt:
            return


def watch_lines(
    before: dict[str, dict[str, Any]], now: dict[str, dict[str, Any]], as_json: bool
) -> list[str]:
    """What changed between two looks, one line per robot (pure)."""
    lines = []
    for name in sorted(now.keys() | before.keys()):
        if name in now and now[name] == before.get(name):
            continue
        event = "removed" if name not in now else "added" if name not in before else "changed"
        record = now.get(name, {"hostname": name})
        if as_json:
            lines.append(json.dumps({"event": event, **record}))
        else:
            sign = {"added": "+", "removed": "-", "changed": "~"}[event]
            lines.append(f"{sign} {name} {' '.join(record.get('addresses', []))}".rstrip())
    return lines


def _resolve_names(names: list[str], timeout: float, addresses: list[str], as_json: bool) -> int:
    resolver = Resolver(timeout=timeout, interfaces=addresses)
    code = 0
    try:
        for name in names:
            try:
                address = resolver.resolve(name)
            except ResolveError as exc:
                current_terminal().echo(f"{name}: {exc}", err=True)
                code = int(ExitCode.UNREACHABLE)
                continue
            if as_json:
                current_terminal().echo(json.dumps({"hostname": name, "addresses": [address]}))
            else:
                current_terminal().echo(f"{name}\t{address}")
    finally:
        resolver.close()
    return code


def discover(
    names: Annotated[
        list[str] | None, typer.Argument(help="Resolve just these NAME.local names.")
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.2, help="Seconds to listen.")] = 3.0,
    watch: Annotated[bool, typer.Option("--watch", help="Keep a live table until Ctrl-C.")] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON object per robot on stdout.")
    ] = False,
    interface: Annotated[
        str | None, typer.Option(help="Listen on this interface name or IP address only.")
    ] = None,
    type_: Annotated[
        str | None,
        typer.Option(
            "--type", help="Only robots of this Duckietown type (e.g. duckiebot), or ssh."
        ),
    ] = None,
    save: Annotated[
        Path | None, typer.Option(help="Merge the robots found into this inventory file.")
    ] = None,
    group: Annotated[
        str, typer.Option(help="Group that --save adds new robots to.")
    ] = "discovered",
) -> None:
    """Find robots on the local network over mDNS, one row per robot.

    Robots announce _workstation, _ssh or _duckietown services; with NAME.local names
    given, resolve those instead."""
    addresses = interface_addresses(interface)
    if names:
        raise typer.Exit(_resolve_names(names, timeout, addresses, json_output))
    console = current_terminal().console()
    if watch:
        _watch(addresses, type_, console, json_output)
        raise typer.Exit(0)
    robots = _browse_once(addresses, timeout, type_)
    if not robots:
        current_terminal().echo(
            f"no robots answered within {timeout:g} s on {', '.join(addresses) or 'no interface'}. "
            "Are they on this LAN and powered? Multicast (224.0.0.251, UDP 5353) may be blocked "
            "by the network or a firewall; pick the right network with --interface.",
            err=True,
        )
        raise typer.Exit(int(ExitCode.UNREACHABLE))
    if json_output:
        for robot in robots:
            current_terminal().echo(json.dumps(robot.as_record()))
    else:
        console.print(robots_table(robots))
    if save is not None:
        added = save_hosts(save, group, {r.hostname: inventory_vars(r) for r in robots})
        current_terminal().echo(
            f"{save}: added {len(added)} robots to group {group}"
            + (f" ({', '.join(added)})" if added else " (all were already there)"),
            err=True,
        )
