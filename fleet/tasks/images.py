"""Images on a robot, through its Docker daemon's Engine API (I/O): what it holds, what
the registry offers as the daemon sees it, and pulling, tagging, removing.

Transient faults (a registry restarting, a dropped connection) are retried with
backoff; the daemon's own words become the reason when they are not.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import docker
import requests
import urllib3

from fleet.credentials.names import display_name
from fleet.credentials.store import Credential
from fleet.errors import RobotError
from fleet.platform import Platform
from fleet.pullstream import PullProgress
from fleet.reference import Reference
from fleet.registry import Rejected, Unverifiable, manifest_platform

_AUTH = re.compile(r"no basic auth credentials|unauthorized|authentication required|denied", re.I)
_MISSING = re.compile(r"manifest unknown|not found|does not exist", re.I)
_TRANSIENT = re.compile(
    r"connection refused|connection reset|broken pipe|i/o timeout|TLS handshake timeout|"
    r"timed? ?out|unexpected EOF|\bEOF\b|50[0234]|Service Unavailable|Bad Gateway|"
    r"no route to host|temporar",
    re.I,
)
# The stream has an event per few hundred KB per layer; the screen wants a few a second.
PROGRESS_EVERY = 0.1  # seconds between one robot's progress reports

T = TypeVar("T")


class ImageError(RobotError):
    """An image step failed on the robot or at the registry; the message says why."""


def classify(message: str) -> str:
    """ "auth", "missing", "transient" or "other", from the daemon's or registry's words."""
    if _AUTH.search(message):
        return "auth"
    if _MISSING.search(message):
        return "missing"
    if _TRANSIENT.search(message):
        return "transient"
    return "other"


def error_text(exc: Exception) -> str:
    if isinstance(exc, docker.errors.APIError):
        return str(exc.explanation or exc)
    return str(exc)


def auth_config(credential: Credential | None) -> dict[str, str] | None:
    """What the Engine API sends the registry with a pull: the robot need not hold it."""
    if credential is None:
        return None
    return {
        "username": credential.username,
        "password": credential.secret,
        "serveraddress": credential.registry,
    }


# docker-py reads a pull's progress stream from urllib3 itself: a connection that breaks
# mid-stream raises urllib3's ProtocolError, not a requests exception.
_CONNECTION_ERRORS = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError)


def with_retries(
    action: Callable[[], T],
    attempts: int,
    backoff: float,
    on_retry: Callable[[int, str], None] = lambda attempt, text: None,
    cancelled: threading.Event | None = None,
) -> tuple[T, int]:
    """Run `action`, retrying transient faults with exponential backoff; (result, retries)."""
    for attempt in range(1, attempts + 1):
        try:
            return action(), attempt - 1
        except (docker.errors.APIError, *_CONNECTION_ERRORS, ImageError) as exc:
            text = error_text(exc)
            # A connection that broke is retried: the next attempt opens a new channel, and
            # raises Unreachable when the robot's SSH connection itself is gone.
            transient = isinstance(exc, _CONNECTION_ERRORS) or classify(text) == "transient"
            stop = cancelled is not None and cancelled.is_set()
            if not transient or attempt == attempts or stop:
                if transient:
                    raise ImageError(f"{text} (gave up after {attempt} attempts)") from None
                raise
            on_retry(attempt, text)
            time.sleep(backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def inspect(client: docker.APIClient, name: str) -> dict[str, Any] | None:
    try:
        found = client.inspect_image(name)
    except docker.errors.ImageNotFound:
        return None
    return found if isinstance(found, dict) else None


def inspect_distribution(
    client: docker.APIClient,
    ref: Reference,
    credential: Credential | None,
    attempts: int = 3,
    backoff: float = 1.0,
) -> dict[str, Any]:
    """What the registry serves for `ref`, asked by the robot's daemon (raises ImageError)."""
    auth = auth_config(credential)

    def ask() -> dict[str, Any]:
        try:
            return client.inspect_distribution(str(ref), auth_config=auth)
        except docker.errors.APIError as exc:
            text = error_text(exc)
            kind = classify(text)
            if kind == "auth":
                registry = display_name(ref.registry_key)
                hint = "" if auth else f"; run fleet login {registry}"
                raise ImageError(f"authentication required for {registry}{hint}") from None
            if kind == "missing":
                raise ImageError(f"{ref}: not found in the registry ({text})") from None
            raise

    try:
        found, _ = with_retries(ask, attempts, backoff)
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        raise ImageError(error_text(exc)) from None
    if not isinstance(found, dict) or not isinstance(found.get("Descriptor"), dict):
        raise ImageError(f"{ref}: the daemon's answer about it made no sense")
    if not isinstance(found["Descriptor"].get("digest"), str):
        raise ImageError(f"{ref}: the registry named no digest for it")
    return found


