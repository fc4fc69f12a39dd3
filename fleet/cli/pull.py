"""`fleet pull IMAGE`: the variant each robot can run, pulled in parallel."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
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
from fleet.cli.terminal import current_terminal
from fleet.credentials.store import Store
from fleet.errors import FleetError
from fleet.inventory.model import Host
from fleet.reference import BadReference, check_template
from fleet.results import HostResult, RunReport, Status
from fleet.tasks import desired
from fleet.tasks.actions import short_digest
from fleet.tasks.converge import Converge
from fleet.tasks.execute import ExecuteOptions
from fleet.tasks.gather import RegistryView
from fleet.transport.docker_api import is_unencrypted


def held_digest(result: HostResult) -> str:
    """The digest that names what the robot holds: its platform's manifest when known."""
    return str(result.data.get("manifest_digest") or result.data.get("digest") or "")


COLUMNS = [
    ("variant", lambda r: str(r.data.get("variant") or "")),
    ("digest", lambda r: short_digest(held_digest(r)) if held_digest(r) else ""),
    ("time", lambda r: f"{r.seconds:.1f}s"),
]


def fleet_summary(report: RunReport) -> str:
    """How many robots now hold which manifest of the image (pure)."""
    held = Counter(
        (str(r.data.get("platform")), short_digest(held_digest(r)))
        for r in report.results
        if held_digest(r) and r.status in (Status.OK, Status.CHANGED)
    )
    if not held:
        return "no robot holds the image"
    parts = [
        f"{count} on {digest} ({platform})" for (platform, digest), count in sorted(held.items())
    ]
    return "robots holding it: " + ", ".join(parts)


def unencrypted_warning(hosts: Sequence[Host]) -> list[str]:
    if not any(is_unencrypted(h) for h in hosts):
        return []
    return [
        "some robots are reached over tcp:// (fleet_docker_host): "
        "that Docker connection, credentials included, is not encrypted"
    ]


@opt.robot_command(timeout=1800.0, ask_become_pass=True)
def pull(
    run: RunOptions,
    image: Annotated[
        str,
        typer.Argument(
            help="What docker pull takes; {arch} becomes the robot's variant "
            "(duckietown/dt-core:daffy-{arch})."
        ),
    ],
    arch_suffix: Annotated[
        bool,
        typer.Option("--arch-suffix", help="Append -VARIANT to the tag (daffy -> daffy-arm32v7)."),
    ] = False,
    always: Annotated[bool, typer.Option("--always", help="Pull even when up to date.")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Say what each robot would pull; change nothing.")
    ] = False,
    ca_cert: Annotated[
        Path | None,
        typer.Option(
            help="CA certificate this machine trusts for the registry (robots use their own)."
        ),
    ] = None,
    via: opt.Via = None,
) -> None:
    """Pull on every targeted robot the image variant its Docker daemon can run.

    The variant (arm32v7, arm64v8 or amd64) is decided by the daemon's platform: a Pi 4
    on a 32-bit OS gets arm32v7. An image of another architecture is refused before a
    layer moves."""
    try:
        check_template(image, arch_suffix)
    except BadReference as exc:
        raise FleetError(str(exc)) from None

    hosts = chosen_hosts(run, current_terminal().console(stderr=True))
    wanted = desired_states(
        hosts, lambda host: desired.for_pull(host.vars, image, arch_suffix, always, via)
    )
    with RegistryView(ca_cert) as registry, CacheDelivery(ca_cert) as cache:
        converge_all = Converge(Store(), registry, check, ExecuteOptions(cache=cache))

        def summary(report: RunReport) -> str:
            return "\n".join(filter(None, [fleet_summary(report), cache.summary(len(hosts))]))

        code = run_on_robots(
            run,
            converge_task(lambda host: wanted[host.name], converge_all),
            COLUMNS,
            summary=None if check else summary,
            warnings_for=unencrypted_warning,
            hosts=hosts,
        )
    raise typer.Exit(code)
