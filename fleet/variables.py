"""fleet's own inventory variables, declared once: what each means and what it may hold
(pure). The inventory loader checks names and values against this list (an unknown
`fleet_` name is a warning with the closest known one, a bad value an error naming the
file and line); `fleet hosts --vars` shows each one's meaning."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fleet.platform import UnknownVariant, normalise_variant

Check = Callable[[Any], str | None]  # None: the value is fine; else what is wrong


@dataclass(frozen=True)
class Variable:
    name: str
    meaning: str
    check: Check
    read: bool = True  # False: written for people (and `fleet hosts`), read by nothing


def _arch(value: Any) -> str | None:
    if not isinstance(value, str):
        return "a variant name such as arm32v7, arm64v8 or amd64"
    try:
        normalise_variant(value)
    except UnknownVariant as exc:
        return str(exc)
    return None


def _docker_host(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith(("ssh://", "tcp://")):
        return None
    return "an ssh://... or tcp://... URL ({user} and {host} are filled in)"


def _text_mapping(value: Any) -> str | None:
    if isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return None
    return "a mapping of registry -> stored account name"


def _images(value: Any) -> str | None:
    def image(item: Any) -> bool:
        if isinstance(item, str):
            return True
        return isinstance(item, Mapping) and isinstance(item.get("ref"), str)

    if isinstance(value, list) and all(image(i) for i in value):
        return None
    return "a list of image references, or of {ref: REFERENCE, ...} mappings"


_SERIAL = re.compile(r"[1-9][0-9]{0,5}%?\Z")


def _serial(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return None
    if isinstance(value, str) and _SERIAL.match(value) and int(value.rstrip("%")) >= 1:
        if not value.endswith("%") or int(value[:-1]) <= 100:
            return None
    return "a batch size: a number of robots (5) or a share of them (25%)"


def _delivery(value: Any) -> str | None:
    return None if value in DELIVERIES else f"one of {', '.join(DELIVERIES)}"


def _any(value: Any) -> str | None:
    return None


DELIVERIES = ("direct", "cache")

VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        Variable("fleet_arch", "the image variant to pull, overriding detection", _arch),
        Variable(
            "fleet_docker_host",
            "how to reach the robot's Docker daemon (default ssh://{user}@{host})",
            _docker_host,
        ),
        Variable(
            "fleet_registry_accounts",
            "registry -> which stored account this robot gets",
            _text_mapping,
        ),
        Variable("fleet_registries", "fleet apply: registry -> account to log in", _text_mapping),
        Variable("fleet_images", "fleet apply: the images this robot must have", _images),
        Variable("fleet_serial", "fleet apply: robots per batch (N or N%)", _serial),
        Variable(
            "fleet_delivery",
            "how images reach the robot: direct from the registry, or through fleet cache",
            _delivery,
        ),
        Variable(
            "fleet_lab_profile",
            "written by fleet lab: the robot's simulated board",
            _any,
            read=False,
        ),
    )
}


def problem(name: str, value: Any) -> str | None:
    """What is wrong with a declared variable's value, or None (unknown names: None)."""
    variable = VARIABLES.get(name)
    return variable.check(value) if variable else None


_SECRET_WORDS = ("pass", "secret", "token", "credential")


def is_secret(name: str) -> bool:
    """Whether a variable's value is never shown: its name says password (`ansible_password`,
    `ansible_become_pass`, `ansible_ssh_pass`), secret, token, credential, or ends in `key`
    (`api_key`); but a `_file` or `_path` names where a secret is, not the secret."""
    lowered = name.lower()
    if lowered.endswith(("_file", "_path", "_files", "_paths")):
        return False
    return any(word in lowered for word in _SECRET_WORDS) or lowered.endswith("key")
