"""From (desired state, robot state, what the registry says) to actions: pure, no I/O.

The same function serves `fleet login`, `logout`, `pull`, `apply` and `status`; `--check`
renders its result, the executor carries it out. Credentials come first, then images in
the order they were declared, then the pruning that `keep` asks for, each prune only
after the image it makes room for is verified on the robot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleet.credentials.names import display_name
from fleet.platform import (
    Platform,
    UnknownVariant,
    VariantChoice,
    best_match,
    choose_variant,
    matches,
)
from fleet.reference import BadReference, Reference, for_robot
from fleet.registry.model import PlatformManifest, ResolvedImage
from fleet.tasks.actions import (
    Action,
    Blocked,
    Drift,
    NoOp,
    PruneImage,
    PullImage,
    RemoveCredential,
    StoreCredential,
)
from fleet.tasks.desired import DesiredCredential, DesiredImage, DesiredState
from fleet.tasks.state import ConfigStatus, HeldImage, RobotState

# Layers arrive compressed and are unpacked beside them: an image needs room for what it
# downloads plus what that unpacks to, typically two to three times as much again.
UNPACK_FACTOR = 2.5


@dataclass(frozen=True)
class Unresolved:
    """Why the registry could not say what a reference points to."""

    reason: str


RegistryAnswer = ResolvedImage | Unresolved


def secret_sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# -- which variant, which references --


def robot_variant(desired: DesiredState, state: RobotState) -> VariantChoice:
    docker = state.docker
    try:
        return choose_variant(
            daemon_arch=docker.arch if docker else None,
            kernel_arch=docker.kernel_arch if docker else None,
            override=desired.arch_override,
        )
    except UnknownVariant as exc:
        return VariantChoice(None, f"fleet_arch: {exc}")


def reference_for(image: DesiredImage, choice: VariantChoice) -> Reference | None:
    """The reference this robot pulls for `image`; None when it can run no variant."""
    if choice.variant is None:
        return None
    return for_robot(image.template, choice.variant, image.arch_suffix)


def wanted_references(desired: DesiredState, state: RobotState) -> list[Reference]:
    """What the registry must be asked about before this robot can be planned."""
    choice = robot_variant(desired, state)
    found = []
    for image in desired.images:
        try:
            ref = reference_for(image, choice)
        except BadReference:
            continue
        if ref is not None:
            found.append(ref)
    return found


def chosen_manifest(resolved: ResolvedImage, platform: Platform) -> PlatformManifest | None:
    """The entry of an index the robot's daemon pulls; a single manifest is itself."""
    if not resolved.is_index:
        return resolved.manifests[0] if resolved.manifests else None
    index = best_match(platform, [entry.platform for entry in resolved.manifests])
    return None if index is None else resolved.manifests[index]


# -- the plan --


def plan(
    desired: DesiredState, state: RobotState, registry: Mapping[str, RegistryAnswer]
) -> list[Action]:
    actions: list[Action] = [_plan_credential(want, state) for want in desired.credentials]
    choice = robot_variant(desired, state)
    budget = _DiskBudget(state.disk.free_bytes if state.disk else None)
    images = [_plan_image(i, choice, state, registry, desired, budget) for i in desired.images]
    actions += images
    actions += _plan_prunes(desired, choice, state, images)
    return actions


def _plan_credential(want: DesiredCredential, state: RobotState) -> Action:
    config = state.config
    item = want.item
    shown = display_name(want.registry)
    if config is None:
        return Blocked(item, Drift.UNKNOWN, reason="the robot's Docker config was not read")
    if config.status is ConfigStatus.UNSAFE:
        return Blocked(
            item, Drift.UNKNOWN, reason=f"refusing to touch {config.path}: {config.problem}"
        )
    held = config.held(want.registry)
    helper = config.helper_for(want.registry)
    if config.status is ConfigStatus.CORRUPT and not (want.present and want.force):
        hint = "; fix it, or rerun with --force (which keeps a backup)" if want.present else ""
        return Blocked(item, Drift.UNKNOWN, reason=f"{config.path} is {config.problem}{hint}")
    if not want.present:
        if held is None:
            reason = f"helper {helper} holds nothing for it" if helper else "not logged in there"
            return NoOp(item, Drift.CURRENT, reason=reason)
        return RemoveCredential(
            item,
            Drift.BEHIND,
            registry=want.registry,
            path=config.path,
            via=held.via,
            config_sha256=config.sha256,
        )
    credential = want.credential
    drift = Drift.NO_CREDENTIAL if held is None else Drift.BEHIND
    if credential is None:
        who = want.username or "USER"
        return Blocked(
            item,
            drift,
            reason=f"no stored account for {shown}; run: fleet login {shown} --username {who}",
        )
    if config.status is ConfigStatus.CORRUPT:
        return StoreCredential(
            item,
            drift,
            credential=credential,
            path=config.path,
            config_sha256=config.sha256,
            replace_corrupt=True,
        )
    if (
        held is not None
        and held.username == credential.username
        and held.secret_sha256 == secret_sha256(credential.secret)
    ):
        where = f"already in helper {helper}" if helper else f"{config.path} already holds"
        reason = f"{credential.username} {where}" if helper else f"{where} {credential.username}"
        return NoOp(item, Drift.CURRENT, reason=reason)
    return StoreCredential(
        item,
        drift,
        credential=credential,
        path=config.path,
        via=helper or "auths",
        config_sha256=config.sha256,
    )


class _DiskBudget:
    """Free space on Docker's data root, spent by each pull planned before the next."""

    def __init__(self, free: int | None) -> None:
        self.free = free

    def shortfall(self, needed: int) -> int | None:
        """None when it fits (or cannot be told); else the free bytes it does not fit in."""
        if self.free is None:
            return None
        if needed > self.free:
            return self.free
        self.free -= needed
        return None


