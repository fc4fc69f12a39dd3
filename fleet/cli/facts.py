"""`fleet facts`: model, OS, kernel and userland architecture, Docker, the variant to pull."""

from __future__ import annotations

import typer

from fleet.cli import options as opt
from fleet.cli.common import RunOptions, run_on_robots
from fleet.results import HostResult
from fleet.tasks.facts import gather_facts


def _docker(result: HostResult) -> str:
    docker = result.data.get("docker") or {}
    if "error" in docker:
        return f"[red]{docker['error'][:40]}[/]"
    if not docker:
        return ""
    return f"{docker.get('version')} {docker.get('os')}/{docker.get('arch')}"


def _userland(result: HostResult) -> str:
    userland = result.data.get("userland") or {}
    bits = f" {userland['long_bit']}-bit" if userland.get("long_bit") else ""
    return f"{userland.get('dpkg') or '?'}{bits}" if userland else ""


def _free(result: HostResult) -> str:
    disk = result.data.get("docker_disk") or {}
    free = disk.get("free_bytes")
    return f"{free / 1e9:.1f} GB" if free is not None else ""


COLUMNS = [
    ("model", lambda r: str(r.data.get("model") or "")),
    ("kernel", lambda r: str(r.data.get("kernel_arch") or "")),
    ("userland", _userland),
    ("docker", _docker),
    ("free", _free),
    ("variant", lambda r: str(r.data.get("variant") or "")),
]


@opt.robot_command(ask_pass=True)
def facts(run: RunOptions) -> None:
    """Show what each robot is and which image variant fleet would pull there.

    Model, OS, kernel and userland architecture, Docker server, free space for images,
    and the variant with the reason for it."""
    code = run_on_robots(
        run, lambda session, host, ctx: gather_facts(session, host, run.timeout), COLUMNS
    )
    raise typer.Exit(code)
