"""The docker CLI's contexts on this machine: listing them and carrying out a plan (I/O).

The real `docker` does it, so the contexts are exactly what `docker context create` makes,
in the user's DOCKER_CONFIG. None of these commands talks to a daemon.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence

from fleet.contexts import Action, Context, Kind
from fleet.errors import FleetError

TIMEOUT = 30.0


class ContextError(Exception):
    """One docker command that failed: what docker said, on one line."""


def docker_cli() -> str:
    found = shutil.which("docker")
    if found is None:
        raise FleetError("the docker command is not installed (not on PATH); contexts are its own")
    return found


def _run(docker: str, args: Sequence[str]) -> str:
    try:
        done = subprocess.run(
            [docker, "context", *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ContextError(f"docker context {args[0]} took more than {TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        said = " ".join((done.stderr or done.stdout).split())[:300]
        raise ContextError(said or f"docker context {args[0]} exited {done.returncode}")
    return done.stdout


def list_contexts(docker: str) -> list[Context]:
    try:
        text = _run(docker, ["ls", "--format", "{{json .}}"])
    except ContextError as exc:
        raise FleetError(f"docker context ls failed: {exc}") from None
    contexts = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            contexts.append(
                Context(
                    name=str(record["Name"]),
                    description=str(record.get("Description") or ""),
                    host=str(record.get("DockerEndpoint") or ""),
                    current=bool(record.get("Current")),
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise FleetError(
                f"docker context ls printed a line fleet cannot read: {line[:80]!r}"
            ) from None
    return contexts


def carry_out(docker: str, action: Action) -> None:
    """Do one action (KEEP and REFUSE do nothing); ContextError when docker refused."""
    if action.kind is Kind.CREATE:
        _run(docker, ["create", action.name, *_settings(action)])
    elif action.kind is Kind.UPDATE:
        _run(docker, ["update", action.name, *_settings(action)])
    elif action.kind is Kind.REMOVE:
        _run(docker, ["rm", action.name])  # never -f: a context in use stays


def _settings(action: Action) -> list[str]:
    return ["--description", action.description or "", "--docker", f"host={action.host}"]