def _held_drift(held: HeldImage | None, platform: Platform) -> Drift:
    if held is None:
        return Drift.MISSING
    if held.platform is not None and not matches(platform, held.platform):
        return Drift.WRONG_PLATFORM
    return Drift.BEHIND


def is_current(
    held: HeldImage,
    ref: Reference,
    resolved: ResolvedImage,
    manifest: PlatformManifest | None,
    platform: Platform,
) -> bool:
    """Whether the image a robot holds under the reference is the one the registry serves
    for its platform: by image ID (the config digest, or the manifest's or index's digest
    on a containerd image store), or by the digest it was pulled by."""
    if held.platform is not None and not matches(platform, held.platform):
        return False
    wanted = {resolved.digest}
    if manifest is not None:
        wanted |= {d for d in (manifest.digest, manifest.config_digest) if d}
    return held.id in wanted or bool(wanted & set(held.digests_of(ref.name)))


def _plan_image(
    image: DesiredImage,
    choice: VariantChoice,
    state: RobotState,
    registry: Mapping[str, RegistryAnswer],
    desired: DesiredState,
    budget: _DiskBudget,
) -> Action:
    item = image.item
    if choice.variant is None or choice.platform is None:
        return Blocked(item, Drift.UNSUPPORTED, reason=choice.reason)
    platform, variant = choice.platform, choice.variant
    try:
        ref = for_robot(image.template, variant, image.arch_suffix)
    except BadReference as exc:
        return Blocked(item, Drift.UNKNOWN, reason=str(exc))
    held = next((h for h in state.images if h.tagged(ref)), None)
    old_digest = _digest_of(held, ref)
    data: dict[str, Any] = {"variant": variant, "platform": str(platform), "reference": str(ref)}
    drift = _held_drift(held, platform)
    answer = registry.get(str(ref)) or Unresolved(f"{ref}: the registry was not asked")
    if isinstance(answer, Unresolved):
        return Blocked(item, Drift.UNKNOWN if held else drift, reason=answer.reason, data=data)
    manifest = chosen_manifest(answer, platform)
    data |= {"digest": answer.digest, "old_digest": old_digest}
    if manifest is None:
        offered = ", ".join(str(m.platform) for m in answer.manifests) or "none"
        return Blocked(
            item, drift, reason=f"{ref} has no {platform} variant (it has {offered})", data=data
        )
    if not answer.is_index and not matches(platform, manifest.platform):
        return Blocked(
            item,
            Drift.WRONG_PLATFORM,
            reason=f"image is {manifest.platform} only; robot needs {platform} "
            "(put {arch} in the reference, e.g. dt-core:daffy-{arch}, or use --arch-suffix)",
            data=data,
        )
    data["manifest_digest"] = manifest.digest
    if held is not None and is_current(held, ref, answer, manifest, platform):
        if not desired.always:
            return NoOp(item, Drift.CURRENT, reason=f"up to date ({variant})", data=data)
        drift = Drift.CURRENT
    missing = manifest.missing_layers(state.held_layers())
    download = sum(layer.size for layer in missing) if manifest.layers else None
    if download is not None:
        needed = int(download * UNPACK_FACTOR)
        free = budget.shortfall(needed)
        if free is not None:
            where = state.disk.data_root if state.disk else "Docker's data root"
            return Blocked(
                item,
                drift,
                reason=f"needs about {_gb(needed)} ({_gb(download)} to download, then "
                f"unpacked), {_gb(free)} free on {where}",
                data=data,
            )
    return PullImage(
        item,
        drift,
        reference=ref,
        platform=platform,
        variant=variant,
        digest=answer.digest,
        manifest_digest=manifest.digest,
        config_digest=manifest.config_digest,
        layers=missing,
        download_bytes=download,
        old_digest=old_digest,
        # A digest reference cannot be tagged back from the cache's name: it goes direct.
        via="direct" if ref.digest or manifest.digest is None else desired.delivery,
    )


def _digest_of(held: HeldImage | None, ref: Reference) -> str | None:
    if held is None:
        return None
    digests = held.digests_of(ref.name)
    return digests[0] if digests else held.id


def _plan_prunes(
    desired: DesiredState,
    choice: VariantChoice,
    state: RobotState,
    image_actions: Sequence[Action],
) -> list[Action]:
    """`keep: N`: the N newest other images of the repository stay, the rest go; never
    one a container uses, nor one that a declared image is (or will be, once pulled)."""
    declared: list[tuple[DesiredImage, Reference, Action]] = []
    for image, action in zip(desired.images, image_actions, strict=True):
        try:
            ref = reference_for(image, choice)
        except BadReference:
            continue
        if ref is not None:
            declared.append((image, ref, action))
    protected: set[str] = set()
    for _, ref, action in declared:
        if isinstance(action, PullImage):
            # The image now under the tag is replaced: an older image once the pull is verified.
            protected.update(d for d in (action.config_digest,) if d)
        else:
            protected.update(held.id for held in state.images if held.tagged(ref))
    prunes: list[Action] = []
    for image, ref, action in declared:
        if image.keep is None or isinstance(action, Blocked):
            continue
        others = [
            held
            for held in state.images_of(ref.name)
            if held.id not in protected and not held.in_use
        ]
        others.sort(key=lambda held: held.created, reverse=True)
        requires = (image.item,) if isinstance(action, PullImage) else ()
        prunes += [
            PruneImage(
                image.item,
                action.drift,
                image_id=held.id,
                names=tuple(held.names_in(ref.name)),
                requires=requires,
            )
            for held in others[image.keep :]
        ]
    return prunes


def _gb(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e8 else f"{size / 1e6:.0f} MB"
