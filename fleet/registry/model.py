"""What a registry says a reference points to, per platform (pure data)."""

from __future__ import annotations

from dataclasses import dataclass

from fleet.platform import Platform

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)


@dataclass(frozen=True)
class Layer:
    digest: str  # of the compressed blob: what the registry serves
    size: int
    # Of the unpacked layer (the config's rootfs.diff_ids): what a daemon lists in an
    # image's RootFS, so the layers a robot already holds can be told from those it lacks.
    diff_id: str | None = None


@dataclass(frozen=True)
class PlatformManifest:
    platform: Platform
    digest: str | None  # this platform's manifest digest; None when only the daemon could say
    config_digest: str | None = None  # the image ID a daemon reports once pulled
    layers: tuple[Layer, ...] = ()  # empty until the manifest was fetched
    config_size: int = 0

    @property
    def download_size(self) -> int | None:
        """Bytes a robot holding none of the layers downloads; None when unknown."""
        if not self.layers:
            return None
        return self.config_size + sum(layer.size for layer in self.layers)

    def missing_layers(self, held_diff_ids: frozenset[str]) -> tuple[Layer, ...]:
        """Layers a robot still needs, given the unpacked layers its images hold."""
        return tuple(
            layer
            for layer in self.layers
            if layer.diff_id is None or layer.diff_id not in held_diff_ids
        )


@dataclass(frozen=True)
class ResolvedImage:
    registry: str
    repository: str
    tag: str | None
    digest: str  # what the tag (or digest) points to: an index or a single manifest
    media_type: str
    manifests: tuple[PlatformManifest, ...]  # the index's entries, or the one manifest

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES
