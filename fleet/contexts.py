"""Docker contexts for robots: what `fleet contexts export` wants, and what it must do to
the contexts docker already has to get there (pure).

A context fleet made says so in its description (MARK); fleet changes and removes only
those, never a context of the user's own, even one with a robot's name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum

MARK = "made by fleet"
# docker's own rule (cli/context/store): two characters at least, and "default" is docker's.
NAME_PATTERN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.+-]+")
RESERVED = {"default"}
# Inventory variables that docker's ssh never sees: only ~/.ssh/config reaches it.
SSH_ONLY_IN_INVENTORY = (
    "ansible_ssh_private_key_file",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
)


class BadContextName(ValueError):
    pass


def context_name(host_name: str) -> str:
    """The inventory name as a docker context name: characters docker refuses become `-`,
    and a name that starts with one loses it (`robot05.local` stays as it is)."""
    safe = re.sub(r"[^a-zA-Z0-9_.+-]", "-", host_name).lstrip("_.+-")
    if not NAME_PATTERN.fullmatch(safe):
        raise BadContextName(f"{host_name!r} makes no docker context name (2 characters at least)")
    if safe in RESERVED:
        raise BadContextName(f"{safe!r} is docker's own context")
    return safe


def description_for(robot: str) -> str:
    return f"{MARK} for {robot}"


def made_by_fleet(description: str) -> bool:
    return description.startswith(MARK)


def ssh_url(user: str, destination: str, port: int) -> str:
    """ssh://USER@HOST[:PORT], as `docker -H` takes it (an IPv6 address in brackets).
    `--docker host=URL` is read as CSV by docker: a comma or a quote would set another key."""
    for what, value in (("user", user), ("host", destination)):
        if not re.fullmatch(r"[A-Za-z0-9._%:-]+", value) or value.startswith("-"):
            raise BadContextName(f"ssh {what} {value!r} cannot go into a docker context URL")
    host = f"[{destination}]" if ":" in destination else destination
    return f"ssh://{user}@{host}" + ("" if port == 22 else f":{port}")


def unseen_ssh_settings(host_vars: Mapping[str, object]) -> list[str]:
    """The host's ssh settings that `docker --context` will not use (it runs plain ssh)."""
    return [name for name in SSH_ONLY_IN_INVENTORY if host_vars.get(name)]


@dataclass(frozen=True)
class Context:
    """A context as `docker context ls` shows it."""

    name: str
    description: str
    host: str
    current: bool = False


@dataclass(frozen=True)
class Wanted:
    robot: str  # inventory name
    name: str  # context name
    host: str  # docker endpoint URL

    @property
    def description(self) -> str:
        return description_for(self.robot)


class Kind(Enum):
    CREATE = "create"
    UPDATE = "update"
    KEEP = "keep"
    REMOVE = "remove"
    REFUSE = "refuse"


@dataclass(frozen=True)
class Action:
    kind: Kind
    name: str
    robot: str | None = None  # None for a context pruned
    host: str | None = None
    description: str | None = None
    reason: str = ""


def plan(wanted: Sequence[Wanted], existing: Iterable[Context], prune: bool) -> list[Action]:
    """What to do so each wanted context exists as wanted; with `prune`, also remove
    fleet's contexts that no wanted robot has (a robot left the inventory or the pattern)."""
    have = {c.name: c for c in existing}
    actions: list[Action] = []
    taken: dict[str, str] = {}
    for want in wanted:
        if want.name in taken:
            actions.append(_refuse(want, f"{taken[want.name]} already has the name {want.name}"))
            continue
        taken[want.name] = want.robot
        actions.append(_one(want, have.get(want.name)))
    if prune:
        for context in have.values():
            if context.name not in taken and made_by_fleet(context.description):
                actions.append(_prune(context))
    return actions


def _one(want: Wanted, current: Context | None) -> Action:
    change = Action(Kind.UPDATE, want.name, want.robot, want.host, want.description)
    if current is None:
        return Action(Kind.CREATE, want.name, want.robot, want.host, want.description)
    if not made_by_fleet(current.description):
        return _refuse(want, f"a context {want.name} exists that fleet did not make; left alone")
    if current.host != want.host:
        return replace(change, reason=f"was {current.host}")
    if current.description != want.description:
        return change
    return Action(Kind.KEEP, want.name, want.robot, want.host, want.description)


def _refuse(want: Wanted, reason: str) -> Action:
    return Action(Kind.REFUSE, want.name, want.robot, want.host, reason=reason)


def _prune(context: Context) -> Action:
    if context.current:
        return Action(
            Kind.REFUSE,
            context.name,
            host=context.host,
            reason="in use (`docker context use default` first); left alone",
        )
    return Action(Kind.REMOVE, context.name, host=context.host, reason="no selected robot has it")
