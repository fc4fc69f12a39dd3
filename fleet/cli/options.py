"""Options every robot-facing command shares, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Inventory = Annotated[
    Path | None,
    typer.Option(
        "--inventory",
        "-i",
        help="Ansible YAML inventory: a file or a directory [default: inventory/].",
    ),
]
Limit = Annotated[
    str | None,
    typer.Option(
        "--limit",
        "-l",
        help="Ansible pattern: group, host, glob, a:b, a:!b, a:&b, @RETRYFILE.",
    ),
]
Hosts = Annotated[
    str | None,
    typer.Option("--hosts", "-H", help="Robots without an inventory: a.local,robot[01:12].local"),
]
User = Annotated[
    str | None,
    typer.Option("--user", "-u", help="Log in as this user (overrides ansible_user)."),
]
Forks = Annotated[int, typer.Option("--forks", "-f", min=1, max=500, help="Robots at a time.")]
Timeout = Annotated[
    float,
    typer.Option("--timeout", min=1, help="Seconds one robot may take before it is given up."),
]
Json = Annotated[
    bool, typer.Option("--json", help="One JSON object a line (events, then the recap) on stdout.")
]
AcceptNew = Annotated[
    bool,
    typer.Option(
        "--accept-new",
        help="Trust a robot's host key the first time (a changed key is never trusted).",
    ),
]
AskPass = Annotated[
    bool,
    typer.Option(
        "--ask-pass",
        help="Prompt for the SSH password (or set FLEET_SSH_PASSWORD) for robots without your key.",
    ),
]
KnownHostsFile = Annotated[
    Path | None,
    typer.Option("--known-hosts", help="known_hosts file (default: ~/.ssh/known_hosts)."),
]
RetryFile = Annotated[
    Path | None,
    typer.Option(
        "--retry-file",
        help="Where failed and unreachable robots are listed "
        "(default: ~/.local/state/fleet/last.retry).",
    ),
]
