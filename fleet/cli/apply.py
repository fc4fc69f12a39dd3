"""`fleet apply`: every targeted robot converges to what the inventory declares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from fleet.cache.deliver import CacheDelivery
from fleet.cli import options as opt
from fleet.cli.common import (
    RunOptions,
    chosen_hosts,
    converge_task,
    desired_states,
    run_on_robots,
)
from fleet.cli.pull import COLUMNS, unencrypted_warning
from fleet.cli.render import plan_text
from fleet.cli.terminal import current_terminal
from fleet.credentials.store import Store
from fleet.errors import FleetError
from fleet.inventory.model import Host
from fleet.runner import Serial, parse_serial
from fleet.tasks.converge import Converge
from fleet.tasks.desired import DesiredState, from_inventory
from fleet.tasks.execute import ExecuteOptions
from fleet.tasks.gather import RegistryView

SerialOption = Annotated[
    str | None,
    typer.Option(
        "--serial",
        help="Robots a batch (5) or a share of them (25%); the first batch is the canary. "
        "Default: fleet_serial in the inventory, else all at once.",
    ),
]
MaxFailPercent = Annotated[
    float | None,
    typer.Option(
        "--max-fail-percent",
        min=0,
        max=100,
        help="Stop before the next batch when more than this share of a batch failed.",
    ),
]


def rollout_serial(given: str | None, hosts: Sequence[Host]) -> Serial | None:
    """--serial, else the inventory's `fleet_serial` (the same for every targeted robot)."""
    if given is not None:
        text, where = given, "--serial"
    else:
        declared = {str(h.vars["fleet_serial"]) for h in hosts if "fleet_serial" in h.vars}
        if not declared:
            return None
        if len(declared) > 1:
            raise FleetError(
                "the targeted robots declare different fleet_serial values "
                f"({', '.join(sorted(declared))}); a rollout has one: pass --serial, or limit "
                "the run to one group"
            )
        text, where = declared.pop(), "fleet_serial"
    try:
        return parse_serial(text)
    except ValueError as exc:
        raise FleetError(f"{where}: {exc}") from None


def _forced(state: DesiredState) -> DesiredState:
    """--force: a corrupt config.json may be replaced (a backup is kept)."""
    return replace(state, credentials=tuple(replace(c, force=True) for c in state.credentials))


@opt.robot_command(timeout=1800.0, ask_become_pass=True)
def apply(
    run: RunOptions,
    check: Annotated[
        bool, typer.Option("--check", help="Print each robot's plan; change nothing.")
    ] = False,
    serial: SerialOption = None,
    max_fail_percent: MaxFailPercent = None,
    ca_cert: Annotated[
        Path | None,
        typer.Option(help="CA certificate this machine trusts for the registries."),
    ] = None,
    docker_user: Annotated[
        str | None,
        typer.Option(help="Whose ~/.docker/config.json on the robot (default: the SSH user)."),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Replace a corrupt config.json on a robot (a backup is kept).")
    ] = False,
    via: opt.Via = None,
) -> None:
    """Make each robot hold the registry accounts and images the inventory declares.

    `fleet_registries` are the registry accounts in its Docker config, `fleet_images`
    each image in the variant the robot runs. A second run right after a successful one
    changes nothing."""
    err = current_terminal().console(stderr=True)
    hosts = chosen_hosts(run, err)
    store = Store()
    wanted = desired_states(hosts, lambda host: from_inventory(host.vars, store.get, via))
    if force:
        wanted = {name: _forced(state) for name, state in wanted.items()}
    if not any(state.credentials or state.images for state in wanted.values()):
        raise FleetError(
            "no targeted robot declares fleet_registries or fleet_images: nothing to apply "
            "(see inventory/classroom.yaml)"
        )
    run = replace(run, serial=rollout_serial(serial, hosts), max_fail_percent=max_fail_percent)
    with RegistryView(ca_cert) as registry, CacheDelivery(ca_cert) as cache:
        converge_all = Converge(store, registry, check, ExecuteOptions(cache=cache))
        code = run_on_robots(
            run,
            converge_task(lambda host: wanted[host.name], converge_all, docker_user),
            COLUMNS[:1],
            summary=lambda report: cache.summary(len(hosts)),
            warnings_for=unencrypted_warning,
            hosts=hosts,
            details=plan_text if check else None,
        )
    raise typer.Exit(code)
