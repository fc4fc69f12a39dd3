"""`fleet lab up | status | down`: the simulated fleet."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from fleet.cli.terminal import current_terminal
from fleet.errors import ExitCode, FleetError
from fleet.lab import lifecycle, robot, spec
from fleet.lab.paths import LabPaths
from fleet.lab.sh import LabError

PROFILE_NAMES = ", ".join(spec.PROFILES)

app = typer.Typer(
    help="Run a simulated fleet on this machine (Linux, root).\n\n"
    "Robots in network namespaces with a real sshd, Docker Engine and avahi-daemon, plus a "
    "TLS registry with demo images.",
    no_args_is_help=True,
)


def _lab_error(exc: LabError) -> FleetError:
    return FleetError(f"lab: {exc}", ExitCode.FAILED)


@app.command()
def up(
    robots: int = typer.Option(None, "--robots", "-n", help="Number of robots.", show_default="3"),
    name_prefix: str = typer.Option("robot", help="Robots are named PREFIX01, PREFIX02, ..."),
    duckiebots: int = typer.Option(
        0,
        "--duckiebots",
        help="How many robots (the first ones) also publish Duckietown mDNS records.",
    ),
    duckiebot: bool = typer.Option(False, "--duckiebot", help="Every robot is a Duckiebot."),
    profile: list[str] = typer.Option(
        [],
        "--profile",
        "-p",
        metavar="NAME[:COUNT]",
        help=f"Robots of a profile; repeatable. Profiles: {PROFILE_NAMES}.",
    ),
    link_rate: str = typer.Option(
        None, help="Shape every robot's link like WiFi, e.g. 50mbit (tc tbf, both directions)."
    ),
    uplink_rate: str = typer.Option(
        None,
        help="Put the hub (Docker Hub's stand-in) behind one shaped link, e.g. 20mbit: the "
        "site's uplink, which every robot and this machine share.",
    ),
) -> None:
    """Build the lab and print the path of its inventory.

    A no-op when the same lab is up."""
    try:
        counts = spec.parse_profile_counts(profile)
        total = robots if robots is not None else (sum(c for _, c in counts) if counts else 3)
        planned = spec.plan(
            robots=robots,
            name_prefix=name_prefix,
            duckiebots=total if duckiebot else duckiebots,
            profiles=counts or None,
            link_rate=link_rate,
            uplink_rate=uplink_rate,
        )
    except ValueError as exc:
        raise FleetError(str(exc)) from None
    console = current_terminal().console(stderr=True)
    try:
        result = lifecycle.up(
            planned, LabPaths.from_env(), progress=lambda m: console.print(f"· {m}")
        )
    except LabError as exc:
        raise _lab_error(exc) from None
    if result.already_up:
        console.print("the lab is already up with these robots; nothing to do")
    else:
        console.print(f"lab up: {len(planned.robots)} robots in {result.seconds:.0f} s")
    current_terminal().echo(str(result.inventory))


@app.command()
def status(json_output: bool = typer.Option(False, "--json", help="One JSON object.")) -> None:
    """List robots, addresses, profiles and whether their daemons run.

    Never prints secrets."""
    paths = LabPaths.from_env()
    current = lifecycle.status(paths)
    if json_output:
        current_terminal().echo(json.dumps(_status_record(current, paths)))
    else:
        _print_status(current, paths)
    if current.up and not current.healthy:
        raise typer.Exit(int(ExitCode.FAILED))


def _status_record(current: lifecycle.LabStatus, paths: LabPaths) -> dict[str, object]:
    return {
        "up": current.up,
        "healthy": current.healthy,
        "phase": current.phase,
        "state_dir": str(paths.state),
        "registry": current.registry,
        "registry_running": current.registry_running,
        "hub": current.hub,
        "hub_running": current.hub_running,
        "inventory": str(current.inventory) if current.inventory else None,
        "credentials_file": str(current.credentials) if current.credentials else None,
        "robots": [
            {
                "name": r.name,
                "address": r.address,
                "profile": r.profile,
                "duckiebot": r.duckiebot,
                "daemons": r.daemons,
            }
            for r in current.robots
        ],
    }


def _print_status(current: lifecycle.LabStatus, paths: LabPaths) -> None:
    # Wide enough for the table even when stdout is a pipe (rich assumes 80 columns there).
    console = current_terminal().console(width_off_terminal=120)
    if not current.up:
        console.print(f"no lab is up (state directory {paths.state})")
        return
    table = Table(title=f"fleet lab ({current.phase})")
    for column in ("robot", "address", "profile", "duckiebot", "sshd", "dockerd", "avahi"):
        table.add_column(column)
    mark = {True: "[green]running[/]", False: "[red]down[/]"}
    for r in current.robots:
        table.add_row(
            f"{r.name}.local",
            r.address,
            r.profile,
            "yes" if r.duckiebot else "",
            *(mark[r.daemons[d]] for d in ("sshd", "dockerd", "avahi")),
        )
    console.print(table)
    console.print(f"registry   https://{current.registry} ({mark[current.registry_running]})")
    console.print(f"hub        https://{current.hub} ({mark[current.hub_running]}, token auth)")
    console.print(f"inventory  {current.inventory}")
    console.print(f"accounts   {current.credentials} (mode 0600; not shown here)")


@app.command()
def down() -> None:
    """Remove every namespace, interface, mount, process and file the lab made.

    Safe to run twice and after a crash. The root filesystem cache is kept.
    """
    try:
        lifecycle.check_host()
        removed = lifecycle.down(LabPaths.from_env())
    except LabError as exc:
        raise _lab_error(exc) from None
    current_terminal().echo(
        f"lab down: removed {len(removed)} items" if removed else "no lab to take down",
        err=True,
    )


Daemon = typer.Argument(None, help="sshd, dockerd or avahi (none for the registry or hub).")
Target = typer.Argument(
    metavar="ROBOT|registry|hub",
    help="A robot's name, `registry`, or `hub` (Docker Hub's stand-in).",
)


def _daemon_command(action: str, target: str, daemon: str | None) -> None:
    paths = LabPaths.from_env()
    try:
        lifecycle.check_host()
        if target in ("registry", "hub"):
            getattr(lifecycle, f"{action}_{target}")(paths)
            return
        if daemon not in robot.DAEMONS:
            raise FleetError(f"name the daemon: one of {', '.join(robot.DAEMONS)}")
        getattr(lifecycle, f"{action}_daemon")(paths, target, daemon)
    except LabError as exc:
        raise _lab_error(exc) from None


@app.command()
def stop(target: str = Target, daemon: str = Daemon) -> None:
    """Stop a robot's sshd, dockerd or avahi, or the registry: rehearse a part going away."""
    _daemon_command("stop", target, daemon)


@app.command()
def start(target: str = Target, daemon: str = Daemon) -> None:
    """Start (or restart) a robot's daemon, or the registry."""
    _daemon_command("start", target, daemon)
