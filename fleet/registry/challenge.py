"""A registry's `WWW-Authenticate` challenge, and which URLs may carry an account (pure).

`Basic realm="..."` (a self-hosted registry with htpasswd) or
`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="..."`
(Docker Hub and most hosted registries), where an account is exchanged for a token.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass, field

# key=value pairs: the value quoted (with \" escapes) or a bare token.
_PARAM = re.compile(r'\s*,?\s*([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))')
_SCHEME = re.compile(r"\s*([A-Za-z][\w-]*)")
MAX_PARAMS = 16


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lowercase: "basic", "bearer", ...
    params: dict[str, str] = field(default_factory=dict)


def parse_challenge(header: str | None) -> Challenge | None:
    """The first challenge of a WWW-Authenticate header; None when there is none."""
    match = _SCHEME.match(header or "")
    if match is None:
        return None
    params: dict[str, str] = {}
    position = match.end()
    while len(params) < MAX_PARAMS:
        pair = _PARAM.match(header or "", position)
        if pair is None or pair.end() == position:
            break
        key, quoted, bare = pair.groups()
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        params.setdefault(key.lower(), value)
        position = pair.end()
    return Challenge(match.group(1).lower(), params)


def host_of(netloc: str) -> str:
    """`host` from `host`, `host:port` or `[v6]:port`, lowercase."""
    return (urllib.parse.urlsplit(f"//{netloc}").hostname or "").lower()


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or `localhost`: traffic that never leaves this machine."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    # ::ffff:127.0.0.1 is loopback too; Python says so only from 3.13 on.
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


Origin = tuple[str, str, int]


def origin(url: str) -> Origin:
    """(scheme, host, port): a redirect that changes any of them leaves the registry."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


def refusal(url: str) -> str | None:
    """Why fleet will not send a request to `url`, or None: TLS everywhere, plain HTTP only
    to loopback (the local pull-through cache)."""
    scheme, host, _ = origin(url)
    if not host:
        return "it names no host"
    if scheme == "https":
        return None
    if scheme == "http" and is_loopback(host):
        return None
    if scheme == "http":
        return "it is plain http:// to a host that is not loopback"
    return f"fleet speaks only https:// (and http:// to loopback), not {scheme or 'no scheme'}"
