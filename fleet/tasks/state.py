"""What a robot holds, as gathered over the run's one SSH connection (pure data).

Gathering fills these in (`fleet.tasks.gather`); planning reads them and nothing else
(`fleet.tasks.plan`). Every field that came from the robot was bounded and typed where it
entered, so the planner never meets a raw dict.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from fleet.platform import Platform
from fleet.reference import Reference


@dataclass(frozen=True)
class DockerFacts:
    """The robot's Docker daemon: its own platform is the truth about what runs there."""

    os: str | None
    arch: str | None  # the daemon's GOARCH (`docker version` Server.Arch)
    version: str | None = None
    api_version: str | None = None
    kernel_arch: str | None = None  # `uname -m` (Docker info), asked only when it matters


@dataclass(frozen=True)
class DiskFacts:
    data_root: str
    free_bytes: int | None


@dataclass(frozen=True)
class HeldImage:
    id: str  # the daemon's image ID
    repo_tags: tuple[str, ...] = ()  # "name:tag"
    repo_digests: tuple[str, ...] = ()  # "name@sha256:..."
    platform: Platform | None = None
    created: str = ""  # RFC 3339; sorts in time order
    layers: tuple[str, ...] = ()  # unpacked layer digests (RootFS.Layers)
    in_use: bool = False  # a container, running or not, was made from it

    def tagged(self, reference: Reference) -> bool:
        """Whether this image answers to the reference as written (its tag or its digest)."""
        if reference.digest:
            return f"{reference.name}@{reference.digest}" in self.repo_digests
        return f"{reference.name}:{reference.tag or 'latest'}" in self.repo_tags

    def digests_of(self, name: str) -> list[str]:
        """Digests this image was pulled by under `name`: one image can hold several."""
        return [d.partition("@")[2] for d in self.repo_digests if d.partition("@")[0] == name]

    def names_in(self, name: str) -> list[str]:
        """Every tag and digest reference of this image in repository `name`."""
        tags = [t for t in self.repo_tags if t.rpartition(":")[0] == name]
        return tags + [d for d in self.repo_digests if d.partition("@")[0] == name]


class ConfigStatus(enum.StrEnum):
    MISSING = "missing"
    OK = "ok"
    CORRUPT = "corrupt"
    UNSAFE = "unsafe"  # a symlink, not a regular file, another user's: never touched


@dataclass(frozen=True)
class HeldCredential:
    registry: str  # config.json key
    username: str
    secret_sha256: str | None  # None: present but unreadable; the secret itself never kept
    via: str = "auths"  # or the credential helper that holds it


@dataclass(frozen=True)
class DockerConfigFacts:
    """The Docker user's ~/.docker/config.json on the robot, as far as registries go."""

    path: str
    status: ConfigStatus
    sha256: str | None = None  # of the file as read: a write replaces only that version
    problem: str | None = None  # why it is corrupt
    credentials: tuple[HeldCredential, ...] = ()
    creds_store: str | None = None
    cred_helpers: tuple[tuple[str, str], ...] = ()  # (registry, helper)

    def helper_for(self, registry: str) -> str | None:
        """The credential helper docker uses for this registry, if the config names one."""
        for name, helper in self.cred_helpers:
            if name == registry:
                return helper
        return self.creds_store

    def held(self, registry: str) -> HeldCredential | None:
        """What docker would use for this registry: its helper's entry if it has a helper."""
        helper = self.helper_for(registry)
        for held in self.credentials:
            if held.registry == registry and held.via == (helper or "auths"):
                return held
        return None


@dataclass(frozen=True)
class RobotState:
    host: str
    docker: DockerFacts | None = None
    disk: DiskFacts | None = None
    images: tuple[HeldImage, ...] = ()
    config: DockerConfigFacts | None = None
    notes: tuple[str, ...] = field(default=())  # what could not be gathered, and why

    def images_of(self, name: str) -> list[HeldImage]:
        return [image for image in self.images if image.names_in(name)]

    def held_layers(self) -> frozenset[str]:
        return frozenset(layer for image in self.images for layer in image.layers)


def repositories(references: Iterable[Reference]) -> list[str]:
    """The repository names (as the daemon spells them) whose images a plan looks at."""
    return list(dict.fromkeys(ref.name for ref in references))
