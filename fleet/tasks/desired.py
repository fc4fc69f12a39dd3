"""What a robot should hold: from a command's arguments, or from the inventory's
`fleet_registries` and `fleet_images` (pure).

`fleet login`, `logout` and `pull` are desired states of one item; `fleet apply` and
`fleet status` read every item the inventory declares for each robot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fleet.credentials.names import BadRegistry, config_key, display_name
from fleet.credentials.store import Credential
from fleet.reference import BadReference, check_template

IMAGE_KEYS = ("ref", "arch_suffix", "keep")
DELIVERY = ("direct", "cache")

CredentialLookup = Callable[[str, str | None], Credential | None]


class BadDesired(ValueError):
    """A declared item that cannot mean anything; `path` leads to it inside the variable
    (e.g. ("fleet_images", 2, "kep")), so the inventory loader can name its line."""

    def __init__(self, message: str, path: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class DesiredImage:
    template: str  # as declared; `{arch}` becomes the robot's variant
    arch_suffix: bool = False
    keep: int | None = None  # other images of the repository to keep; None keeps all

    @property
    def item(self) -> str:
        return f"image {self.template}" + (" (arch suffix)" if self.arch_suffix else "")


@dataclass(frozen=True)
class DesiredCredential:
    registry: str  # config.json key
    username: str | None  # the stored account asked for; None: the only one stored
    credential: Credential | None  # None: fleet's store has no such account
    present: bool = True  # False: the robot must not hold one (logout)
    force: bool = False  # replace a corrupt config.json (a backup is kept)

    @property
    def item(self) -> str:
        return f"registry {display_name(self.registry)}"


@dataclass(frozen=True)
class DesiredState:
    credentials: tuple[DesiredCredential, ...] = ()
    images: tuple[DesiredImage, ...] = ()
    arch_override: str | None = None  # fleet_arch
    always: bool = False  # pull even an image that is up to date
    delivery: str = "direct"  # or "cache": through this machine's pull-through cache


def parse_images(value: Any, name: str = "fleet_images") -> tuple[DesiredImage, ...]:
    """`fleet_images`: a list of references, each a string or a mapping (`ref`,
    `arch_suffix`, `keep`)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadDesired(f"{name} must be a list of image references", (name,))
    images: list[DesiredImage] = []
    for index, entry in enumerate(value):
        image = _parse_image(entry, (name, index))
        if any(image.template == seen.template for seen in images):
            raise BadDesired(f"{name} lists {image.template!r} twice", (name, index))
        images.append(image)
    return tuple(images)


def _parse_image(entry: Any, path: tuple[str | int, ...]) -> DesiredImage:
    if isinstance(entry, str):
        entry = {"ref": entry}
    if not isinstance(entry, Mapping):
        raise BadDesired("an image is a reference or a mapping with ref, arch_suffix, keep", path)
    for key in entry:
        if key not in IMAGE_KEYS:
            raise BadDesired(
                f"unknown key {key!r} in an image; it takes {', '.join(IMAGE_KEYS)}",
                (*path, str(key)),
            )
    ref, arch_suffix, keep = entry.get("ref"), entry.get("arch_suffix", False), entry.get("keep")
    if not isinstance(ref, str) or not ref:
        raise BadDesired("an image needs `ref`, the reference to pull", path)
    if not isinstance(arch_suffix, bool):
        raise BadDesired("arch_suffix is true or false", (*path, "arch_suffix"))
    if keep is not None and (not isinstance(keep, int) or isinstance(keep, bool) or keep < 0):
        raise BadDesired("keep is how many older images to keep: 0 or more", (*path, "keep"))
    try:
        check_template(ref, arch_suffix)
    except BadReference as exc:
        raise BadDesired(str(exc), (*path, "ref")) from None
    return DesiredImage(ref, arch_suffix, keep)


def parse_registries(value: Any, name: str = "fleet_registries") -> dict[str, str]:
    """`fleet_registries`: registry -> the stored account the robot gets (config.json
    keys, so `docker.io` and `https://index.docker.io/v1/` are one registry)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadDesired(f"{name} maps a registry to a stored account name", (name,))
    accounts: dict[str, str] = {}
    for registry, account in value.items():
        try:
            key = config_key(str(registry))
        except BadRegistry as exc:
            raise BadDesired(str(exc), (name, str(registry))) from None
        if not isinstance(account, str) or not account:
            raise BadDesired(
                f"the account for {registry} must be a stored account's user name",
                (name, str(registry)),
            )
        if key in accounts:
            raise BadDesired(f"{name} names {display_name(key)} twice", (name, str(registry)))
        accounts[key] = account
    return accounts


def parse_delivery(value: Any, name: str = "fleet_delivery") -> str:
    """How images reach robots: `direct` from the registry, or `cache` through this
    machine's pull-through cache."""
    if value is None:
        return "direct"
    if value not in DELIVERY:
        raise BadDesired(f"{name} is {' or '.join(DELIVERY)}, not {value!r}", (name,))
    return str(value)


def account_for(host_vars: Mapping[str, Any], registry: str) -> str | None:
    """The stored account this robot uses for `registry`: `fleet_registry_accounts` (the
    per-robot choice, e.g. one read-only token per site), then the account
    `fleet_registries` declares (registry names in any spelling); None: the only one stored."""
    for name in ("fleet_registry_accounts", "fleet_registries"):
        mapping = host_vars.get(name)
        if not isinstance(mapping, Mapping):
            continue
        for declared, account in mapping.items():
            try:
                if config_key(str(declared)) == registry and isinstance(account, str):
                    return account
            except BadRegistry:
                continue
    return None


def from_inventory(
    host_vars: Mapping[str, Any], lookup: CredentialLookup, via: str | None = None
) -> DesiredState:
    """Everything the inventory declares for one robot (raises BadDesired); `via`, when
    given, overrides its `fleet_delivery`."""
    accounts = parse_registries(host_vars.get("fleet_registries"))
    chosen = {registry: account_for(host_vars, registry) or a for registry, a in accounts.items()}
    credentials = tuple(
        DesiredCredential(registry, account, lookup(registry, account))
        for registry, account in chosen.items()
    )
    return DesiredState(
        credentials=credentials,
        images=parse_images(host_vars.get("fleet_images")),
        arch_override=_arch(host_vars),
        delivery=parse_delivery(via or host_vars.get("fleet_delivery")),
    )


def _arch(host_vars: Mapping[str, Any]) -> str | None:
    value = host_vars.get("fleet_arch")
    return str(value) if value is not None else None


def for_pull(
    host_vars: Mapping[str, Any],
    template: str,
    arch_suffix: bool,
    always: bool,
    via: str | None = None,
) -> DesiredState:
    return DesiredState(
        images=(DesiredImage(template, arch_suffix),),
        arch_override=_arch(host_vars),
        always=always,
        delivery=parse_delivery(via or host_vars.get("fleet_delivery")),
    )
