"""Demo images for the lab registry, built without running anything.

Layers are made here as deterministic tarballs (fixed mtimes, owners and seeded random
payloads), written as an OCI image layout in the cache, and pushed by skopeo. The same
lab therefore always serves the same digests, and a later `up` reuses the layout.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYOUT_VERSION = 1


@dataclass(frozen=True)
class DemoPlatform:
    architecture: str  # GOARCH
    variant: str | None
    suffix: str  # the Duckietown tag suffix

    @property
    def name(self) -> str:
        return "/".join(p for p in ("linux", self.architecture, self.variant) if p)


PLATFORMS = (
    DemoPlatform("arm", "v7", "arm32v7"),
    DemoPlatform("arm64", "v8", "arm64v8"),
    DemoPlatform("amd64", None, "amd64"),
)
PAYLOAD_LAYER_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self, **extra: object) -> dict[str, object]:
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.data),
            **extra,
        }


def layer(files: dict[str, bytes]) -> Blob:
    """A gzipped tar holding `files`, byte-identical every time it is built."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(Path(name).parent) for name in files} - {"."})
        for directory in dirs:
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, 0
            tar.addfile(info, io.BytesIO(files[name]))
    return Blob(OCI_LAYER, gzip.compress(raw.getvalue(), compresslevel=1, mtime=0))


def _diff_id(blob: Blob) -> str:
    return "sha256:" + hashlib.sha256(gzip.decompress(blob.data)).hexdigest()


def image(platform: DemoPlatform, layers: list[Blob]) -> tuple[Blob, list[Blob]]:
    """A single-platform manifest and every blob it references (config, layers)."""
    config = Blob(
        OCI_CONFIG,
        json.dumps(
            {
                "architecture": platform.architecture,
                **({"variant": platform.variant} if platform.variant else {}),
                "os": "linux",
                "config": {"Cmd": ["/bin/true"]},
                "rootfs": {"type": "layers", "diff_ids": [_diff_id(b) for b in layers]},
            },
            sort_keys=True,
        ).encode(),
    )
    manifest = Blob(
        OCI_MANIFEST,
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": config.descriptor(),
                "layers": [b.descriptor() for b in layers],
            },
            sort_keys=True,
        ).encode(),
    )
    return manifest, [config, *layers]


def index(manifests: list[tuple[DemoPlatform, Blob]]) -> Blob:
    entries = []
    for platform, manifest in manifests:
        plat = {"architecture": platform.architecture, "os": "linux"}
        if platform.variant:
            plat["variant"] = platform.variant
        entries.append(manifest.descriptor(platform=plat))
    return Blob(
        OCI_INDEX,
        json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode(),
    )


def arch_marker(platform: DemoPlatform) -> Blob:
    return layer({"etc/fleet-demo-arch": f"{platform.name}\n".encode()})


def dt_core_layers(platform: DemoPlatform) -> list[Blob]:
    return [
        arch_marker(platform),
        layer({"opt/dt-core/README": b"A stand-in for duckietown/dt-core, built by fleet lab.\n"}),
        layer({"opt/dt-core/release": f"daffy {platform.suffix}\n".encode()}),
    ]


def payload_layer(seed: int) -> Blob:
    """10 MiB that gzip cannot shrink, so pulls move real bytes."""
    data = random.Random(seed).randbytes(PAYLOAD_LAYER_BYTES)
    return layer({f"payload/part-{seed}.bin": data})


@dataclass(frozen=True)
class DemoRef:
    repository: str  # without the registry
    tag: str
    top: Blob  # an index or a single manifest


def build_demo_images() -> tuple[list[DemoRef], list[Blob]]:
    """Every demo reference and every blob they need (each blob once)."""
    blobs: dict[str, Blob] = {}
    refs: list[DemoRef] = []

    def keep(*items: Blob) -> None:
        for item in items:
            blobs[item.digest] = item

    dt_manifests = []
    for platform in PLATFORMS:
        manifest, parts = image(platform, dt_core_layers(platform))
        keep(manifest, *parts)
        dt_manifests.append((platform, manifest))
        refs.append(DemoRef("duckietown/dt-core", f"daffy-{platform.suffix}", manifest))
    dt_index = index(dt_manifests)
    keep(dt_index)
    refs.insert(0, DemoRef("duckietown/dt-core", "daffy", dt_index))

    shared = [payload_layer(seed) for seed in (1, 2, 3, 4)]
    for tag, last_seed in (("v1", 5), ("v2", 6)):
        data_layers = [*shared, payload_layer(last_seed)]
        manifests = []
        for platform in PLATFORMS:
            manifest, parts = image(platform, [arch_marker(platform), *data_layers])
            keep(manifest, *parts)
            manifests.append((platform, manifest))
        payload_index = index(manifests)
        keep(payload_index)
        refs.append(DemoRef("demo/payload", tag, payload_index))
    return refs, list(blobs.values())


def layout_ref_name(repository: str, tag: str) -> str:
    return f"{repository.replace('/', '-')}-{tag}"


def demo_references() -> list[tuple[str, str]]:
    """(repository, tag) of every demo image, without building any of them."""
    dt_core = [("duckietown/dt-core", "daffy")] + [
        ("duckietown/dt-core", f"daffy-{p.suffix}") for p in PLATFORMS
    ]
    return dt_core + [("demo/payload", "v1"), ("demo/payload", "v2")]


def write_layout(directory: Path, refs: list[DemoRef], blobs: list[Blob]) -> None:
    """An OCI image layout holding `refs`, each named by `layout_ref_name`."""
    blob_dir = directory / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    for blob in blobs:
        (blob_dir / blob.digest.split(":", 1)[1]).write_bytes(blob.data)
    top = {
        "schemaVersion": 2,
        "manifests": [
            ref.top.descriptor(
                annotations={
                    "org.opencontainers.image.ref.name": layout_ref_name(ref.repository, ref.tag)
                }
            )
            for ref in refs
        ],
    }
    (directory / "index.json").write_text(json.dumps(top))
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))


def ensure_layout(directory: Path) -> None:
    """Write the OCI image layout of every demo image, unless a complete one is there."""
    marker = directory / "fleet-lab-layout.json"
    try:
        if json.loads(marker.read_text()).get("version") == LAYOUT_VERSION:
            return
    except (OSError, ValueError):
        pass
    write_layout(directory, *build_demo_images())
    # Written last: its presence means every blob above is complete.
    marker.write_text(json.dumps({"version": LAYOUT_VERSION}))
