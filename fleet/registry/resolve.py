"""What an image reference points to in its registry, per platform, asked once per run.

A tag is HEADed for its digest; the manifest's body then comes from the on-disk cache
when it is there, so a second run right after the first GETs no manifest at all (Docker
Hub counts GETs of manifests against its pull limits, not HEADs).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from fleet.credentials.names import display_name
from fleet.credentials.store import Credential
from fleet.reference import Reference
from fleet.registry.cache import ContentCache, default_cache_dir
from fleet.registry.client import CONFIG_LIMIT, MANIFEST_LIMIT, RegistryClient
from fleet.registry.errors import AuthRequired, NotFound, Unverifiable
from fleet.registry.manifests import (
    DIGEST,
    check_digest,
    index_entries,
    load_document,
    manifest_parts,
    media_type,
    read_config,
    sha256_digest,
)
from fleet.registry.model import INDEX_TYPES, MANIFEST_TYPES, PlatformManifest, ResolvedImage

ACCEPT = (*INDEX_TYPES, *MANIFEST_TYPES)
T = TypeVar("T")


class Resolver:
    """One per run, shared by the run's threads. Each distinct question (registry,
    repository, reference, account) goes to the registry once, however many robots ask
    at the same time; a failure is not remembered, so the next robot asks again."""

    def __init__(
        self, ca_cert: Path | None = None, cache_dir: Path | None = None, *, timeout: float = 15
    ) -> None:
        self.ca_cert = ca_cert
        self.timeout = timeout
        self.cache = ContentCache(cache_dir or default_cache_dir())
        self._guard = threading.Lock()
        self._known: dict[Hashable, Any] = {}
        self._asking: dict[Hashable, threading.Lock] = {}
        self._clients: dict[tuple[str, Credential | None], RegistryClient] = {}

    def close(self) -> None:
        with self._guard:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def __enter__(self) -> Resolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the questions ------------------------------------------------------------------

    def resolve(self, ref: Reference, credential: Credential | None) -> ResolvedImage:
        """The index or manifest `ref` points to; a single manifest comes with its platform
        (from its config blob), an index with each entry's platform and digest."""
        key = ("resolve", ref.registry_key, ref.repository, ref.pull_tag, credential)
        return self._once(key, lambda: self._resolve(ref, credential))

    def platform_manifest(
        self, ref: Reference, credential: Credential | None, digest: str
    ) -> PlatformManifest:
        """One platform's manifest with its config digest (the image ID) and layer sizes."""
        key = ("platform", ref.registry_key, ref.repository, digest, credential)
        return self._once(key, lambda: self._platform_manifest(ref, credential, digest, None))

    # -- once per key -------------------------------------------------------------------

    def _once(self, key: Hashable, ask: Callable[[], T]) -> T:
        with self._guard:
            if key in self._known:
                return self._known[key]
            lock = self._asking.setdefault(key, threading.Lock())
        with lock:  # the threads asking the same question wait for the first one's answer
            with self._guard:
                if key in self._known:
                    return self._known[key]
            answer = ask()
            with self._guard:
                self._known[key] = answer
            return answer

    def client(self, registry_key: str, credential: Credential | None) -> RegistryClient:
        with self._guard:
            key = (registry_key, credential)
            if key not in self._clients:
                self._clients[key] = RegistryClient(
                    registry_key, credential, ca_cert=self.ca_cert, timeout=self.timeout
                )
            return self._clients[key]

    # -- asking the registry ------------------------------------------------------------

    def _resolve(self, ref: Reference, credential: Credential | None) -> ResolvedImage:
        what = f"the manifest of {ref}"
        digest, body = self._top_manifest(ref, credential)
        document = load_document(body, what)
        kind = media_type(document, what)
        if kind in INDEX_TYPES:
            manifests = index_entries(document, what)
        else:
            key = ("platform", ref.registry_key, ref.repository, digest, credential)
            manifests = (
                self._once(key, lambda: self._platform_manifest(ref, credential, digest, body)),
            )
        return ResolvedImage(ref.registry_key, ref.repository, ref.tag, digest, kind, manifests)

    def _top_manifest(self, ref: Reference, credential: Credential | None) -> tuple[str, bytes]:
        """(digest, body) of what the reference names: by digest from the cache or the
        registry; by tag, a HEAD first and the body from the cache when it is there."""
        client = self.client(ref.registry_key, credential)
        if ref.digest:
            return ref.digest, self._manifest(client, ref, ref.digest)
        path = f"/v2/{ref.repository}/manifests/{ref.pull_tag}"
        scope = _pull_scope(ref)
        head = client.request("HEAD", path, accept=ACCEPT, scope=scope)
        if head.status in (401, 403, 404):
            client.expect_ok(head, f"HEAD {path}")
        # A registry that does not answer HEADs (405, 5xx) may still answer the GET below.
        stated = head.headers.get("Docker-Content-Digest", "") if head.status == 200 else ""
        cached = self.cache.get(stated) if DIGEST.fullmatch(stated) else None
        if cached is not None:
            return stated, cached
        answer = client.get(path, accept=ACCEPT, scope=scope, limit=MANIFEST_LIMIT)
        # The registry's word for the digest, checked against the bytes; without it, the
        # bytes' own digest (the tag may have moved since the HEAD: the GET is what counts).
        digest = answer.headers.get("Docker-Content-Digest") or sha256_digest(answer.body)
        check_digest(answer.body, digest, f"the manifest of {ref}")
        self.cache.put(digest, answer.body)
        return digest, answer.body

    def _platform_manifest(
        self, ref: Reference, credential: Credential | None, digest: str, body: bytes | None
    ) -> PlatformManifest:
        client = self.client(ref.registry_key, credential)
        what = f"the manifest {digest} of {ref.name}"
        document = load_document(body or self._manifest(client, ref, digest), what)
        if media_type(document, what) in INDEX_TYPES:
            raise Unverifiable(f"{what} is an index, not one platform's manifest")
        config, layers = manifest_parts(document, what)
        config_body = self._blob(
            client,
            ref,
            f"/v2/{ref.repository}/blobs/{config.digest}",
            config.digest,
            (),
            CONFIG_LIMIT,
        )
        platform, diff_ids = read_config(
            config_body, f"the image config {config.digest} of {ref.name}"
        )
        if len(diff_ids) == len(layers):  # one diff_id per layer, in the same order
            layers = tuple(
                replace(layer, diff_id=d) for layer, d in zip(layers, diff_ids, strict=True)
            )
        return PlatformManifest(platform, digest, config.digest, layers, config.size)

    def _manifest(self, client: RegistryClient, ref: Reference, digest: str) -> bytes:
        path = f"/v2/{ref.repository}/manifests/{digest}"
        return self._blob(client, ref, path, digest, ACCEPT, MANIFEST_LIMIT)

    def _blob(
        self,
        client: RegistryClient,
        ref: Reference,
        path: str,
        digest: str,
        accept: tuple[str, ...],
        limit: int,
    ) -> bytes:
        """Content by digest: from the cache, else from the registry, checked either way."""
        cached = self.cache.get(digest)
        if cached is not None:
            return cached
        answer = client.get(path, accept=accept, scope=_pull_scope(ref), limit=limit)
        check_digest(answer.body, digest, f"{digest} of {ref.name}")
        self.cache.put(digest, answer.body)
        return answer.body


def _pull_scope(ref: Reference) -> str:
    return f"repository:{ref.repository}:pull"


def manifest_platform(
    registry: str,
    repository: str,
    digest: str,
    credential: Credential | None,
    *,
    ca_cert: Path | None = None,
) -> dict[str, Any] | None:
    """os/architecture/variant of a single-platform image, or None when the registry has
    no such manifest or wants an account: what `fleet pull` asked before Resolver existed.
    Kept until tasks/pull.py uses Resolver itself."""
    ref = Reference(display_name(registry), repository, digest=digest)
    with Resolver(ca_cert=ca_cert) as resolver:
        try:
            platform = resolver.platform_manifest(ref, credential, digest).platform
        except (NotFound, AuthRequired):
            return None
    return {"os": platform.os, "architecture": platform.architecture, "variant": platform.variant}
