"""`--via cache`: robots get their images from this machine's pull-through cache, over
their own SSH connection (I/O).

For each image a robot needs, the cache is warmed once per run (`Warmer`); the robot's
daemon then pulls it by digest from `127.0.0.1:PORT` on the robot, a remote port forward
on the run's SSH connection that leads to the cache here, and the image is tagged back to
its real name. By digest, the cache answers from what it holds without asking upstream.
"""

from __future__ import annotations

import threading
from pathlib import Path

from fleet.cache import service
from fleet.cache.layout import CachePlace
from fleet.cache.service import CacheInstance
from fleet.cache.warm import Upstream, Warmer
from fleet.credentials.store import Credential
from fleet.registry import ContentCache, RegistryClient, default_cache_dir


class CacheDelivery:
    """The caches of one run, started when first needed, and what crossed the uplink."""

    def __init__(self, ca_cert: Path | None = None) -> None:
        self.ca_cert = ca_cert
        self.upstream = Upstream()
        self._caches: dict[str, tuple[CacheInstance, Warmer]] = {}
        self._lock = threading.Lock()
        self.notes: list[str] = []

    def cache_for(
        self, upstream: str, credential: Credential | None
    ) -> tuple[CacheInstance, Warmer]:
        """The cache of `upstream` (the first robot to ask starts it with its account)."""
        with self._lock:
            if upstream not in self._caches:
                place = CachePlace.of(upstream)
                instance, offline = service.up(place, credential, self.ca_cert)
                if offline:
                    self.notes.append(f"{offline}: the cache serves only what it holds")
                source = RegistryClient(upstream, credential, ca_cert=self.ca_cert, timeout=600)
                local = ContentCache(default_cache_dir())
                self._caches[upstream] = (instance, Warmer(instance, self.upstream, source, local))
            return self._caches[upstream]

    def summary(self, robots: int) -> str:
        """What crossed the uplink, for the recap's last line."""
        if not self._caches:
            return ""
        megabytes = self.upstream.bytes / 1e6
        line = (
            f"upstream: {self.upstream.manifests} manifests, {megabytes:.1f} MB for {robots} robots"
        )
        return "; ".join([line, *self.notes])

    def close(self) -> None:
        with self._lock:
            for _, warmer in self._caches.values():
                warmer.close()

    def __enter__(self) -> CacheDelivery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
