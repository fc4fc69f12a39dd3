"""Filling the cache: each (image, platform) a run's robots need, fetched once, from this
machine, before any robot asks (I/O).

Distribution 2.8's proxy fetches a blob it lacks from upstream twice (once to serve it,
once to store it), and sends a request for a blob it is still fetching straight upstream:
sixteen robots starting together would cost the uplink the image many times over. So:
- manifests and tags go through the proxy, which stores them (an offline cache answers
  from them);
- each blob is fetched once by fleet itself (from its own content cache when it holds it,
  else from upstream) and pushed into the cache's storage through the filler, a plain
  registry on the same storage;
- robots of a run wait for one warm-up per (image, platform) and one fetch per blob
  (platforms share layers), then pull from a cache that holds every byte.
"""

from __future__ import annotations

import hashlib
import queue
import shutil
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

from fleet.cache.service import CacheInstance
from fleet.errors import RobotError
from fleet.reference import Reference
from fleet.registry import ContentCache, NotFound, RegistryClient, RegistryError
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
    many robots ask at the same time; a failure is not kept, so the next robot tries again.

    Manifests go through the proxy (which stores them, tags included, for offline use);
    blobs go in through the filler, fetched once from upstream by fleet itself."""

    def __init__(
        self,
        instance: CacheInstance,
        upstream: Upstream,
        source: RegistryClient,
        local: ContentCache,
    ) -> None:
        self.place = instance.place
        self.client = RegistryClient(instance.address, None, timeout=600)
        self.filler = instance.filler
        self.source = source  # the upstream registry, with the cache's account
        self.local = local  # fleet's own content cache (image configs read while planning)
        self.upstream = upstream
        self._done: set[tuple[str, str]] = set()
        self._locks: dict[object, threading.Lock] = {}
        self._guard = threading.Lock()

    def close(self) -> None:
        self.client.close()
        self.source.close()

    def _lock(self, key: object) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def ensure(
        self,
        ref: Reference,
        manifest_digest: str,
        progress: Callable[[int], None] = lambda done: None,
    ) -> None:
        """The image `ref` names, in its platform manifest `manifest_digest`, is in the
        cache: tag, index, manifest, config and every layer."""
        key = (str(ref), manifest_digest)
        with self._lock(key):
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
        with self._lock(digest):
            link = self.place.layer_link(repository, digest)
            if link.exists():
                return  # held, and linked to the repository: served even offline
            if self.filler is None:
                raise NotFound(f"{digest}: offline, the cache holds only what it holds")
            self._fill(repository, digest, size, scope)
            self._wait_stored(repository, digest)

    def _fill(self, repository: str, digest: str, size: int, scope: str) -> None:
        """Fetch the blob once (from fleet's own cache, else from upstream) and push it into
        the cache's storage through the filler."""
        held = self.local.get(digest)
        if held is not None:
            push_blob(self.filler or "", repository, digest, iter([held]))
            return
        hasher = hashlib.sha256()
        with _Pipe() as pipe:
            fetch = threading.Thread(
                target=pipe.run,
                args=(
                    lambda sink: self.source.request(
                        "GET", f"/v2/{repository}/blobs/{digest}", scope=scope,
                        limit=BLOB_LIMIT, sink=sink,
                    ),
                ),
                daemon=True,
                name="fleet-cache-fetch",
            )  # fmt: skip
            fetch.start()
            push_blob(self.filler or "", repository, digest, pipe.chunks(hasher.update))
            fetch.join()
        if f"sha256:{hasher.hexdigest()}" != digest:
            raise WarmFailed(f"the upstream served {digest} with other content; refusing it")
        self.upstream.add(size=size)

    def _wait_stored(self, repository: str, digest: str) -> None:
        if not self._stored(self.place.layer_link(repository, digest), STORE_TIMEOUT):
            raise WarmFailed(
                f"the cache did not store {digest} within {STORE_TIMEOUT:g} s "
                f"(its disk may be full; see {self.place.log})"
            )

    @staticmethod
    def _stored(link: Path, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not link.exists():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


class _Pipe:
    """Chunks from a download on one thread to an upload on another, a few at a time."""

    def __init__(self) -> None:
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=32)
        self._stop = threading.Event()

    def run(self, download: Callable[[Callable[[bytes], None]], object]) -> None:
        try:
            download(self._put)
            self._queue.put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the reader, who raises it
            self._queue.put(exc)

    def _put(self, chunk: bytes) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(chunk, timeout=0.5)
                return
            except queue.Full:
                continue
        raise WarmFailed("the upload into the cache stopped")

    def chunks(self, seen: Callable[[bytes], None]) -> Iterator[bytes]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            seen(item)
            yield item

    def __enter__(self) -> _Pipe:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


def push_blob(filler: str, repository: str, digest: str, chunks: Iterator[bytes]) -> None:
    """A blob upload into the filler (a plain registry on the cache's storage, loopback)."""
    base = f"http://{filler}"
    with requests.Session() as session:
        try:
            started = session.post(f"{base}/v2/{repository}/blobs/uploads/", timeout=30)
            if started.status_code != 202 or "Location" not in started.headers:
                raise WarmFailed(
                    f"the cache's filler would not take {digest} ({started.status_code})"
                )
            target = urllib.parse.urljoin(base + "/", started.headers["Location"])
            done = session.put(
                target,
                params={"digest": digest},
                data=chunks,
                headers={"Content-Type": "application/octet-stream"},
                timeout=600,
            )
        except requests.exceptions.RequestException as exc:
            raise WarmFailed(f"pushing {digest} into the cache failed: {exc}") from None
    if done.status_code != 201:
        raise WarmFailed(f"the cache refused {digest}: {done.status_code} {done.text[:200]}")
