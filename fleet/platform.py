"""Which image variant runs on a robot, decided from its Docker daemon (pure).

The daemon's own platform is the truth: `docker version` Server.Arch is Go's GOARCH.
A Raspberry Pi 4 on a 32-bit OS runs a 64-bit kernel (`uname -m` says aarch64) under a
32-bit Docker (`arm`): it needs arm32v7, whatever the kernel says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_FIELD = 32  # longer than any real os, architecture or variant name


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str  # GOARCH
    variant: str | None = None

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> Platform:
        """A platform as registries and daemons write it (`os`, `architecture`, `variant`,
        or the daemon's `Os`, `Architecture`, `Variant`): the one place such dicts enter."""
        data = data or {}

        def field(*keys: str) -> str | None:
            for key in keys:
                value = data.get(key)
                if isinstance(value, str) and value:
                    return value[:MAX_FIELD]
            return None

        return cls(
            field("os", "Os") or "linux",
            field("architecture", "Architecture") or "unknown",
            field("variant", "Variant"),
        )

    @classmethod
    def parse(cls, text: str) -> Platform:
        """`linux/arm/v7` -> Platform("linux", "arm", "v7")."""
        parts = text.strip().split("/")
        if not 2 <= len(parts) <= 3 or not all(parts):
            raise ValueError(f"{text!r} is not a platform (os/architecture[/variant])")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


VARIANTS: dict[str, Platform] = {
    "arm32v7": Platform("linux", "arm", "v7"),
    "arm64v8": Platform("linux", "arm64", "v8"),
    "amd64": Platform("linux", "amd64"),
}
# Other spellings people put in `fleet_arch`.
ALIASES = {
    "armhf": "arm32v7",
    "arm": "arm32v7",
    "armv7": "arm32v7",
    "linux/arm/v7": "arm32v7",
    "arm64": "arm64v8",
    "aarch64": "arm64v8",
    "linux/arm64": "arm64v8",
    "linux/arm64/v8": "arm64v8",
    "x86_64": "amd64",
    "linux/amd64": "amd64",
}
DAEMON_TO_VARIANT = {"arm64": "arm64v8", "amd64": "amd64"}
ARMV6 = ("armv6l", "armv6", "armv5tel")
ARM64_KERNELS = ("aarch64", "arm64", "armv8b", "armv8l")


class UnknownVariant(ValueError):
    pass


def normalise_variant(name: str) -> str:
    key = name.strip().lower()
    if key in VARIANTS:
        return key
    if key in ALIASES:
        return ALIASES[key]
    raise UnknownVariant(f"unknown variant {name!r}; use one of {', '.join(VARIANTS)}")


@dataclass(frozen=True)
class VariantChoice:
    variant: str | None
    reason: str

    @property
    def platform(self) -> Platform | None:
        return VARIANTS.get(self.variant) if self.variant else None

    @property
    def supported(self) -> bool:
        return self.variant is not None


def choose_variant(
    *,
    daemon_arch: str | None,
    kernel_arch: str | None = None,
    override: str | None = None,
) -> VariantChoice:
    """The variant to pull for a robot, with the reason a person can check."""
    if override:
        variant = normalise_variant(override)
        seen = f" (the daemon says linux/{daemon_arch})" if daemon_arch else ""
        return VariantChoice(variant, f"fleet_arch in the inventory{seen}")
    if not daemon_arch:
        return VariantChoice(None, "the Docker daemon did not answer")
    if daemon_arch in DAEMON_TO_VARIANT:
        return VariantChoice(
            DAEMON_TO_VARIANT[daemon_arch], f"Docker daemon is linux/{daemon_arch}"
        )
    if daemon_arch != "arm":
        return VariantChoice(None, f"unsupported: no image variant for linux/{daemon_arch}")
    kernel = (kernel_arch or "").lower()
    if kernel.startswith(ARMV6) or kernel in ARMV6:
        return VariantChoice(
            None, f"unsupported: ARMv6 ({kernel}, Raspberry Pi Zero/1); arm32v7 images do not run"
        )
    if kernel in ARM64_KERNELS:
        return VariantChoice("arm32v7", f"32-bit Docker on a 64-bit kernel ({kernel})")
    if kernel.startswith("armv7"):
        return VariantChoice("arm32v7", f"32-bit ARM ({kernel})")
    return VariantChoice(
        None,
        f"unsupported: Docker is linux/arm but the kernel ({kernel or 'unknown'}) "
        "does not say ARMv7 or newer",
    )


# -- Choosing among an index's platforms, as the Docker Engine does (containerd's matcher) --


def normalise(platform: Platform) -> Platform:
    """containerd's canonical form: aarch64 -> arm64 (v8 is no variant), x86_64 -> amd64,
    arm without a variant is arm/v7, armhf is arm/v7, armel is arm/v6."""
    os_name = platform.os.lower()
    arch, variant = platform.architecture.lower(), (platform.variant or "").lower()
    if arch in ("x86_64", "x86-64", "amd64"):
        arch, variant = "amd64", "" if variant == "v1" else variant
    elif arch in ("aarch64", "arm64"):
        arch, variant = "arm64", "" if variant in ("8", "v8") else variant
    elif arch == "armhf":
        arch, variant = "arm", "v7"
    elif arch == "armel":
        arch, variant = "arm", "v6"
    elif arch == "arm":
        variant = {"": "v7", "5": "v5", "6": "v6", "7": "v7", "8": "v8"}.get(variant, variant)
    return Platform(os_name, arch, variant or None)


def accepted_by(robot: Platform) -> tuple[Platform, ...]:
    """What a robot's daemon accepts, best first: linux/arm/v7 takes arm/v7, then v6, then
    v5; linux/arm64 takes arm64 (v8 or no variant); linux/amd64 takes amd64.

    containerd also lets amd64 take 386 and (since 2023) arm64 take 32-bit arm; fleet does
    not: the Engines on robots (20.10) do not, and many arm64 boards cannot run 32-bit code.
    """
    wanted = normalise(robot)
    vector = [wanted]
    if wanted.architecture == "arm" and wanted.variant and wanted.variant[1:].isdigit():
        version = int(wanted.variant[1:])
        vector += [Platform(wanted.os, "arm", f"v{v}") for v in range(version - 1, 4, -1)]
    return tuple(vector)


def matches(robot: Platform, image: Platform) -> bool:
    """Whether an image of `image`'s platform runs on the robot."""
    return normalise(image) in accepted_by(robot)


def best_match(robot: Platform, offered: Sequence[Platform]) -> int | None:
    """Index of the offered platform the robot's daemon would pull, or None."""
    candidates = [normalise(p) for p in offered]
    for acceptable in accepted_by(robot):
        if acceptable in candidates:
            return candidates.index(acceptable)
    return None
