"""Options every robot-facing command shares, declared once."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

Inventory = Annotated[
    Path | None,
    typer.Option(
        "--inventory",
        "-i",
        help="Ansible YAML inventory, a file or a directory; inventory/ when not given.",
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
AskBecomePass = Annotated[
    bool,
    typer.Option(
        "--ask-become-pass",
        "-K",
        help="Prompt once for the sudo password (or set FLEET_BECOME_PASSWORD) for robots whose "
        "inventory sets ansible_become, where a step needs another user (--docker-user root).",
    ),
]
KnownHostsFile = Annotated[
    Path | None,
    typer.Option("--known-hosts", help="known_hosts file; ~/.ssh/known_hosts when not given."),
]
Via = Annotated[
    str | None,
    typer.Option(
        "--via",
        metavar="direct|cache",
        help="How images reach robots: direct from the registry, or cache: through this "
        "machine's pull-through cache, over each robot's SSH connection (so the uplink "
        "carries each image once). Default: fleet_delivery in the inventory, else direct.",
    ),
]
RetryFile = Annotated[
    Path | None,
    typer.Option(
        "--retry-file",
        help="Where failed and unreachable robots are listed; "
        "~/.local/state/fleet/last.retry when not given.",
    ),
]


# -- one declaration of the targeting options for every robot-facing command --

SHARED: dict[str, tuple[object, object]] = {
    "inventory": (Inventory, None),
    "limit": (Limit, None),
    "hosts": (Hosts, None),
    "user": (User, None),
    "forks": (Forks, 10),
    "json_output": (Json, False),
    "accept_new": (AcceptNew, False),
    "known_hosts": (KnownHostsFile, None),
    "retry_file": (RetryFile, None),
}


def robot_command(
    *,
    timeout: float = 120.0,
    ask_pass: bool = False,
    ask_become_pass: bool = False,
    ssh_user: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command the shared targeting options and hand them to it as `run`, one
    RunOptions. The command declares only its own options and a `run` parameter."""
    from fleet.cli.common import RunOptions

    shared = dict(SHARED, timeout=(Timeout, timeout))
    if ask_pass:
        shared["ask_pass"] = (AskPass, False)
    if ask_become_pass:
        shared["ask_become_pass"] = (AskBecomePass, False)
    if not ssh_user:
        del shared["user"]

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(func, include_extras=True)
        own = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in inspect.signature(func).parameters.values()
            if p.name != "run"
        ]
        added = [
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind
            )
            for name, (kind, default) in shared.items()
        ]

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in shared}
            values["json"] = values.pop("json_output")
            return func(run=RunOptions(**values), **kwargs)

        command.__signature__ = inspect.Signature(own + added)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in own + added}
        del command.__wrapped__  # typer must see the new signature, not the function's
        return command

    return decorate
