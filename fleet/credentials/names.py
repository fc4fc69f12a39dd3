"""Registry names as Docker spells them, and secrets as people may see them (pure)."""

from __future__ import annotations

import hashlib
import re

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_HUB_NAMES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}


class BadRegistry(ValueError):
    pass


def config_key(registry: str | None) -> str:
    """The key `docker login` uses in config.json: Docker Hub's URL, else host[:port]."""
    if not registry:
        return DOCKER_HUB_KEY
    text = registry.strip()
    text = re.sub(r"^[a-z]+://", "", text, flags=re.IGNORECASE)
    host = text.split("/", 1)[0].lower()
    if not host or " " in host or not re.fullmatch(r"[a-z0-9.\-\[\]:]+", host):
        raise BadRegistry(f"{registry!r} is not a registry host (e.g. registry.example.com:5000)")
    if host in _HUB_NAMES:
        return DOCKER_HUB_KEY
    return host


def display_name(key: str) -> str:
    return "docker.io" if key == DOCKER_HUB_KEY else key


def api_host(key: str) -> str:
    """Where the registry's HTTP API answers."""
    return "registry-1.docker.io" if key == DOCKER_HUB_KEY else key


def fingerprint(secret: str) -> str:
    """First 12 hex digits of the secret's SHA-256: enough to tell tokens apart, not to
    recover one."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]
