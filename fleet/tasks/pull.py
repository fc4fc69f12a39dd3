"""`fleet pull`: on each robot, the variant it can run, through its own Docker daemon.

Deciding (which variant, which reference, whether the image fits, whether it is already
there) is pure and comes first; the pull itself streams, with retries for transient
faults, and the pulled image's platform is checked once more at the end.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import requests

from fleet.credentials.names import display_name
from fleet.credentials.store import Credential, Store
from fleet.inventory.model import Host
from fleet.platform import VARIANTS, Platform, UnknownVariant, choose_variant
from fleet.pullstream import PullProgress
from fleet.reference import BadReference, Reference, for_robot
from fleet.registry import Rejected, Unverifiable, manifest_platform
from fleet.results import HostResult, Status
from fleet.runner import TaskContext
from fleet.session import Session
from fleet.tasks.credentials import account_for
from fleet.transport.docker_api import api_client, docker_host_url
from fleet.transport.ssh import Unreachable

INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_AUTH = re.compile(r"no basic auth credentials|unauthorized|authentication required|denied", re.I)
_MISSING = re.compile(r"manifest unknown|not found|does not exist", re.I)
# The stream has an event per few hundred KB per layer; the screen wants a few a second.
PROGRESS_EVERY = 0.1  # seconds between one robot's progress reports
_TRANSIENT = re.compile(
    r"connection refused|connection reset|broken pipe|i/o timeout|TLS handshake timeout|"
    r"timed? ?out|unexpected EOF|\bEOF\b|50[0234]|Service Unavailable|Bad Gateway|"
    r"no route to host|temporar",
    re.I,
)


@dataclass(frozen=True)
class PullOptions:
    template: str
    arch_suffix: bool = False
    always: bool = False
    check: bool = False
    attempts: int = 3
    backoff: float = 1.0


class ImagePlatforms:
    """The platform of each single-manifest image, read from the registry once per run:
    every robot pulling one digest would otherwise fetch the same config blob again."""

    def __init__(self, ca_cert: Path | None = None) -> None:
        self.ca_cert = ca_cert
        self._known: dict[tuple[object, ...], dict[str, Any] | None] = {}
        # Held while the registry answers, so the robots waiting on one digest ask once.
        self._lock = threading.Lock()

    def of(self, ref: Reference, digest: str, credential: Credential | None) -> dict | None:
        key = (ref.registry_key, ref.repository, digest, credential)
        with self._lock:
            if key not in self._known:
                self._known[key] = manifest_platform(
                    ref.registry_key, ref.repository, digest, credential, ca_cert=self.ca_cert
                )
            return self._known[key]


class PullFailed(Exception):
    def __init__(self, message: str, status: Status = Status.FAILED) -> None:
        super().__init__(message)
        self.status = status


def platform_matches(wanted: Platform, seen: dict[str, Any]) -> bool:
    """An image fits when OS and architecture agree and the variant does not contradict."""
    if (seen.get("os") or "linux") != wanted.os or seen.get("architecture") != wanted.architecture:
        return False
    variant = seen.get("variant") or None
    return variant is None or wanted.variant is None or variant == wanted.variant


def describe(seen: dict[str, Any]) -> str:
    parts = [seen.get("os") or "linux", seen.get("architecture") or "?", seen.get("variant")]
    return "/".join(p for p in parts if p)


def classify(message: str) -> str:
    """ "auth", "missing", "transient" or "other", from the daemon's or registry's words."""
    if _AUTH.search(message):
        return "auth"
    if _MISSING.search(message):
        return "missing"
    if _TRANSIENT.search(message):
        return "transient"
    return "other"


def _auth_config(credential: Credential | None) -> dict[str, str] | None:
    if credential is None:
        return None
    return {
        "username": credential.username,
        "password": credential.secret,
        "serveraddress": credential.registry,
    }


def _error_text(exc: Exception) -> str:
    if isinstance(exc, docker.errors.APIError):
        return str(exc.explanation or exc)
    return str(exc)


def with_retries(
    action: Callable[[], Any], attempts: int, backoff: float, on_retry: Callable[[int, str], None]
) -> tuple[Any, int]:
    """Run `action`, retrying transient faults with exponential backoff; (result, retries)."""
    for attempt in range(1, attempts + 1):
        try:
            return action(), attempt - 1
        except (docker.errors.APIError, requests.exceptions.RequestException, PullFailed) as exc:
            text = _error_text(exc)
            transient = (
                isinstance(exc, requests.exceptions.RequestException)
                or classify(text) == "transient"
            )
            if not transient or attempt == attempts:
                if transient:
                    raise PullFailed(f"{text} (gave up after {attempts} attempts)") from None
                raise
            on_retry(attempt, text)
            time.sleep(backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def pull_on_robot(
    session: Session,
    host: Host,
    ctx: TaskContext,
    options: PullOptions,
    store: Store,
    image_platforms: ImagePlatforms,
) -> HostResult:
    started = time.monotonic()
    client = None
    try:
        conn = None if docker_host_url(host).startswith("tcp://") else session.connection(host)
        client = api_client(host, conn)
        return _pull(client, host, ctx, options, store, image_platforms, started)
    except (Unreachable, TimeoutError) as exc:
        return HostResult(host.name, Status.UNREACHABLE, str(exc))
    except PullFailed as exc:
        return HostResult(host.name, exc.status, str(exc))
    except (UnknownVariant, BadReference) as exc:
        return HostResult(host.name, Status.FAILED, str(exc))
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        return HostResult(host.name, Status.FAILED, _error_text(exc))
    finally:
        if client is not None:
            client.close()


def _pull(
    client: docker.APIClient,
    host: Host,
    ctx: TaskContext,
    options: PullOptions,
    store: Store,
    image_platforms: ImagePlatforms,
    started: float,
) -> HostResult:
    server = client.fleet_server  # type: ignore[attr-defined]
    # The kernel only tells ARMv6 from ARMv7 under a 32-bit arm daemon: ask only then.
    kernel = client.info().get("Architecture") if server.get("Arch") == "arm" else None
    choice = choose_variant(
        daemon_arch=server.get("Arch"), kernel_arch=kernel, override=host.vars.get("fleet_arch")
    )
    if not choice.supported:
        raise PullFailed(choice.reason)
    variant, platform = choice.variant, VARIANTS[choice.variant]  # type: ignore[index]
    ref = for_robot(options.template, variant, options.arch_suffix)  # type: ignore[arg-type]
    credential = store.get(ref.registry_key, account_for(host.vars, ref.registry_key, None))
    auth = _auth_config(credential)
    base = {"variant": variant, "platform": str(platform), "reference": str(ref)}

    def retried(attempt: int, text: str) -> None:
        ctx.progress(retry=attempt, error=text[:80])

    descriptor, retries = with_retries(
        lambda: _inspect(client, ref, auth), options.attempts, options.backoff, retried
    )
    digest = descriptor["Descriptor"]["digest"]
    _check_fits(descriptor, ref, credential, platform, image_platforms)
    local = _local_image(client, ref)
    held = _repo_digests(local, ref)
    old_digest = digest if digest in held else (held[0] if held else None)
    fits_locally = local is not None and platform_matches(platform, _image_platform(local))
    data = {**base, "digest": digest, "old_digest": old_digest}
    if digest in held and fits_locally and not options.always:
        return HostResult(
            host.name, Status.OK, f"up to date ({variant})", {**data, "pulled": False}
        )
    if options.check:
        return HostResult(
            host.name, Status.CHANGED, f"would pull {ref} for {platform}", {**data, "pulled": False}
        )
    progress, more = with_retries(
        lambda: _stream_pull(client, ref, platform, auth, ctx, variant),  # type: ignore[arg-type]
        options.attempts,
        options.backoff,
        retried,
    )
    retries += more
    image = _local_image(client, ref)
    seen = _image_platform(image) if image else {}
    if not image or not platform_matches(platform, seen):
        raise PullFailed(f"pulled image is {describe(seen)}, robot needs {platform}")
    new_digest = progress.digest or digest
    note = f" after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""
    seconds = time.monotonic() - started
    data = {**data, "digest": new_digest, "pulled": True, **progress.counts()}
    if progress.up_to_date or old_digest == new_digest:
        return HostResult(host.name, Status.OK, f"up to date ({variant}){note}", data, seconds)
    change = f"{_short(old_digest)} -> {_short(new_digest)}" if old_digest else _short(new_digest)
    return HostResult(host.name, Status.CHANGED, f"pulled {variant} {change}{note}", data, seconds)


def _short(digest: str | None) -> str:
    return digest.split(":", 1)[-1][:12] if digest else "-"


def _inspect(client: docker.APIClient, ref: Reference, auth: dict[str, str] | None) -> dict:
    try:
        return client.inspect_distribution(str(ref), auth_config=auth)
    except docker.errors.APIError as exc:
        text = _error_text(exc)
        kind = classify(text)
        if kind == "auth":
            registry = display_name(ref.registry_key)
            hint = "" if auth else f"; run fleet login {registry}"
            raise PullFailed(f"authentication required for {registry}{hint}") from None
        if kind == "missing":
            raise PullFailed(f"{ref}: not found in the registry ({text})") from None
        raise


def _check_fits(
    descriptor: dict[str, Any],
    ref: Reference,
    credential: Credential | None,
    platform: Platform,
    image_platforms: ImagePlatforms,
) -> None:
    """Refuse, before any layer moves, an image that cannot run on the robot."""
    media_type = descriptor["Descriptor"].get("mediaType")
    platforms = descriptor.get("Platforms") or []
    if media_type in INDEX_TYPES:
        if not any(platform_matches(platform, p) for p in platforms):
            offered = ", ".join(describe(p) for p in platforms) or "none"
            raise PullFailed(f"{ref} has no {platform} variant (it has {offered})")
        return
    if not platforms:
        # Docker 20.10 does not say a single manifest's platform; its config blob does.
        try:
            seen = image_platforms.of(ref, descriptor["Descriptor"]["digest"], credential)
        except (Rejected, Unverifiable) as exc:
            raise PullFailed(
                f"cannot tell which platform {ref} is for ({exc}); pass --ca-cert if this "
                "machine does not trust the registry"
            ) from None
        platforms = [seen] if seen else []
    if platforms and not platform_matches(platform, platforms[0]):
        raise PullFailed(
            f"image is {describe(platforms[0])} only; robot needs {platform} "
            "(put {arch} in the reference, e.g. dt-core:daffy-{arch}, or use --arch-suffix)"
        )


def _local_image(client: docker.APIClient, ref: Reference) -> dict[str, Any] | None:
    try:
        return client.inspect_image(str(ref))
    except docker.errors.ImageNotFound:
        return None


def _image_platform(image: dict[str, Any] | None) -> dict[str, Any]:
    if not image:
        return {}
    return {
        "os": image.get("Os"),
        "architecture": image.get("Architecture"),
        "variant": image.get("Variant"),
    }


def _repo_digests(image: dict[str, Any] | None, ref: Reference) -> list[str]:
    """Digests this image was pulled by under the reference's name: one image can hold
    several (an index's and its platform manifest's, when pulled by two tags)."""
    found = []
    for entry in (image or {}).get("RepoDigests") or []:
        name, _, digest = entry.partition("@")
        if name == ref.name:
            found.append(digest)
    return found


def _stream_pull(
    client: docker.APIClient,
    ref: Reference,
    platform: Platform,
    auth: dict[str, str] | None,
    ctx: TaskContext,
    variant: str,
) -> PullProgress:
    progress = PullProgress()
    stream = client.pull(
        ref.name,
        tag=ref.pull_tag,
        platform=str(platform),
        auth_config=auth,
        stream=True,
        decode=True,
    )
    reported = 0.0
    for event in stream:
        progress.feed(event)
        if progress.error:
            break
        now = time.monotonic()
        if now - reported >= PROGRESS_EVERY:
            reported = now
            ctx.progress(variant=variant, **progress.counts())
    if progress.error:
        kind = classify(progress.error)
        if kind == "auth":
            raise PullFailed(f"authentication required for {display_name(ref.registry_key)}")
        raise PullFailed(progress.error)
    return progress
