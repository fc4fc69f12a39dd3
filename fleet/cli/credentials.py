"""`fleet login`, `fleet logout`, `fleet credentials list | audit`."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fleet.cli import options as opt
from fleet.cli.common import RunOptions, converge_task, run_on_robots
from fleet.cli.terminal import current_terminal
from fleet.credentials.local_docker import import_credential
from fleet.credentials.names import BadRegistry, config_key, display_name, fingerprint
from fleet.credentials.store import Credential, Store
from fleet.errors import ExitCode, FleetError
from fleet.inventory.model import Host
from fleet.registry import Rejected, Unverifiable, verify
from fleet.results import HostResult
from fleet.runner import TaskContext
from fleet.session import Session
from fleet.tasks.audit import audit_robot
from fleet.tasks.converge import Converge
from fleet.tasks.desired import DesiredCredential, DesiredState, account_for
from fleet.tasks.gather import Robot

credentials_app = typer.Typer(help="The registry credentials fleet stores, and who holds them.")

Registry = Annotated[
    str | None, typer.Argument(help="Registry host[:port]; Docker Hub when left out.")
]
DockerUser = Annotated[
    str | None,
    typer.Option(help="Whose ~/.docker/config.json on the robot (default: the SSH user)."),
]
Check = Annotated[
    bool, typer.Option("--check", help="Say what each robot would get; change nothing.")
]
CaCert = Annotated[
    Path | None,
    typer.Option(help="CA certificate to trust for the registry (besides the system's)."),
]


def _key(registry: str | None) -> str:
    try:
        return config_key(registry)
    except BadRegistry as exc:
        raise FleetError(str(exc)) from None


def _read_secret(password_stdin: bool) -> str:
    terminal = current_terminal()
    if password_stdin:
        secret = terminal.stdin.read().rstrip("\r\n")
    elif terminal.stdin_isatty:
        secret = getpass.getpass("Password or access token: ")
    else:
        raise FleetError("no password: pipe it to --password-stdin, or run on a terminal")
    if not secret:
        raise FleetError("the password is empty")
    return secret


def _targeted(run: RunOptions) -> bool:
    """Robots are written to only when the user named some (-i, -l or -H)."""
    return any(v is not None for v in (run.inventory, run.limit, run.hosts))


# -u is --username here, as in docker login
@opt.robot_command(ssh_user=False, ask_become_pass=True)
def login(
    run: RunOptions,
    registry: Registry = None,
    username: Annotated[str | None, typer.Option("--username", "-u", help="Account name.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password or token from stdin.")
    ] = False,
    from_docker_config: Annotated[
        bool,
        typer.Option(help="Import the account your own `docker login` stored (helpers too)."),
    ] = False,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Store and push without asking the registry.")
    ] = False,
    ca_cert: CaCert = None,
    docker_user: DockerUser = None,
    force: Annotated[
        bool, typer.Option(help="Replace a corrupt config.json on a robot (a backup is kept).")
    ] = False,
    check: Check = False,
) -> None:
    """Store a registry account and, with -i/-l/-H, give it to robots.

    The account is checked with the registry first; each targeted robot gets it in its
    Docker config so the robot itself can pull. The secret comes from --password-stdin
    or a hidden prompt; never from an argument."""
    key = _key(registry)
    store = Store()
    err = current_terminal().console(stderr=True)
    credential: Credential | None = None
    if from_docker_config:
        credential = import_credential(key)
    elif username:
        credential = Credential(key, username, _read_secret(password_stdin))
    if credential is not None:
        if not no_verify:
            try:
                verify(credential, ca_cert=ca_cert)
            except Rejected as exc:
                raise FleetError(
                    f"{exc}: wrong user name or token; nothing was stored or pushed",
                    ExitCode.FAILED,
                ) from None
            except Unverifiable as exc:
                raise FleetError(
                    f"could not check the account: {exc}; fix that, or pass --no-verify to store "
                    "and push it unchecked",
                    ExitCode.UNREACHABLE,
                ) from None
        if check:
            err.print(
                f"checked, not stored (--check): {credential.username} for {display_name(key)}",
                highlight=False,
            )
        else:
            stored = store.add(credential)
            err.print(
                f"{'stored' if stored else 'already stored'}: {credential.username} for "
                f"{display_name(key)} (fingerprint {fingerprint(credential.secret)}) in "
                f"{store.path}",
                highlight=False,
            )
    elif not store.usernames(key):
        raise FleetError(f"no account stored for {display_name(key)}: pass --username")
    if not _targeted(run):
        raise typer.Exit(0)
    given = credential

    def wanted(host: Host) -> DesiredState:
        username = account_for(host.vars, key) or (given.username if given else None)
        chosen = store.get(key, username)
        if given is not None and username == given.username:
            chosen = given  # with --check it is not in the store
        return DesiredState(credentials=(DesiredCredential(key, username, chosen, force=force),))

    raise typer.Exit(run_on_robots(run, converge_task(wanted, _registry_run(check), docker_user)))


def _registry_run(check: bool) -> Converge:
    """Credentials only: no image, so no registry to ask."""
    return Converge(Store(), None, check=check)


@opt.robot_command(ssh_user=False, ask_become_pass=True)
def logout(
    run: RunOptions,
    registry: Registry = None,
    local: Annotated[
        bool, typer.Option("--local", help="Also remove the account(s) from fleet's store.")
    ] = False,
    username: Annotated[
        str | None, typer.Option("--username", "-u", help="With --local: only this account.")
    ] = None,
    docker_user: DockerUser = None,
    check: Check = False,
) -> None:
    """Remove a registry's credential from the targeted robots.

    A robot that did not hold it is ok; with --local, it also leaves fleet's own store."""
    key = _key(registry)
    code = 0
    absent = DesiredState(credentials=(DesiredCredential(key, None, None, present=False),))
    if _targeted(run):
        code = run_on_robots(
            run, converge_task(lambda host: absent, _registry_run(check), docker_user)
        )
    if local and not check:
        removed = Store().remove(key, username)
        current_terminal().console(stderr=True).print(
            f"removed {removed} stored account(s) for {display_name(key)}"
        )
    raise typer.Exit(code)


@credentials_app.command("list")
def list_credentials(
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON object per account.")
    ] = False,
) -> None:
    """Stored registries, usernames and secret fingerprints (never the secrets)."""

    entries = Store().all()
    if json_output:
        for c in entries:
            current_terminal().echo(
                json.dumps(
                    {
                        "registry": display_name(c.registry),
                        "username": c.username,
                        "fingerprint": fingerprint(c.secret),
                    }
                )
            )
        return
    table = Table()
    for column in ("registry", "username", "fingerprint"):
        table.add_column(column)
    for c in entries:
        table.add_row(display_name(c.registry), c.username, fingerprint(c.secret))
    current_terminal().console(width_off_terminal=None).print(table)


def _held(result: HostResult) -> str:
    held = result.data.get("credentials") or []
    return ", ".join(f"{h['registry']} {h['username']} {h['fingerprint'] or '?'}" for h in held)


@credentials_app.command("audit")
@opt.robot_command(ask_become_pass=True)
def audit(
    run: RunOptions,
    docker_user: DockerUser = None,
) -> None:
    """Show which registry credentials each robot holds, to find who still has a token.

    Per robot: the registries, the user of each and the secret's fingerprint."""

    def task(session: Session, host: Host, ctx: TaskContext) -> HostResult:
        return audit_robot(Robot(session, host, docker_user, on_reached=ctx.mark_reached))

    code = run_on_robots(run, task, [("registry  user  fingerprint", _held)])
    raise typer.Exit(code)
