"""Checking a credential against the registry itself before it is stored or pushed.

The registry answers GET /v2/ with 401 and a WWW-Authenticate challenge: `Basic` (a
self-hosted registry with htpasswd) or `Bearer realm=...,service=...` (Docker Hub and
most hosted registries), where the account is exchanged for a token at the realm.
"""

from __future__ import annotations

import base64
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from fleet.credentials.names import api_host
from fleet.credentials.store import Credential


class Unverifiable(Exception):
    """The registry could not be asked (network, TLS, odd answers)."""


class Rejected(Exception):
    """The registry said no to this account."""


@dataclass(frozen=True)
class Challenge:
    scheme: str
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge:
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', rest)}
    return Challenge(scheme.lower(), params)


def _basic(credential: Credential) -> str:
    pair = f"{credential.username}:{credential.secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _context(ca_cert: Path | None, registry: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    # Trust what Docker on this machine trusts for this registry, as `docker login` does.
    for extra in (ca_cert, Path("/etc/docker/certs.d") / registry / "ca.crt"):
        if extra is not None and extra.exists():
            context.load_verify_locations(cafile=str(extra))
    return context


def _get(url: str, context: ssl.SSLContext, auth: str | None, timeout: float) -> int:
    request = urllib.request.Request(url, headers={"Authorization": auth} if auth else {})
    try:
        with urllib.request.urlopen(request, context=context, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        if exc.code == 401 and auth is None:
            raise _NeedsAuth(exc.headers.get("WWW-Authenticate", "")) from None
        return exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unverifiable(f"cannot reach {urllib.parse.urlsplit(url).netloc}: {reason}") from None


class _NeedsAuth(Exception):
    def __init__(self, header: str) -> None:
        self.header = header


def verify(
    credential: Credential,
    *,
    ca_cert: Path | None = None,
    timeout: float = 15,
    scheme: str = "https",
) -> None:
    """Return when the registry accepts the account; raise Rejected or Unverifiable."""
    host = api_host(credential.registry)
    context = _context(ca_cert, credential.registry)
    base = f"{scheme}://{host}/v2/"
    try:
        status = _get(base, context, None, timeout)
    except _NeedsAuth as needs:
        challenge = parse_challenge(needs.header)
    else:
        if status == 200:
            return  # an open registry: nothing to check the account against
        raise Unverifiable(f"{host} answered {status} to /v2/")
    if challenge.scheme == "basic":
        status = _get(base, context, _basic(credential), timeout)
    elif challenge.scheme == "bearer" and challenge.params.get("realm"):
        query = {"service": challenge.params.get("service", ""), "account": credential.username}
        realm = challenge.params["realm"]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        status = _get(url, context, _basic(credential), timeout)
    else:
        raise Unverifiable(f"{host} asks for an authentication scheme fleet does not know")
    if status in (401, 403):
        raise Rejected(f"{host} refused the account {credential.username!r}")
    if status != 200:
        raise Unverifiable(f"{host} answered {status} while checking the account")
