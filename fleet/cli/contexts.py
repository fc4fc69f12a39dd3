"""`fleet contexts export`: a Docker context per robot, so `docker --context NAME ...` works."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from fleet.cli import options as opt
from fleet.cli.common import RunOptions, chosen_hosts
from fleet.cli.terminal import current_terminal
from fleet.contexts import (
    MARK,
    Action,
    BadContextName,
    Kind,
    Wanted,
    context_name,
    plan,
    ssh_url,
    unseen_ssh_settings,
)
from fleet.errors import ExitCode, FleetError
from fleet.inventory.model import Host
from fleet.report import printable
from fleet.transport.docker_api import docker_host_url, is_unencrypted
from fleet.transport.docker_contexts import ContextError, carry_out, docker_cli, list_contexts
from fleet.transport.ssh import SSHOptions, ssh_target

app = typer.Typer(help="Docker contexts for robots, so the docker CLI reaches them by name.")

DONE = {Kind.CREATE: "created", Kind.UPDATE: "updated", Kind.KEEP: "ok", Kind.REMOVE: "removed"}
WOULD = {Kind.CREATE: "would create", Kind.UPDATE: "would update", Kind.REMOVE: "would remove"}


def endpoint(host: Host, options: SSHOptions) -> str:
    """The robot's daemon as docker's CLI should reach it: tcp:// as fleet_docker_host says,
    else ssh:// to where fleet's SSH layer connects (ansible_host or the name, so ssh finds
    the same ~/.ssh/config blocks), as that user, on that port."""
    if is_unencrypted(host):
        return docker_host_url(host)
    target = ssh_target(host, options)
    return ssh_url(target.user, target.destination, target.port)


def wanted_contexts(hosts: Sequence[Host], options: SSHOptions) -> tuple[list[Wanted], list[str]]:
    """A Wanted per robot, and a line for each robot that cannot have one."""
    wanted: list[Wanted] = []
    problems: list[str] = []
    for host in hosts:
        try:
            wanted.append(Wanted(host.name, context_name(host.name), endpoint(host, options)))
        except (BadContextName, FleetError) as exc:
            problems.append(f"{host.name}: {exc}")
    return wanted, problems


@app.command(
    "export", short_help="A Docker context per selected robot: `docker --context NAME ...`."
)
def export(
    inventory: opt.Inventory = None,
    limit: opt.Limit = None,
    hosts: opt.Hosts = None,
    user: opt.User = None,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help=f'Also remove the contexts fleet made (description "{MARK} ...") for robots '
            "not selected this time; contexts fleet did not make are never touched.",
        ),
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Say what would change; change nothing.")
    ] = False,
) -> None:
    """Write a Docker context per selected robot (`docker --context robot05 ps` afterwards),
    named after the robot in the inventory and marked "made by fleet" in its description.
    A second run changes nothing; a robot whose host, user or port changed gets its context
    updated. A context of the same name that fleet did not make is left alone (exit 2).
    docker's ssh uses ~/.ssh/config, not the inventory's key file or ssh arguments."""
    out, err = current_terminal().consoles()
    chosen = chosen_hosts(RunOptions(inventory=inventory, limit=limit, hosts=hosts, user=user), err)
    _warn_unseen(chosen, err)
    wanted, problems = wanted_contexts(chosen, SSHOptions())
    docker = docker_cli()
    actions = plan(wanted, list_contexts(docker), prune)
    failed = len(problems)
    for problem in problems:
        out.print(Text.assemble((f"{'failed':<13}", "red"), printable(problem)))
    for action in actions:
        failed += not _do(docker, action, check, out)
    raise typer.Exit(int(ExitCode.FAILED) if failed else 0)


def _do(docker: str, action: Action, check: bool, out: Console) -> bool:
    """Carry out one action and print a line for it; False when it failed or was refused."""
    if action.kind is Kind.REFUSE:
        _line(out, "refused", "red", action, action.reason)
        return False
    if check and action.kind in WOULD:
        _line(out, WOULD[action.kind], "yellow", action, action.reason)
        return True
    try:
        carry_out(docker, action)
    except ContextError as exc:
        _line(out, "failed", "red", action, str(exc))
        return False
    colour = "green" if action.kind is Kind.KEEP else "yellow"
    _line(out, DONE[action.kind], colour, action, action.reason)
    return True


def _line(out: Console, status: str, colour: str, action: Action, why: str) -> None:
    where = f"{action.name} -> {action.host}" if action.host else action.name
    said = f"  ({why})" if why else ""
    out.print(Text.assemble((f"{status:<13}", colour), printable(f"{where}{said}")))


def _warn_unseen(hosts: Sequence[Host], err: Console) -> None:
    by_setting: dict[str, list[str]] = {}
    for host in hosts:
        for setting in unseen_ssh_settings(host.vars):
            by_setting.setdefault(setting, []).append(host.name)
    for setting, names in by_setting.items():
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        err.print(
            Text.assemble(
                ("warning: ", "yellow"),
                printable(
                    f"{setting} ({shown}) is the inventory's: docker's own ssh does not read "
                    "it; give it in ~/.ssh/config for those hosts"
                ),
            )
        )
