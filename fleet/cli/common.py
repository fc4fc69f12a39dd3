"""The shape every robot-facing command shares: choose targets, open a session, run one
task per robot through the renderer, write the retry file, return the exit code."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from fleet.cli.render import Column, Renderer
from fleet.errors import FleetError
from fleet.inventory.model import Host
from fleet.report import default_retry_file, write_retry_file
from fleet.results import HostResult, RunReport, exit_code
from fleet.runner import TaskContext, run_tasks
from fleet.session import Session
from fleet.targets import select_targets
from fleet.transport.ssh import SSHOptions

PASSWORD_ENV = "FLEET_SSH_PASSWORD"


@dataclass(frozen=True)
class RunOptions:
    inventory: Path | None = None
    limit: str | None = None
    hosts: str | None = None
    forks: int = 10
    timeout: float = 120.0
    json: bool = False
    accept_new: bool = False
    ask_pass: bool = False
    known_hosts: Path | None = None
    retry_file: Path | None = None
    user: str | None = None


def ssh_options(options: RunOptions) -> SSHOptions:
    password = os.environ.get(PASSWORD_ENV)
    if options.ask_pass and password is None:
        password = getpass.getpass("SSH password: ")
    extra = {"known_hosts": options.known_hosts} if options.known_hosts else {}
    return SSHOptions(accept_new=options.accept_new, password=password, **extra)


def consoles() -> tuple[Console, Console]:
    # Off a terminal rich assumes 80 columns; a recap piped to a file should not wrap.
    width = None if sys.stdout.isatty() else 200
    return Console(width=width), Console(stderr=True)


def run_on_robots(
    options: RunOptions,
    task: Callable[[Session, Host, TaskContext], HostResult],
    columns: Sequence[Column] = (),
    summary: Callable[[RunReport], str] | None = None,
    warnings_for: Callable[[Sequence[Host]], Iterable[str]] = lambda hosts: (),
) -> int:
    """`warnings_for` names what the command finds worth a warning in the chosen hosts."""
    targets = select_targets(options.inventory, options.limit, options.hosts)
    out, err = consoles()
    hosts = targets.hosts
    if options.user:
        hosts = [Host(h.name, {**h.vars, "ansible_user": options.user}, h.groups) for h in hosts]
    for warning in [*targets.warnings, *warnings_for(hosts)]:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)
    by_name = {h.name: h for h in hosts}
    with Session(ssh_options(options)) as session:
        renderer = Renderer(out, err, json_mode=options.json, hosts=list(by_name))
        with renderer:
            report: RunReport = run_tasks(
                list(by_name),
                lambda name, ctx: task(session, by_name[name], ctx),
                forks=options.forks,
                timeout=options.timeout,
                on_event=renderer.on_event,
            )
    retry = write_retry_file(report, options.retry_file or default_retry_file())
    renderer.recap(report, retry, columns)
    if summary is not None:
        if options.json:
            renderer.emit({"event": "summary", "text": summary(report)})
        else:
            out.print(summary(report), highlight=False)
    return exit_code((r.status for r in report.results), report.interrupted)


def require(condition: bool, message: str) -> None:
    if not condition:
        raise FleetError(message)
