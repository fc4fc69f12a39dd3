"""`fleet cache up | status | warm | down`: a pull-through cache on this machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from fleet.cache import service
from fleet.cache.deliver import CacheDelivery
from fleet.cache.layout import CachePlace
from fleet.cli import options as opt
from fleet.cli.common import (
    RunOptions,
    chosen_hosts,
    desired_states,
    run_on_robots,
)
from fleet.cli.terminal import current_terminal
from fleet.credentials.names import BadRegistry, config_key, display_name
from fleet.credentials.store import Store
from fleet.errors import FleetError, Unreachable
from fleet.inventory.model import Host
from fleet.platform import VARIANTS, UnknownVariant, normalise_variant
from fleet.reference import BadReference, check_template
from fleet.report import printable
from fleet.results import HostResult, Status
from fleet.runner import TaskContext
from fleet.session import Session
from fleet.tasks.desired import DesiredImage, DesiredState, account_for
from fleet.tasks.gather import RegistryView, Robot, docker_facts
from fleet.tasks.plan import Unresolved, chosen_manifest, robot_variant, wanted_references
from fleet.tasks.state import RobotState

app = typer.Typer(
    help="Run a pull-through cache on this machine, so each image crosses the uplink once.\n\n"
    "Robots pull through it over their SSH connection (--via cache).",
    no_args_is_help=True,
)

Registries = Annotated[
    list[str] | None,
    typer.Argument(help="Upstream registries (host[:port]); docker.io when left out."),
]
CaCert = Annotated[
    Path | None,
    typer.Option(help="CA certificate to trust for the upstream (besides the system's)."),
]


def _places(registries: list[str] | None) -> list[CachePlace]:
    try:
        return [CachePlace.of(config_key(r)) for r in registries or ["docker.io"]]
    except BadRegistry as exc:
        raise FleetError(str(exc)) from None


@app.command()
def up(
    registries: Registries = None,
    username: Annotated[
        str | None, typer.Option("--username", "-u", help="The stored account it pulls as.")
    ] = None,
    ca_cert: CaCert = None,
) -> None:
    """Start the cache of each upstream (one Distribution registry each, on 127.0.0.1)."""
    out, err = current_terminal().consoles()
    store = Store()
    for place in _places(registries):
        credential = store.get(place.upstream, username)
        if username and credential is None:
            raise FleetError(f"no stored account {username} for {display_name(place.upstream)}")
        instance, offline = service.up(place, credential, ca_cert)
        how = f"offline ({offline}), serving what it holds" if offline else "pull-through"
        who = f" as {credential.username}" if credential else ""
        out.print(
            Text(f"{display_name(place.upstream)}: {instance.address}{who}, {how}"),
            highlight=False,
        )
        err.print(Text(f"storage {place.storage}", style="dim"))


@app.command()
def down(
    registries: Registries = None,
    purge: Annotated[bool, typer.Option("--purge", help="Also delete what it stored.")] = False,
) -> None:
    """Stop the caches (all of them when no registry is named); their storage stays."""
    out = current_terminal().console()
    places = _places(registries) if registries else service.places(CachePlace.of("docker.io"))
    for place in places:
        stopped = service.down(place, purge)
        said = "stopped" if stopped else "was not running"
        out.print(
            Text(f"{display_name(place.upstream)}: {said}" + (", storage deleted" if purge else ""))
        )


@app.command()
def status(
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per cache.")] = False,
) -> None:
    """Each cache: its upstream, address, mode, disk used and the images it holds."""
    out = current_terminal().console()
    records: list[dict[str, Any]] = []
    for place in service.places(CachePlace.of("docker.io")):
        instance = service.running(place)
        records.append(
            {
                "upstream": display_name(place.upstream),
                "address": instance.address if instance else None,
                "mode": instance.mode if instance else "stopped",
                "disk_bytes": service.disk_used(place),
                "storage": str(place.storage),
                "holds": [
                    {"image": f"{repo}:{tag}", "platforms": platforms}
                    for repo, tag, platforms in service.holdings(place)
                ],
            }
        )
    if json_output:
        for record in records:
            out.file.write(json.dumps(record) + "\n")
        return
    if not records:
        out.print("no cache: `fleet cache up REGISTRY` starts one")
        return
    table = Table()
    for column in ("upstream", "address", "mode", "disk", "holds"):
        table.add_column(column)
    for record in records:
        holds = "\n".join(
            f"{h['image']} ({', '.join(h['platforms']) or '?'})" for h in record["holds"]
        )
        table.add_row(
            Text(record["upstream"]),
            Text(record["address"] or "-"),
            Text(record["mode"]),
            Text(f"{record['disk_bytes'] / 1e6:.1f} MB"),
            Text(printable(holds) or "-"),
        )
    out.print(table)


@app.command()
@opt.robot_command(timeout=1800.0)
def warm(
    run: RunOptions,
    images: Annotated[
        list[str],
        typer.Argument(help="Images the robots will need; {arch} as in fleet pull."),
    ],
    ca_cert: CaCert = None,
) -> None:
    """Fetch into the cache what the targeted robots will need, while the upstream answers.

    Every platform of each IMAGE that the targeted robots run; later, robots get them from
    this machine even offline. Robots that do not answer count with their fleet_arch, if
    the inventory gives one."""
    for image in images:
        try:
            check_template(image, arch_suffix=False)
        except BadReference as exc:
            raise FleetError(str(exc)) from None
    hosts = chosen_hosts(run, current_terminal().console(stderr=True))
    wanted = desired_states(
        hosts,
        lambda host: DesiredState(
            images=tuple(DesiredImage(i) for i in images),
            arch_override=_arch(host),
        ),
    )
    store = Store()
    with RegistryView(ca_cert) as registry, CacheDelivery(ca_cert) as cache:

        def task(session: Session, host: Host, ctx: TaskContext) -> HostResult:
            robot = Robot(session, host, on_reached=ctx.mark_reached)
            try:
                return warm_for(robot, wanted[host.name])
            finally:
                robot.close()

        def warm_for(robot: Robot, desired: DesiredState) -> HostResult:
            host = robot.host
            try:
                state = RobotState(host.name, docker=docker_facts(robot.docker()))
            except Unreachable:
                if desired.arch_override is None:
                    raise
                state = RobotState(host.name)  # its fleet_arch says what it runs
            platform = robot_variant(desired, state).platform
            if platform is None:
                return HostResult(host.name, Status.FAILED, robot_variant(desired, state).reason)
            warmed = []
            for ref in wanted_references(desired, state):
                credential = store.get(ref.registry_key, account_for(host.vars, ref.registry_key))
                answer = registry.answer(robot, ref, credential, platform)
                if isinstance(answer, Unresolved):
                    return HostResult(host.name, Status.FAILED, answer.reason)
                manifest = chosen_manifest(answer, platform)
                if manifest is None or manifest.digest is None:
                    return HostResult(host.name, Status.FAILED, f"{ref} has no {platform} variant")
                _, warmer = cache.cache_for(ref.registry_key, credential)
                warmer.ensure(ref, manifest.digest)
                warmed.append(str(ref))
            return HostResult(
                host.name, Status.OK, f"cache holds {', '.join(warmed)} for {platform}"
            )

        code = run_on_robots(
            run, task, hosts=hosts, summary=lambda report: cache.summary(len(hosts)), retry=False
        )
    raise typer.Exit(code)


def _arch(host: Host) -> str | None:
    value = host.vars.get("fleet_arch")
    if value is None:
        return None
    try:
        return normalise_variant(str(value)) if str(value) not in VARIANTS else str(value)
    except UnknownVariant as exc:
        raise FleetError(f"{host.name}: fleet_arch: {exc}") from None
