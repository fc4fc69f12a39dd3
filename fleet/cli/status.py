"""`fleet status`: drift at a glance, per robot and declared item (read-only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fleet.cli import options as opt
from fleet.cli.common import RunOptions, chosen_hosts, desired_states, run_robots
from fleet.cli.terminal import current_terminal
from fleet.credentials.store import Store
from fleet.errors import ExitCode
from fleet.inventory.model import Host
from fleet.results import HostResult, Status, exit_code
from fleet.runner import TaskContext
from fleet.session import Session
from fleet.tasks.actions import Action, Drift, short_digest
from fleet.tasks.converge import Converge, planned
from fleet.tasks.desired import DesiredCredential, DesiredImage, from_inventory
from fleet.tasks.gather import RegistryView, Robot


def cell(action: Action) -> str:
    """What the status table says of one item on one robot (pure)."""
    data = getattr(action, "data", {}) or {}
    if action.drift is Drift.CURRENT:
        digest = data.get("manifest_digest") or data.get("digest")
        return f"current ({short_digest(digest)})" if digest else "current"
    old = getattr(action, "old_digest", None) or data.get("old_digest")
    if action.drift is Drift.BEHIND and old:
        return f"behind ({short_digest(old)})"
    return str(action.drift)


def drift_of(state_actions: list[Action]) -> dict[str, dict[str, str]]:
    """Item -> its drift, cell and reason: the first action of each item decides."""
    found: dict[str, dict[str, str]] = {}
    for action in state_actions:
        if action.item not in found:
            reason = getattr(action, "reason", "") or action.describe()
            found[action.item] = {
                "drift": str(action.drift),
                "cell": cell(action),
                "reason": reason,
            }
    return found


@opt.robot_command(timeout=300.0, ask_become_pass=True)
def status(
    run: RunOptions,
    ca_cert: Annotated[
        Path | None,
        typer.Option(help="CA certificate this machine trusts for the registries."),
    ] = None,
    docker_user: Annotated[
        str | None,
        typer.Option(help="Whose ~/.docker/config.json on the robot (default: the SSH user)."),
    ] = None,
) -> None:
    """Show how far each robot's images and registry accounts are from the inventory.

    Per robot and declared image or registry: current, behind, missing, wrong platform or
    no credential. Pulls nothing, writes nothing. Exit 0 when all is current, 2 when
    something drifted."""
    hosts = chosen_hosts(run, current_terminal().console(stderr=True))
    store = Store()
    wanted = desired_states(hosts, lambda host: from_inventory(host.vars, store.get))
    registry = RegistryView(ca_cert)
    look = Converge(store, registry)
    declared: list[DesiredCredential | DesiredImage] = []
    for state in wanted.values():
        declared += [*state.credentials, *state.images]
    items = list(dict.fromkeys(i.item for i in declared))

    def task(session: Session, host: Host, ctx: TaskContext) -> HostResult:
        robot = Robot(session, host, docker_user, on_reached=ctx.mark_reached)
        try:
            _, actions = planned(robot, wanted[host.name], look)
        finally:
            robot.close()
        found = drift_of(actions)
        drifted = [item for item, seen in found.items() if seen["drift"] != str(Drift.CURRENT)]
        reason = f"drifted: {', '.join(drifted)}" if drifted else "current"
        return HostResult(host.name, Status.OK, reason, {"items": found, "drifted": bool(drifted)})

    columns = [
        (item, lambda r, item=item: r.data.get("items", {}).get(item, {}).get("cell", ""))
        for item in items
    ]
    with registry:
        report = run_robots(run, task, columns, hosts=hosts, retry=False)
    code = exit_code((r.status for r in report.results), report.interrupted)
    if code == 0 and any(r.data.get("drifted") for r in report.results):
        code = int(ExitCode.FAILED)
    raise typer.Exit(code)
