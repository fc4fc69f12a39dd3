"""Filling the cache: each (image, platform) fetched through it once, from this machine,
before any robot asks (I/O).

Distribution's proxy sends two concurrent requests for one blob it does not hold both
upstream; sixteen robots starting together would each cost the uplink the whole image.
So the robots of a run wait for one warm-up per (image, platform), and pull from a cache
that holds every byte. The proxy stores a blob after it has served it; a warm-up waits
until the blob is in the cache's storage, so an offline cache later serves it too.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fleet.cache.layout import CachePlace
from fleet.errors import RobotError
from fleet.reference import Reference
from fleet.registry import NotFound, RegistryClient, RegistryError
from fleet.registry.manifests import load_document, manifest_parts
from fleet.registry.model import INDEX_TYPES, MANIFEST_TYPES, Layer

BLOB_LIMIT = 64 * 1024**3  # a layer of a robot image is never this large
STORE_TIMEOUT = 60.0  # seconds the proxy may take to store a blob it has served


class WarmFailed(RobotError):
    """The cache could not get an image from its upstream; the message says why."""


@dataclass
class Upstream:
    """What crossed the uplink in this run: manifests and blob bytes the cache lacked."""

    manifests: int = 0
    bytes: int = 0
    images: set[tuple[str, str]] = field(default_factory=set)  # (reference, platform digest)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, manifests: int = 0, size: int = 0) -> None:
        with self._lock:
            self.manifests += manifests
            self.bytes += size


class Warmer:
    """Warm-ups of one cache in one run: each (reference, platform manifest) once, however
    many robots ask at the same time; a failure is not kept, so the next robot tries again."""

    def __init__(self, place: CachePlace, address: str, upstream: Upstream) -> None:
        self.place = place
        self.client = RegistryClient(address, None, timeout=600)
        self.upstream = upstream
        self._done: set[tuple[str, str]] = set()
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def ensure(
        self,
        ref: Reference,
        manifest_digest: str,
        progress: Callable[[int], None] = lambda done: None,
    ) -> None:
        """The image `ref` names, in its platform manifest `manifest_digest`, is in the
        cache: tag, index, manifest, config and every layer."""
        key = (str(ref), manifest_digest)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._done:
                return
            try:
                self._warm(ref, manifest_digest, progress)
            except NotFound:
                raise WarmFailed(
                    f"the cache does not hold {ref} for this robot's platform, and its upstream "
                    "did not give it (warm it while the upstream answers: fleet cache warm)"
                ) from None
            except RegistryError as exc:
                raise WarmFailed(f"the cache could not get {ref}: {exc}") from None
            self._done.add(key)
            self.upstream.images.add(key)

    def _warm(self, ref: Reference, digest: str, progress: Callable[[int], None]) -> None:
        repository, scope = ref.repository, f"repository:{ref.repository}:pull"
        # The tag (or digest) first: the cache then holds what it points to, for later runs.
        self._manifest(repository, ref.pull_tag, (*INDEX_TYPES, *MANIFEST_TYPES), scope)
        body = self._manifest(repository, digest, MANIFEST_TYPES, scope)
        what = f"{ref}@{digest}"
        config, layers = manifest_parts(load_document(body, what), what)
        self._check_room(ref, (config, *layers))
        done = 0
        for blob in (config, *layers):
            self._blob(repository, blob.digest, blob.size, scope)
            done += blob.size
            progress(done)

    def _check_room(self, ref: Reference, blobs: tuple[Layer, ...]) -> None:
        """Refuse at once when the cache's disk cannot hold what it lacks."""
        lacking = {b.digest: b.size for b in blobs if not self.place.blob_data(b.digest).exists()}
        free = shutil.disk_usage(self.place.storage).free
        if sum(lacking.values()) > free:
            raise WarmFailed(
                f"the cache's disk is full: {ref} needs {sum(lacking.values()) / 1e6:.1f} MB "
                f"and {self.place.storage} has {free / 1e6:.1f} MB free"
            )

    def _manifest(
        self, repository: str, reference: str, accept: tuple[str, ...], scope: str
    ) -> bytes:
        by_digest = reference.startswith("sha256:")
        cached = by_digest and self.place.manifest_link(repository, reference).exists()
        answer = self.client.get(
            f"/v2/{repository}/manifests/{reference}", accept=accept, scope=scope
        )
        if by_digest and not cached:
            self.upstream.add(manifests=1)
        return answer.body

    def _blob(self, repository: str, digest: str, size: int, scope: str) -> None:
        if self.place.layer_link(repository, digest).exists():
            return  # held, and linked to the repository: served even offline
        stored = self.place.blob_data(digest).exists()
        hasher = hashlib.sha256()
        self.client.request(
            "GET",
            f"/v2/{repository}/blobs/{digest}",
            scope=scope,
            limit=BLOB_LIMIT,
            sink=hasher.update,
        )
        if f"sha256:{hasher.hexdigest()}" != digest:
            raise WarmFailed(f"the cache served {digest} with other content; refusing it")
        if not stored:
            self.upstream.add(size=size)
        self._wait_stored(repository, digest)

    def _wait_stored(self, repository: str, digest: str) -> None:
        deadline = time.monotonic() + STORE_TIMEOUT
        link = self.place.layer_link(repository, digest)
        while not link.exists():
            if time.monotonic() > deadline:
                raise WarmFailed(
                    f"the cache served {digest} but did not store it within "
                    f"{STORE_TIMEOUT:g} s (its disk may be full; see {self.place.log})"
                )
            time.sleep(0.05)
