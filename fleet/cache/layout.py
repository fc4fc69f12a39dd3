"""Where a pull-through cache lives and how it is configured (pure).

One Distribution registry per upstream (its proxy takes one), listening on this machine's
loopback, storing in the user's cache directory, kept across runs. With the upstream
reachable it runs as a pull-through proxy; without, as a plain registry over the same
storage (the proxy refuses to start when its upstream does not answer), serving what it
holds: robots in the field get their images from the laptop.

Beside the proxy runs a second, plain registry over the same storage, the filler, which
only fleet talks to: Distribution 2.8's proxy fetches every blob it lacks from upstream
twice (once to serve it, once to store it), so fleet fetches each blob once itself and
pushes it in through the filler; the proxy then serves it from its storage.

The storage is Distribution's filesystem layout (stable across 2.x), which fleet reads,
never writes, to tell what the cache holds and whether a blob it fetched has landed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet.credentials.names import DOCKER_HUB_KEY, config_key, display_name
from fleet.credentials.store import Credential

LOOPBACK = "127.0.0.1"
HUB_API = "https://registry-1.docker.io"


def slug(upstream: str) -> str:
    """A directory name for an upstream: `docker.io`, `registry.example.com_5000`."""
    name = display_name(config_key(upstream))
    return re.sub(r"[^A-Za-z0-9.-]", "_", name)


def upstream_url(upstream: str) -> str:
    key = config_key(upstream)
    if key == DOCKER_HUB_KEY:
        return HUB_API
    host = key.rsplit(":", 1)[0].strip("[]")
    return f"http://{key}" if host in ("127.0.0.1", "localhost", "::1") else f"https://{key}"


@dataclass(frozen=True)
class CachePlace:
    """Where the cache of one upstream keeps its state (config, pid, log) and its storage."""

    upstream: str  # config key
    state: Path
    storage: Path

    @classmethod
    def of(cls, upstream: str, environ: Mapping[str, str] | None = None) -> CachePlace:
        env = os.environ if environ is None else environ
        home = Path(env.get("HOME") or Path.home())
        state = Path(env.get("XDG_STATE_HOME") or home / ".local/state") / "fleet" / "cache"
        cache = Path(env.get("XDG_CACHE_HOME") or home / ".cache") / "fleet" / "cache"
        name = slug(upstream)
        return cls(config_key(upstream), state / name, cache / name)

    @property
    def config(self) -> Path:
        return self.state / "config.yml"

    @property
    def record(self) -> Path:
        return self.state / "instance.json"

    @property
    def filler_config(self) -> Path:
        return self.state / "filler.yml"

    @property
    def filler_log(self) -> Path:
        return self.state / "filler.log"

    @property
    def log(self) -> Path:
        return self.state / "registry.log"

    @property
    def trust(self) -> Path:
        return self.state / "ca-bundle.pem"

    # -- Distribution's filesystem storage, read only --

    @property
    def _v2(self) -> Path:
        return self.storage / "docker" / "registry" / "v2"

    def blob_data(self, digest: str) -> Path:
        hex_digest = digest.split(":", 1)[1]
        return self._v2 / "blobs" / "sha256" / hex_digest[:2] / hex_digest / "data"

    def layer_link(self, repository: str, digest: str) -> Path:
        hex_digest = digest.split(":", 1)[1]
        return self._v2 / "repositories" / repository / "_layers" / "sha256" / hex_digest / "link"

    def manifest_link(self, repository: str, digest: str) -> Path:
        hex_digest = digest.split(":", 1)[1]
        return (
            self._v2 / "repositories" / repository / "_manifests" / "revisions" / "sha256"
            / hex_digest / "link"
        )  # fmt: skip

    def tag_link(self, repository: str, tag: str) -> Path:
        tags = self._v2 / "repositories" / repository / "_manifests" / "tags"
        return tags / tag / "current" / "link"

    def repositories(self) -> list[str]:
        """Every repository the cache holds a tag of."""
        root = self._v2 / "repositories"
        if not root.is_dir():
            return []
        found = []
        for tags in sorted(root.glob("**/_manifests/tags")):
            found.append(str(tags.parent.parent.relative_to(root)))
        return found

    def tags(self, repository: str) -> dict[str, str]:
        """Tag -> the digest it points to, in the cache."""
        root = self._v2 / "repositories" / repository / "_manifests" / "tags"
        found = {}
        for link in sorted(root.glob("*/current/link")):
            digest = link.read_text().strip()
            if re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
                found[link.parent.parent.name] = digest
        return found


def registry_config(
    place: CachePlace, port: int, secret: str, credential: Credential | None, offline: bool
) -> dict[str, Any]:
    """Distribution's config: a pull-through proxy of the upstream, or (offline) a plain
    registry over the same storage."""
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        # Distribution 2.8's proxy forgets what it fetched a week later (a fixed TTL); a
        # `fleet cache warm` renews it. Run offline, nothing expires.
        "storage": {"filesystem": {"rootdirectory": str(place.storage)}},
        "http": {"addr": f"{LOOPBACK}:{port}", "secret": secret},
    }
    if not offline:
        proxy: dict[str, str] = {"remoteurl": upstream_url(place.upstream)}
        if credential is not None:
            proxy |= {"username": credential.username, "password": credential.secret}
        config["proxy"] = proxy
    return config
