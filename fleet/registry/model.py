"""What a reference points to in a registry, per platform (pure data)."""

from __future__ import annotations

from dataclasses import dataclass

from fleet.platform import Platform


@dataclass(frozen=True)
class Layer:
    digest: str
    size: int  # compressed: the bytes a pull moves


@dataclass(frozen=True)
class PlatformManifest:
    platform: Platform
    digest: str  # this platform's manifest digest
    config_digest: str | None = None  # the image ID a Docker daemon reports; None until fetched
    layers: tuple[Layer, ...] = ()  # empty until fetched
    config_size: int | None = None

    @property
    def fetched(self) -> bool:
        return self.config_digest is not None

    @property
    def download_size(self) -> int | None:
        """Bytes a pull of this platform moves (layers and config); None until fetched."""
        if not self.fetched:
            return None
        return sum(layer.size for layer in self.layers) + (self.config_size or 0)


@dataclass(frozen=True)
class ResolvedImage:
    registry: str  # the registry key, as fleet's store names it
    repository: str
    tag: str | None
    digest: str  # what the tag (or digest) points to: an index or a single manifest
    media_type: str
    manifests: tuple[PlatformManifest, ...]  # index entries with a platform, or the one manifest

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
