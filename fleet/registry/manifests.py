"""Reading manifests, indexes and image configs as a registry sends them (pure).

Every field is checked where it enters: digests are sha256 of the right shape, sizes are
non-negative integers, platform names are short plain words. Anything else is an odd
answer (Unverifiable) that names the document and what was wrong with it.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from fleet.platform import Platform
from fleet.registry.errors import Unverifiable, remote_text
from fleet.registry.model import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    Layer,
    PlatformManifest,
)

DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_PLATFORM_WORD = re.compile(r"[A-Za-z0-9._+-]{1,64}")
SCHEMA1_TYPES = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
MAX_ENTRIES = 1024  # platforms in an index, layers in a manifest
ATTESTATION = "attestation-manifest"  # BuildKit's provenance entries: not a platform


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(data: bytes, expected: str, what: str) -> None:
    """Refuse content whose sha256 is not the digest it was asked by."""
    if not DIGEST.fullmatch(expected):
        raise Unverifiable(f"{what}: {remote_text(expected, 80)} is not a sha256 digest")
    actual = sha256_digest(data)
    if actual != expected:
        raise Unverifiable(f"{what}: the content's digest is {actual}, not {expected}; refused")


def json_object(body: bytes, what: str) -> dict[str, Any]:
    """`body` as a JSON object, or Unverifiable naming `what` it should have been."""
    try:
        value = json.loads(body)
    except ValueError:
        raise Unverifiable(f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise Unverifiable(f"{what} is JSON but not an object")
    return value


def load_document(body: bytes, what: str) -> dict[str, Any]:
    """A manifest or index as JSON, schema 2 only."""
    document = json_object(body, what)
    if document.get("schemaVersion") == 1 or document.get("mediaType") in SCHEMA1_TYPES:
        raise Unverifiable(
            f"{what} is a schema 1 manifest, which Docker no longer pulls: push the image "
            "again with a current tool"
        )
    if document.get("schemaVersion") != 2:
        raise Unverifiable(f"{what} has no schemaVersion 2")
    return document


def media_type(document: dict[str, Any], what: str) -> str:
    """The document's type; OCI allows it to be left out, then its shape says it."""
    declared = document.get("mediaType")
    if declared is None:
        declared = OCI_INDEX if "manifests" in document else OCI_MANIFEST
    if declared not in INDEX_TYPES + MANIFEST_TYPES:
        raise Unverifiable(
            f"{what} is a {remote_text(str(declared), 80)}, not an image manifest or index"
        )
    return str(declared)


def index_entries(document: dict[str, Any], what: str) -> tuple[PlatformManifest, ...]:
    """One unfetched PlatformManifest per image entry of an index (attestations and nested
    indexes left out)."""
    entries = _list(document, "manifests", what)
    found = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("mediaType") not in (None, *MANIFEST_TYPES):
            continue
        annotations = entry.get("annotations")
        if isinstance(annotations, dict) and (
            annotations.get("vnd.docker.reference.type") == ATTESTATION
        ):
            continue
        platform = entry.get("platform")
        if not isinstance(platform, dict):
            continue
        found.append(
            PlatformManifest(platform=_platform(platform, what), digest=_digest(entry, what))
        )
    return tuple(found)


def manifest_parts(document: dict[str, Any], what: str) -> tuple[Layer, tuple[Layer, ...]]:
    """(config, layers) of a single-platform manifest, as digests and sizes."""
    config = document.get("config")
    if not isinstance(config, dict):
        raise Unverifiable(f"{what} names no config blob")
    layers = tuple(_descriptor(layer, what) for layer in _list(document, "layers", what))
    return _descriptor(config, what), layers


def read_config(body: bytes, what: str) -> tuple[Platform, tuple[str | None, ...]]:
    """os/architecture/variant of an image config blob, and its layers' diff_ids (the
    digests of the unpacked layers, in order; None for one that is not a sha256 digest)."""
    config = json_object(body, what)
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or len(diff_ids) > MAX_ENTRIES:
        diff_ids = []
    checked = tuple(d if isinstance(d, str) and DIGEST.fullmatch(d) else None for d in diff_ids)
    return _platform(config, what), checked


def _list(document: dict[str, Any], key: str, what: str) -> list[Any]:
    items = document.get(key)
    if not isinstance(items, list):
        raise Unverifiable(f"{what} has no {key} list")
    if len(items) > MAX_ENTRIES:
        raise Unverifiable(f"{what} lists {len(items)} {key}; fleet reads at most {MAX_ENTRIES}")
    return items


def _digest(descriptor: dict[str, Any], what: str) -> str:
    digest = descriptor.get("digest")
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        raise Unverifiable(f"{what} names a blob without a sha256 digest")
    return digest


def _descriptor(descriptor: Any, what: str) -> Layer:
    if not isinstance(descriptor, dict):
        raise Unverifiable(f"{what} has a descriptor that is not an object")
    size = descriptor.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise Unverifiable(f"{what} gives a blob without a valid size")
    return Layer(_digest(descriptor, what), size)


def _platform(fields: dict[str, Any], what: str) -> Platform:
    os_name, architecture = fields.get("os"), fields.get("architecture")
    variant = fields.get("variant") or None
    for value in (os_name, architecture):
        if not isinstance(value, str) or not _PLATFORM_WORD.fullmatch(value):
            raise Unverifiable(f"{what} names no valid os and architecture")
    if variant is not None and (
        not isinstance(variant, str) or not _PLATFORM_WORD.fullmatch(variant)
    ):
        raise Unverifiable(f"{what} names an invalid platform variant")
    return Platform(str(os_name), str(architecture), variant)
