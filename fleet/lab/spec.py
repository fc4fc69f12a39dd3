"""What a lab is made of, decided before anything is built (pure: no I/O here)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

BRIDGE = "fleetlab0"
NETNS_PREFIX = "fleetlab-"
VETH_PREFIX = "flab"
# 198.18.0.0/15 is reserved for benchmarking networks (RFC 2544): it never routes to anyone.
SUBNET = ipaddress.IPv4Network("198.18.0.0/24")
BRIDGE_ADDRESS = SUBNET[1]
FIRST_ROBOT_HOST = 11
MAX_ROBOTS = 200
REGISTRY_PORT = 5000
# The hub plays Docker Hub "on the internet": its own namespace on the bridge, so every
# robot's and this machine's traffic to it crosses its one link, shaped by --uplink-rate.
HUB_ADDRESS = SUBNET[2]
HUB_PORT = 5000
TOKEN_PORT = 5001
HUB_NETNS = NETNS_PREFIX + "hub"
HUB_VETH = "flabhub"

_LABEL = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
_RATE = re.compile(r"^\d+(\.\d+)?(bit|kbit|mbit|gbit)$")


@dataclass(frozen=True)
class Profile:
    """A kind of robot: the root filesystem it boots and the board it claims to be."""

    name: str
    debootstrap_arch: str  # the Debian architecture of the robot's userland
    packages: tuple[str, ...]
    # The board's device-tree model string, where a real board has one.
    model: str | None = None
    # Install Docker Engine of this Debian architecture instead (dpkg multiarch): a 32-bit
    # Docker on a 64-bit userland and kernel, as on a Raspberry Pi 4 running a 32-bit OS.
    docker_arch: str | None = None

    @property
    def debian_arches(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a for a in (self.debootstrap_arch, self.docker_arch) if a))


# procps gives the robot `ps`; iproute2 `ip`. docker.io brings the CLI too, which
# `docker -H ssh://` needs on the robot (`docker system dial-stdio`).
BASE_PACKAGES = ("openssh-server", "iproute2", "procps")
ROBOT_PACKAGES = (*BASE_PACKAGES, "docker.io")

PROFILES: dict[str, Profile] = {
    "amd64": Profile("amd64", "amd64", ROBOT_PACKAGES),
    "jetson-nano": Profile(
        "jetson-nano", "arm64", ROBOT_PACKAGES, model="NVIDIA Jetson Nano Developer Kit"
    ),
    "raspberrypi3": Profile(
        "raspberrypi3", "armhf", ROBOT_PACKAGES, model="Raspberry Pi 3 Model B Rev 1.2"
    ),
    "raspberrypi4-32": Profile(
        "raspberrypi4-32",
        "arm64",
        BASE_PACKAGES,
        model="Raspberry Pi 4 Model B Rev 1.4",
        docker_arch="armhf",
    ),
}


@dataclass(frozen=True)
class Robot:
    name: str
    index: int
    profile: str
    duckiebot: bool = False

    @property
    def address(self) -> str:
        return str(SUBNET[FIRST_ROBOT_HOST + self.index - 1])

    @property
    def netns(self) -> str:
        return NETNS_PREFIX + self.name

    @property
    def veth(self) -> str:
        """Host end of the robot's link (interface names are at most 15 bytes)."""
        return f"{VETH_PREFIX}{self.index:03d}"

    @property
    def hostname(self) -> str:
        return f"{self.name}.local"


@dataclass(frozen=True)
class LabSpec:
    robots: tuple[Robot, ...]
    link_rate: str | None = None
    uplink_rate: str | None = None
    bridge: str = BRIDGE
    bridge_address: str = str(BRIDGE_ADDRESS)
    prefix_len: int = SUBNET.prefixlen
    registry_port: int = REGISTRY_PORT
    profiles_used: tuple[str, ...] = field(default=())

    @property
    def registry(self) -> str:
        return f"{self.bridge_address}:{self.registry_port}"

    @property
    def hub(self) -> str:
        return f"{HUB_ADDRESS}:{HUB_PORT}"

    @property
    def token_service(self) -> str:
        return f"{HUB_ADDRESS}:{TOKEN_PORT}"

    def to_dict(self) -> dict[str, object]:
        return {
            "robots": [
                {"name": r.name, "index": r.index, "profile": r.profile, "duckiebot": r.duckiebot}
                for r in self.robots
            ],
            "link_rate": self.link_rate,
            "uplink_rate": self.uplink_rate,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabSpec:
        robots = tuple(Robot(**r) for r in data["robots"])
        return plan_from_robots(
            robots,
            data.get("link_rate"),
            data.get("uplink_rate"),
        )


def parse_profile_counts(values: list[str]) -> list[tuple[str, int]]:
    """`raspberrypi3:2` -> ("raspberrypi3", 2); a bare name counts 1."""
    counts: list[tuple[str, int]] = []
    for value in values:
        name, _, count_text = value.partition(":")
        if name not in PROFILES:
            known = ", ".join(sorted(PROFILES))
            raise ValueError(f"unknown profile {name!r}; known profiles: {known}")
        try:
            count = int(count_text) if count_text else 1
        except ValueError:
            raise ValueError(f"bad count in --profile {value!r}: expected NAME[:COUNT]") from None
        if count < 1:
            raise ValueError(f"--profile {value!r}: the count must be at least 1")
        counts.append((name, count))
    return counts


def plan(
    *,
    robots: int | None = None,
    name_prefix: str = "robot",
    duckiebots: int = 0,
    profiles: list[tuple[str, int]] | None = None,
    link_rate: str | None = None,
    uplink_rate: str | None = None,
) -> LabSpec:
    """Name, number and address every robot; raise ValueError on input that cannot work.

    `profiles` lists (profile, count) in order; without it, `robots` native robots.
    Duckiebots are the first `duckiebots` robots.
    """
    if not _LABEL.match(name_prefix):
        raise ValueError(
            f"--name-prefix {name_prefix!r}: use lowercase letters, digits and '-', "
            "starting with a letter"
        )
    if profiles:
        total = sum(count for _, count in profiles)
        if robots is not None and robots != total:
            raise ValueError(f"--robots {robots} disagrees with the --profile counts ({total})")
        order = [name for name, count in profiles for _ in range(count)]
    else:
        total = 3 if robots is None else robots
        order = ["amd64"] * total
    if not 1 <= total <= MAX_ROBOTS:
        raise ValueError(f"a lab has 1 to {MAX_ROBOTS} robots, not {total}")
    if not 0 <= duckiebots <= total:
        raise ValueError(f"--duckiebots {duckiebots}: the lab has {total} robots")
    for option, rate in (("--link-rate", link_rate), ("--uplink-rate", uplink_rate)):
        if rate is not None and not _RATE.match(rate):
            raise ValueError(
                f"{option} {rate!r}: expected a tc rate such as 50mbit, 800kbit or 1gbit"
            )
    width = max(2, len(str(total)))
    planned = tuple(
        Robot(
            name=f"{name_prefix}{i:0{width}d}",
            index=i,
            profile=profile,
            duckiebot=i <= duckiebots,
        )
        for i, profile in enumerate(order, start=1)
    )
    return plan_from_robots(planned, link_rate, uplink_rate)


def plan_from_robots(
    robots: tuple[Robot, ...], link_rate: str | None, uplink_rate: str | None = None
) -> LabSpec:
    used = tuple(dict.fromkeys(r.profile for r in robots))
    return LabSpec(robots=robots, link_rate=link_rate, uplink_rate=uplink_rate, profiles_used=used)
