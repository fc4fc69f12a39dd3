"""`fleet hosts`: which robots a pattern selects and, with --vars, every variable fleet
resolves for each (Ansible's precedence, group_vars/ and host_vars/ included). Reads the
inventory only: no network. Like `ansible --list-hosts` and `ansible-inventory --host`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

import typer

from fleet.cli import options as opt
from fleet.cli.terminal import current_terminal
from fleet.inventory.model import Host
from fleet.targets import select_targets
from fleet.variables import VARIABLES, is_secret

HIDDEN = "<hidden>"


def visible(values: Any, name: str = "") -> Any:
    """Variables as they may be shown: a secret's value (by its name, at any depth) is
    HIDDEN (pure)."""
    if name and is_secret(name):
        return HIDDEN
    if isinstance(values, Mapping):
        return {str(k): visible(v, str(k)) for k, v in values.items()}
    if isinstance(values, list):
        return [visible(v) for v in values]
    return values


def as_text(value: Any) -> str:
    """A value on one line, never a control character: plain when it is printable ASCII
    text, else JSON (quoted, escaped)."""
    if isinstance(value, str) and value.isascii() and value.isprintable() and value.strip():
        return value if value == value.strip() else json.dumps(value)
    return json.dumps(value, ensure_ascii=True, sort_keys=True, default=str)


def host_lines(host: Host, with_vars: bool) -> Iterator[str]:
    """One host as text: its name (and groups), then `name: value` lines (pure)."""
    groups = ", ".join(host.groups)
    yield f"{host.name}  ({groups})" if with_vars and groups else host.name
    if not with_vars:
        return
    shown = visible(host.vars)
    for name in sorted(shown):
        line = f"  {as_text(name)}: {as_text(shown[name])}"
        variable = VARIABLES.get(name)
        yield f"{line}  # {variable.meaning}" if variable else line


def host_record(host: Host, with_vars: bool) -> dict[str, Any]:
    record: dict[str, Any] = {"host": host.name, "groups": list(host.groups)}
    if with_vars:
        record["vars"] = visible(host.vars)
    return record


def hosts(
    inventory: opt.Inventory = None,
    limit: opt.Limit = None,
    hosts: opt.Hosts = None,
    with_vars: Annotated[
        bool, typer.Option("--vars", help="Show every variable fleet resolves for each robot.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON object per robot on stdout.")
    ] = False,
) -> None:
    """List the robots a pattern selects, in inventory order, without contacting them.

    With --vars, also what fleet resolves for each; secrets (passwords, tokens) are shown
    as <hidden>."""
    targets = select_targets(inventory, limit, hosts)
    for warning in targets.warnings:
        current_terminal().echo(f"warning: {warning}", err=True)
    for host in targets.hosts:
        if json_output:
            current_terminal().echo(
                json.dumps(host_record(host, with_vars), ensure_ascii=True, default=str)
            )
        else:
            for line in host_lines(host, with_vars):
                current_terminal().echo(line)
