"""What a plan says to do on one robot (pure data).

The planner returns these; `--check` renders them; the executor carries them out. Each
action names the declared item it serves (`item`), how far the robot is from it (`drift`,
what `fleet status` shows) and, for the ones that change something, what it would do.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from fleet.credentials.names import display_name, fingerprint
from fleet.credentials.store import Credential
from fleet.platform import Platform
from fleet.reference import Reference
from fleet.registry.model import Layer
from fleet.results import Status


class Drift(enum.StrEnum):
    CURRENT = "current"
    BEHIND = "behind"
    MISSING = "missing"
    WRONG_PLATFORM = "wrong platform"
    NO_CREDENTIAL = "no credential"
    UNSUPPORTED = "unsupported"
    UNKNOWN = "unknown"  # the robot or the registry could not say


@dataclass(frozen=True)
class Action:
    item: str  # the declared item: "image demo/payload:v1", "registry docker.io"
    drift: Drift
    # Items whose actions must all succeed before this one runs (prune after pull).
    requires: tuple[str, ...] = field(default=(), kw_only=True)

    kind: ClassVar[str] = "action"
    changes: ClassVar[bool] = True  # False: nothing to do, or nothing that can be done

    def describe(self) -> str:
        """What executing it does, in a few words (the --check line)."""
        raise NotImplementedError

    def record(self) -> dict[str, Any]:
        """The action as JSON: no secret, ever."""
        return {"action": self.kind, "item": self.item, "drift": str(self.drift)}


@dataclass(frozen=True)
class NoOp(Action):
    reason: str = ""
    data: Mapping[str, Any] = field(default_factory=dict, kw_only=True)
    kind: ClassVar[str] = "none"
    changes: ClassVar[bool] = False

    def describe(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Blocked(Action):
    """A decision that the item cannot be reached on this robot: it ends `failed` with
    the reason, and nothing is touched."""

    reason: str = ""
    data: Mapping[str, Any] = field(default_factory=dict, kw_only=True)
    kind: ClassVar[str] = "blocked"
    changes: ClassVar[bool] = False

    def describe(self) -> str:
        return self.reason


@dataclass(frozen=True)
class StoreCredential(Action):
    credential: Credential
    path: str  # the Docker user's config.json
    via: str = "auths"  # or the credential helper that stores it
    config_sha256: str | None = None  # the file as read; None: it did not exist
    replace_corrupt: bool = False
    kind: ClassVar[str] = "store_credential"

    def describe(self) -> str:
        where = f"helper {self.via}" if self.via != "auths" else self.path
        verb = "replace the corrupt file with" if self.replace_corrupt else "store"
        return (
            f"{verb} {self.credential.username} for {display_name(self.credential.registry)} "
            f"in {where}"
        )

    def record(self) -> dict[str, Any]:
        return {
            **super().record(),
            "registry": display_name(self.credential.registry),
            "username": self.credential.username,
            "fingerprint": fingerprint(self.credential.secret),
            "via": self.via,
        }


@dataclass(frozen=True)
class RemoveCredential(Action):
    registry: str
    path: str
    via: str = "auths"
    config_sha256: str | None = None
    kind: ClassVar[str] = "remove_credential"

    def describe(self) -> str:
        where = f"helper {self.via}" if self.via != "auths" else self.path
        return f"remove {display_name(self.registry)} from {where}"

    def record(self) -> dict[str, Any]:
        return {**super().record(), "registry": display_name(self.registry), "via": self.via}


@dataclass(frozen=True)
class PullImage(Action):
    reference: Reference
    platform: Platform
    variant: str
    digest: str | None  # what the reference points to (index or manifest), when known
    manifest_digest: str | None = None  # this platform's manifest
    config_digest: str | None = None  # the image ID the pull must end with
    layers: tuple[Layer, ...] = ()  # the layers the robot lacks (sizes for progress)
    download_bytes: int | None = None
    old_digest: str | None = None  # what the robot held under this name
    via: str = "direct"  # or "cache": from this machine's pull-through cache, over SSH
    kind: ClassVar[str] = "pull"

    def describe(self) -> str:
        size = f", {_megabytes(self.download_bytes)}" if self.download_bytes else ""
        route = " through the cache" if self.via == "cache" else ""
        return f"pull {self.reference} for {self.platform}{size}{route}"

    def record(self) -> dict[str, Any]:
        return {
            **super().record(),
            "reference": str(self.reference),
            "platform": str(self.platform),
            "variant": self.variant,
            "digest": self.digest,
            "manifest_digest": self.manifest_digest,
            "old_digest": self.old_digest,
            "download_bytes": self.download_bytes,
            "via": self.via,
        }


@dataclass(frozen=True)
class TagImage(Action):
    source: str  # what the daemon calls the image now
    target: Reference
    kind: ClassVar[str] = "tag"

    def describe(self) -> str:
        return f"tag {self.source} as {self.target}"

    def record(self) -> dict[str, Any]:
        return {**super().record(), "source": self.source, "target": str(self.target)}


@dataclass(frozen=True)
class PruneImage(Action):
    image_id: str
    names: tuple[str, ...]  # the repository's tags and digests of that image, removed
    kind: ClassVar[str] = "prune"

    def describe(self) -> str:
        return f"remove {', '.join(self.names)} ({short_digest(self.image_id)})"

    def record(self) -> dict[str, Any]:
        return {**super().record(), "image_id": self.image_id, "names": list(self.names)}


@dataclass(frozen=True)
class ActionResult:
    action: Action
    status: Status
    reason: str
    data: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def record(self) -> dict[str, Any]:
        """One action's outcome as JSON, in the shape of Ansible's per-task results."""
        return {
            **self.action.record(),
            "changed": self.status is Status.CHANGED,
            "failed": self.status in (Status.FAILED, Status.UNREACHABLE),
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
            **dict(self.data),
        }


def short_digest(digest: str | None) -> str:
    return digest.split(":", 1)[-1][:12] if digest else "-"


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