class ImagePlatforms:
    """The platform of each single-manifest image, read from the registry once per run:
    every robot pulling one digest would otherwise fetch the same config blob again."""

    def __init__(self, ca_cert: Path | None = None) -> None:
        self.ca_cert = ca_cert
        self._known: dict[tuple[object, ...], Platform | str] = {}
        # Held while the registry answers, so the robots waiting on one digest ask once.
        self._lock = threading.Lock()

    def of(self, ref: Reference, digest: str, credential: Credential | None) -> Platform | str:
        """The platform, or (a string) why it could not be told; failures are not kept."""
        key = (ref.registry_key, ref.repository, digest, credential)
        with self._lock:
            if key in self._known:
                return self._known[key]
            try:
                seen = manifest_platform(
                    ref.registry_key, ref.repository, digest, credential, ca_cert=self.ca_cert
                )
            except (Rejected, Unverifiable) as exc:
                return (
                    f"cannot tell which platform {ref} is for ({exc}); pass --ca-cert if this "
                    "machine does not trust the registry"
                )
            if seen is None:
                return f"cannot tell which platform {ref} is for: the registry did not say"
            self._known[key] = Platform.from_mapping(seen)
            return self._known[key]


def stream_pull(
    client: docker.APIClient,
    ref: Reference,
    platform: Platform,
    credential: Credential | None,
    progress: PullProgress,
    report: Callable[[dict[str, int]], None],
    cancelled: threading.Event | None = None,
) -> PullProgress:
    """Pull through the daemon, reading its stream; an error inside a 200 stream (which
    docker-py does not raise) ends the pull with the daemon's words."""
    stream = client.pull(
        ref.name,
        tag=ref.pull_tag,
        platform=str(platform),
        auth_config=auth_config(credential),
        stream=True,
        decode=True,
    )
    reported = 0.0
    for event in stream:
        if cancelled is not None and cancelled.is_set():
            # Closing the stream makes the daemon cancel the pull: nothing is tagged.
            raise ImageError("cancelled")
        progress.feed(event)
        if progress.error:
            break
        now = time.monotonic()
        if now - reported >= PROGRESS_EVERY:
            reported = now
            report(progress.counts())
    if progress.error:
        if classify(progress.error) == "auth":
            raise ImageError(f"authentication required for {display_name(ref.registry_key)}")
        raise ImageError(progress.error)
    return progress


def tag(client: docker.APIClient, source: str, target: Reference) -> None:
    if not client.tag(source, target.name, target.tag or "latest"):
        raise ImageError(f"the daemon would not tag {source} as {target}")


def remove(client: docker.APIClient, names: Mapping[str, str] | list[str]) -> list[str]:
    """Remove each name (a tag or a digest reference); a name already gone is fine. The
    image itself goes when no name is left on it. Returns what was removed."""
    removed = []
    for name in names:
        try:
            client.remove_image(name)
        except docker.errors.ImageNotFound:
            continue
        except docker.errors.APIError as exc:
            raise ImageError(f"cannot remove {name}: {error_text(exc)}") from None
        removed.append(name)
    return removed
