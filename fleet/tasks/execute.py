"""Carrying out a plan on one robot: the only step that changes a robot (I/O).

Actions run in the plan's order; each ends ok, changed or failed with its reason. An
action whose item failed earlier (a prune after its pull) is skipped; a robot that stops
answering ends every action still to come. `preview` is `--check`: the same actions,
rendered as what they would do, and nothing run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import docker
import requests

from fleet.cache.deliver import CacheDelivery
from fleet.credentials import dockerconfig
from fleet.credentials.store import Credential
from fleet.platform import Platform, matches
from fleet.pullstream import PullProgress, short_id
from fleet.reference import Reference
from fleet.results import Status
from fleet.runner import TaskContext
from fleet.tasks import images as image_ops
from fleet.tasks.actions import (
    Action,
    ActionResult,
    Blocked,
    NoOp,
    PruneImage,
    PullImage,
    RemoveCredential,
    StoreCredential,
    TagImage,
    short_digest,
)
from fleet.tasks.gather import Robot
from fleet.tasks.robot_config import (
    ConfigChanged,
    ConfigFile,
    RemoteError,
    helper_call,
    read_config,
    write_config,
)
from fleet.transport.ssh import Unreachable

CredentialFor = Callable[[Reference], Credential | None]
WRITE_ATTEMPTS = 3  # another writer replaced config.json between our read and our write


@dataclass(frozen=True)
class ExecuteOptions:
    attempts: int = 3  # per pull, for transient faults
    backoff: float = 1.0
    cache: CacheDelivery | None = None  # for pulls `via` the cache


def preview(actions: Sequence[Action]) -> list[ActionResult]:
    """`--check`: what each action would do, as a result, with nothing run."""
    results = []
    for action in actions:
        if isinstance(action, NoOp):
            results.append(ActionResult(action, Status.OK, action.reason, action.data))
        elif isinstance(action, Blocked):
            results.append(ActionResult(action, Status.FAILED, action.reason, action.data))
        else:
            results.append(
                ActionResult(action, Status.CHANGED, f"would {action.describe()}", _data(action))
            )
    return results


def execute(
    robot: Robot,
    actions: Sequence[Action],
    ctx: TaskContext,
    credential_for: CredentialFor,
    options: ExecuteOptions = ExecuteOptions(),
) -> list[ActionResult]:
    results: list[ActionResult] = []
    failed_items: set[str] = set()
    gone: str | None = None  # why the robot stopped answering
    for action in actions:
        started = time.monotonic()
        if gone is not None:
            result = ActionResult(action, Status.UNREACHABLE, gone)
        elif ctx.cancelled.is_set():
            result = ActionResult(action, Status.SKIPPED, "cancelled before it started")
        elif set(action.requires) & failed_items:
            result = ActionResult(action, Status.SKIPPED, f"{action.item} did not succeed")
        else:
            try:
                result = _run(robot, action, ctx, credential_for, options)
            except Unreachable as exc:
                gone = str(exc)
                result = ActionResult(action, Status.UNREACHABLE, gone)
            except (RemoteError, image_ops.ImageError) as exc:
                result = ActionResult(action, Status.FAILED, str(exc))
            except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
                result = ActionResult(action, Status.FAILED, image_ops.error_text(exc))
        if result.status in (Status.FAILED, Status.UNREACHABLE, Status.SKIPPED):
            failed_items.add(action.item)
        if not result.seconds:
            result = ActionResult(
                result.action, result.status, result.reason, result.data, time.monotonic() - started
            )
        ctx.action(result)
        results.append(result)
    return results


def _run(
    robot: Robot,
    action: Action,
    ctx: TaskContext,
    credential_for: CredentialFor,
    options: ExecuteOptions,
) -> ActionResult:
    if isinstance(action, NoOp):
        return ActionResult(action, Status.OK, action.reason, action.data)
    if isinstance(action, Blocked):
        return ActionResult(action, Status.FAILED, action.reason, action.data)
    if isinstance(action, StoreCredential):
        return _store_credential(robot, action)
    if isinstance(action, RemoveCredential):
        return _remove_credential(robot, action)
    if isinstance(action, PullImage) and action.via == "cache":
        return _pull_through_cache(robot, action, ctx, credential_for(action.reference), options)
    if isinstance(action, PullImage):
        return _pull(robot, action, ctx, credential_for(action.reference), options)
    if isinstance(action, TagImage):
        image_ops.tag(robot.docker().client, action.source, action.target)
        return ActionResult(action, Status.CHANGED, f"tagged {action.target}")
    if isinstance(action, PruneImage):
        removed = image_ops.remove(robot.docker().client, list(action.names))
        if not removed:
            return ActionResult(action, Status.OK, f"{short_digest(action.image_id)} already gone")
        return ActionResult(
            action,
            Status.CHANGED,
            f"removed {', '.join(removed)} ({short_digest(action.image_id)})",
            {"removed": removed},
        )
    raise TypeError(f"no executor for {type(action).__name__}")


# -- credentials --


def _current_config(robot: Robot, expected_sha256: str | None) -> ConfigFile:
    """The file as gathered when it is the version the plan read, else read afresh."""
    gathered = robot.config_file
    if gathered is not None and gathered.sha256 == expected_sha256 and not gathered.unsafe:
        return gathered
    return read_config(robot.shell)


def _store_credential(robot: Robot, action: StoreCredential) -> ActionResult:
    credential = action.credential
    if action.via != "auths":
        payload = {
            "ServerURL": credential.registry,
            "Username": credential.username,
            "Secret": credential.secret,
        }
        helper_call(robot.shell, action.via, "store", json.dumps(payload).encode())
        return ActionResult(
            action, Status.CHANGED, f"stored {credential.username} in helper {action.via}"
        )
    expected = action.config_sha256
    for _ in range(WRITE_ATTEMPTS):
        current = _current_config(robot, expected)
        if current.unsafe:
            raise RemoteError(f"refusing to write: {current.unsafe}")
        if action.replace_corrupt:
            text = dockerconfig.set_auth(
                "", credential.registry, credential.username, credential.secret
            ).text
        else:
            try:
                edit = dockerconfig.set_auth(
                    current.text or "", credential.registry, credential.username, credential.secret
                )
            except dockerconfig.CorruptConfig as exc:
                raise RemoteError(f"{current.path} is {exc}") from None
            if not edit.changed:  # another run wrote the same account meanwhile
                return ActionResult(
                    action, Status.OK, f"{current.path} already holds {credential.username}"
                )
            text = edit.text
        try:
            write_config(robot.shell, text, current.sha256, backup=action.replace_corrupt)
        except ConfigChanged:
            robot.config_file, expected = None, None
            continue
        robot.config_file = None
        if action.replace_corrupt:
            return ActionResult(
                action, Status.CHANGED, f"replaced the corrupt {current.path} (backup kept)"
            )
        return ActionResult(
            action, Status.CHANGED, f"wrote {credential.username} to {current.path}"
        )
    raise RemoteError(f"{action.path} kept changing while fleet wrote it; run again")


def _remove_credential(robot: Robot, action: RemoveCredential) -> ActionResult:
    if action.via != "auths":
        helper_call(robot.shell, action.via, "erase", action.registry.encode())
        return ActionResult(action, Status.CHANGED, f"erased from helper {action.via}")
    expected = action.config_sha256
    for _ in range(WRITE_ATTEMPTS):
        current = _current_config(robot, expected)
        if current.unsafe:
            raise RemoteError(f"refusing to write: {current.unsafe}")
        try:
            edit = dockerconfig.remove_auth(current.text or "", action.registry)
        except dockerconfig.CorruptConfig as exc:
            raise RemoteError(f"{current.path} is {exc}") from None
        if not edit.changed:
            return ActionResult(action, Status.OK, "not logged in there")
        try:
            write_config(robot.shell, edit.text, current.sha256)
        except ConfigChanged:
            robot.config_file, expected = None, None
            continue
        robot.config_file = None
        return ActionResult(action, Status.CHANGED, f"removed from {current.path}")
    raise RemoteError(f"{action.path} kept changing while fleet wrote it; run again")


# -- images --


def _stream(
    robot: Robot,
    action: PullImage,
    source: Reference,
    ctx: TaskContext,
    credential: Credential | None,
    options: ExecuteOptions,
) -> tuple[PullProgress, int]:
    """Pull `source` through the robot's daemon for the action's platform, with retries;
    then check that what the daemon now holds under that name runs on the robot."""
    client = robot.docker().client
    expected = {short_id(layer.digest): layer.size for layer in action.layers}

    def report(counts: dict[str, int]) -> None:
        ctx.progress(item=action.item, variant=action.variant, **counts)

    def attempt() -> PullProgress:
        progress = PullProgress(expected=dict(expected))
        return image_ops.stream_pull(
            client, source, action.platform, credential, progress, report, ctx.cancelled
        )

    def retried(attempt_number: int, text: str) -> None:
        ctx.progress(item=action.item, retry=attempt_number, error=text[:80])

    pulled, retries = image_ops.with_retries(
        attempt, options.attempts, options.backoff, retried, ctx.cancelled
    )
    image = image_ops.inspect(client, str(source))
    seen = Platform.from_mapping(image) if image else None
    if seen is None or not matches(action.platform, seen):
        raise image_ops.ImageError(
            f"pulled image is {seen or 'missing'}, robot needs {action.platform}"
        )
    return pulled, retries


def _pull(
    robot: Robot,
    action: PullImage,
    ctx: TaskContext,
    credential: Credential | None,
    options: ExecuteOptions,
) -> ActionResult:
    progress, retries = _stream(robot, action, action.reference, ctx, credential, options)
    return _pulled(action, progress, retries)


def _pull_through_cache(
    robot: Robot,
    action: PullImage,
    ctx: TaskContext,
    credential: Credential | None,
    options: ExecuteOptions,
) -> ActionResult:
    """From this machine's cache, by digest, over the robot's SSH connection; then under
    its real name. The cache's name never stays on the robot, whatever happens."""
    if options.cache is None or action.manifest_digest is None or action.digest is None:
        raise image_ops.ImageError(
            "the cache route needs the registry's manifest; use --via direct"
        )
    ref = action.reference
    instance, warmer = options.cache.cache_for(ref.registry_key, credential)
    ctx.progress(item=action.item, step="warming the cache")
    warmer.ensure(ref, action.manifest_digest)
    port = robot.forward(instance.port)
    source = Reference(f"127.0.0.1:{port}", ref.repository, None, action.digest)
    client = robot.docker().client
    try:
        progress, retries = _stream(robot, action, source, ctx, None, options)
        image_ops.tag(client, str(source), ref)
    finally:
        image_ops.remove(client, [str(source)])
    result = _pulled(action, progress, retries)
    return ActionResult(
        result.action, result.status, f"{result.reason} (from the cache)", result.data
    )


def _pulled(action: PullImage, progress: PullProgress, retries: int) -> ActionResult:
    new_digest = progress.digest or action.digest
    note = f" after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""
    data = {**_data(action), "digest": new_digest, "pulled": True, **progress.counts()}
    if progress.up_to_date or action.old_digest == new_digest:
        return ActionResult(action, Status.OK, f"up to date ({action.variant}){note}", data)
    old = short_digest(action.old_digest)
    change = (
        f"{old} -> {short_digest(new_digest)}" if action.old_digest else short_digest(new_digest)
    )
    return ActionResult(action, Status.CHANGED, f"pulled {action.variant} {change}{note}", data)


def _data(action: Action) -> dict[str, Any]:
    """What a result says of its image, in the keys `fleet pull` has always reported."""
    if not isinstance(action, PullImage):
        return {}
    return {
        "variant": action.variant,
        "platform": str(action.platform),
        "reference": str(action.reference),
        "digest": action.digest,
        "manifest_digest": action.manifest_digest,
        "old_digest": action.old_digest,
        "pulled": False,
    }
