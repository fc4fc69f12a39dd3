"""Which image variant runs on a robot, decided from its Docker daemon (pure).

The daemon's own platform is the truth: `docker version` Server.Arch is Go's GOARCH.
A Raspberry Pi 4 on a 32-bit OS runs a 64-bit kernel (`uname -m` says aarch64) under a
32-bit Docker (`arm`): it needs arm32v7, whatever the kernel says.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str  # GOARCH
    variant: str | None = None

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


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
