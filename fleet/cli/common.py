"""The shape every robot-facing command shares: choose targets, open a session, run one
task per robot through the renderer, write the retry file, return the exit code."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from fleet.become import BECOME_PASSWORD_ENV, BadBecome, become_for, password_problem
from fleet.cli.render import Column, Renderer
from fleet.cli.terminal import current_terminal
from fleet.errors import FleetError
from fleet.inventory.model import Host
from fleet.report import default_retry_file, printable, write_retry_file
from fleet.results import HostResult, RunReport, exit_code
from fleet.runner import Serial, TaskContext, batches, run_batches
from fleet.session import Session
from fleet.targets import select_targets
from fleet.tasks.converge import Converge, converge
from fleet.tasks.desired import BadDesired, DesiredState
from fleet.tasks.gather import Robot
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
    ask_become_pass: bool = False
    known_hosts: Path | None = None
    retry_file: Path | None = None
    user: str | None = None
    serial: Serial | None = None  # robots a batch; None: all at once
    max_fail_percent: float | None = None


def ssh_options(options: RunOptions) -> SSHOptions:
    password = os.environ.get(PASSWORD_ENV)
    if options.ask_pass and password is None:
        password = getpass.getpass("SSH password: ")
    options_given = SSHOptions(accept_new=options.accept_new, password=password)
    if options.known_hosts:
        return replace(options_given, known_hosts=options.known_hosts)
    return options_given


def become_password(options: RunOptions) -> str | None:
    """The sudo password for ansible_become: the environment's, else asked once for the
    whole run with --ask-become-pass; None (sudo must not ask) when neither."""
    password = os.environ.get(BECOME_PASSWORD_ENV)
    if options.ask_become_pass and password is None:
        password = getpass.getpass("BECOME password: ")
    if not password:
        return None
    problem = password_problem(password)
    if problem is not None:
        raise FleetError(problem)
    return password


def check_become(hosts: Iterable[Host]) -> None:
    """Every chosen robot's become variables, checked before any robot is contacted."""
    for host in hosts:
        try:
            become_for(host.name, host.vars)
        except BadBecome as exc:
            raise FleetError(str(exc)) from None


def run_on_robots(
    options: RunOptions,
    task: Callable[[Session, Host, TaskContext], HostResult],
    columns: Sequence[Column] = (),
    **kwargs: Any,
) -> int:
    """run_robots, then the exit code every robot-facing command shares."""
    report = run_robots(options, task, columns, **kwargs)
    return exit_code((r.status for r in report.results), report.interrupted)


def run_robots(
    options: RunOptions,
    task: Callable[[Session, Host, TaskContext], HostResult],
    columns: Sequence[Column] = (),
    summary: Callable[[RunReport], str] | None = None,
    warnings_for: Callable[[Sequence[Host]], Iterable[str]] = lambda hosts: (),
    hosts: Sequence[Host] | None = None,
    details: Callable[[RunReport], Iterable[Text]] | None = None,
    retry: bool = True,
) -> RunReport:
    """Run `task` on every chosen robot and render it all. `warnings_for` names what the
    command finds worth a warning in the chosen hosts; `hosts`, when given, are the robots
    the command already chose; `details` come before the recap (a --check plan); `retry`
    False leaves the retry file alone (read-only commands)."""
    out, err = current_terminal().consoles()
    if hosts is None:
        hosts = chosen_hosts(options, err)
    for warning in warnings_for(hosts):
        err.print(Text.assemble(("warning: ", "yellow"), printable(warning)))
    check_become(hosts)
    by_name = {h.name: h for h in hosts}
    with Session(ssh_options(options), become_password=become_password(options)) as session:
        renderer = Renderer(out, err, json_mode=options.json, hosts=list(by_name))
        with renderer:
            report: RunReport = run_batches(
                batches(list(by_name), options.serial),
                lambda name, ctx: task(session, by_name[name], ctx),
                max_fail_percent=options.max_fail_percent,
                forks=options.forks,
                timeout=options.timeout,
                on_event=renderer.on_event,
            )
    retry_file = None
    if retry:
        retry_file = write_retry_file(report, options.retry_file or default_retry_file())
    if details is not None and not options.json:
        for line in details(report):
            out.print(line)
    renderer.recap(report, retry_file, columns)
    said = summary(report) if summary is not None else ""
    if said:
        if options.json:
            renderer.emit({"event": "summary", "text": said})
        else:
            for text in said.splitlines():
                out.print(Text(printable(text)))
    return report


def chosen_hosts(options: RunOptions, err: Console) -> list[Host]:
    """The robots -i/-l/-H select, with -u applied; the inventory's warnings printed."""
    targets = select_targets(options.inventory, options.limit, options.hosts)
    hosts = targets.hosts
    if options.user:
        hosts = [Host(h.name, {**h.vars, "ansible_user": options.user}, h.groups) for h in hosts]
    for warning in targets.warnings:
        err.print(Text.assemble(("warning: ", "yellow"), printable(warning)))
    return hosts


def converge_task(
    desired_for: Callable[[Host], DesiredState], run: Converge, docker_user: str | None = None
) -> Callable[[Session, Host, TaskContext], HostResult]:
    """A robot-facing command as the core runs it: gather, plan, execute (or --check)."""

    def task(session: Session, host: Host, ctx: TaskContext) -> HostResult:
        robot = Robot(session, host, docker_user, on_reached=ctx.mark_reached)
        try:
            return converge(robot, desired_for(host), run, ctx)
        finally:
            robot.close()

    return task


def desired_states(
    hosts: Sequence[Host], desired_for: Callable[[Host], DesiredState]
) -> dict[str, DesiredState]:
    """Every robot's desired state, checked before any robot is contacted."""
    found = {}
    for host in hosts:
        try:
            found[host.name] = desired_for(host)
        except BadDesired as exc:
            where = ".".join(str(p) for p in exc.path)
            raise FleetError(f"{host.name}: {where}: {exc}") from None
    return found


def require(condition: bool, message: str) -> None:
    if not condition:
        raise FleetError(message)
