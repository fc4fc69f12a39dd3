"""`fleet pull IMAGE`: the variant each robot can run, pulled in parallel."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from fleet.cli import options as opt
from fleet.cli.common import RunOptions, run_on_robots
from fleet.credentials.store import Store
from fleet.errors import FleetError
from fleet.inventory.model import Host
from fleet.reference import BadReference, check_template
from fleet.results import HostResult, RunReport
from fleet.runner import TaskContext
from fleet.session import Session
from fleet.tasks.pull import ImagePlatforms, PullOptions, pull_on_robot
from fleet.transport.docker_api import is_unencrypted


def _short(result: HostResult) -> str:
    digest = result.data.get("digest")
    return digest.split(":", 1)[-1][:12] if digest else ""


COLUMNS = [
    ("variant", lambda r: str(r.data.get("variant") or "")),
    ("digest", _short),
    ("time", lambda r: f"{r.seconds:.1f}s"),
]


def fleet_summary(report: RunReport) -> str:
    """How many robots now hold which digest of the image (pure)."""
    held = Counter(
        (str(r.data.get("platform")), _short(r))
        for r in report.results
        if r.data.get("digest") and r.status.value in ("ok", "changed")
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


@opt.robot_command(timeout=1800.0)
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
) -> None:
    """Pull on every targeted robot the image variant its Docker daemon can run:
    arm32v7, arm64v8 or amd64, decided by the daemon's platform (a Pi 4 on a 32-bit OS
    gets arm32v7). An image of another architecture is refused before a layer moves."""
    try:
        check_template(image, arch_suffix)
    except BadReference as exc:
        raise FleetError(str(exc)) from None
    options = PullOptions(image, arch_suffix, always, check)
    store, image_platforms = Store(), ImagePlatforms(ca_cert)

    def task(session: Session, host: Host, ctx: TaskContext) -> HostResult:
        return pull_on_robot(session, host, ctx, options, store, image_platforms)

    code = run_on_robots(
        run,
        task,
        COLUMNS,
        summary=None if check else fleet_summary,
        warnings_for=unencrypted_warning,
    )
    raise typer.Exit(code)
