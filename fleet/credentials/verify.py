"""Talking to a registry's HTTP API from this machine: checking an account, and reading a
manifest's platform when the robot's daemon cannot say it.

The registry answers with 401 and a WWW-Authenticate challenge: `Basic` (a self-hosted
registry with htpasswd) or `Bearer realm=...,service=...` (Docker Hub and most hosted
registries), where the account is exchanged for a token at the realm.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _context(ca_cert: Path | None, registry: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    # Trust what Docker on this machine trusts for this registry, as `docker login` does.
    for extra in (ca_cert, Path("/etc/docker/certs.d") / registry / "ca.crt"):
        if extra is not None and extra.exists():
            context.load_verify_locations(cafile=str(extra))
    return context


@dataclass
class Answer:
    status: int
    body: bytes
    headers: Any


class RegistryHTTP:
    """GETs against one registry, answering its auth challenge with an account if given."""

    def __init__(
        self,
        registry: str,
        credential: Credential | None = None,
        *,
        ca_cert: Path | None = None,
        timeout: float = 15,
        scheme: str = "https",
    ) -> None:
        self.host = api_host(registry)
        self.credential = credential
        self.context = _context(ca_cert, registry)
        self.timeout = timeout
        self.base = f"{scheme}://{self.host}"
        self._auth: str | None = None

    def _basic(self) -> str | None:
        if self.credential is None:
            return None
        pair = f"{self.credential.username}:{self.credential.secret}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def _fetch(self, url: str, headers: dict[str, str]) -> Answer:
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=self.timeout) as r:
                return Answer(int(r.status), r.read(), r.headers)
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.read(), exc.headers)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            where = urllib.parse.urlsplit(url).netloc
            raise Unverifiable(f"cannot reach {where}: {reason}") from None

    def _authorize(self, challenge: Challenge, scope: str | None) -> str | None:
        if challenge.scheme == "basic":
            return self._basic()
        if challenge.scheme == "bearer" and challenge.params.get("realm"):
            query = {"service": challenge.params.get("service", "")}
            if scope:
                query["scope"] = scope
            if self.credential:
                query["account"] = self.credential.username
            realm = challenge.params["realm"]
            url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
            basic = self._basic()
            answer = self._fetch(url, {"Authorization": basic} if basic else {})
            if answer.status in (401, 403):
                raise Rejected(
                    f"{self.host} refused the account {self.credential.username!r}"
                    if self.credential
                    else f"{self.host} wants an account"
                )
            if answer.status != 200:
                raise Unverifiable(f"{self.host}'s token service answered {answer.status}")
            token = json.loads(answer.body)
            return "Bearer " + str(token.get("token") or token.get("access_token"))
        raise Unverifiable(f"{self.host} asks for an authentication scheme fleet does not know")

    def get(self, path: str, accept: str | None = None, scope: str | None = None) -> Answer:
        headers = {"Accept": accept} if accept else {}
        if self._auth:
            headers["Authorization"] = self._auth
        answer = self._fetch(self.base + path, headers)
        if answer.status != 401:
            return answer
        challenge = parse_challenge(answer.headers.get("WWW-Authenticate", ""))
        self._auth = self._authorize(challenge, scope)
        if self._auth is None:
            return answer
        headers["Authorization"] = self._auth
        return self._fetch(self.base + path, headers)


def verify(credential: Credential, *, ca_cert: Path | None = None, timeout: float = 15) -> None:
    """Return when the registry accepts the account; raise Rejected or Unverifiable."""
    http = RegistryHTTP(credential.registry, credential, ca_cert=ca_cert, timeout=timeout)
    answer = http.get("/v2/")
    if answer.status in (401, 403):
        raise Rejected(f"{http.host} refused the account {credential.username!r}")
    if answer.status != 200:
        raise Unverifiable(f"{http.host} answered {answer.status} while checking the account")


MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def manifest_platform(
    registry: str,
    repository: str,
    digest: str,
    credential: Credential | None,
    *,
    ca_cert: Path | None = None,
) -> dict[str, Any] | None:
    """os/architecture/variant of a single-platform image, from its config blob (a few
    hundred bytes): what a daemon that cannot tell (Docker 20.10 and OCI manifests) needs."""
    http = RegistryHTTP(registry, credential, ca_cert=ca_cert)
    scope = f"repository:{repository}:pull"
    answer = http.get(f"/v2/{repository}/manifests/{digest}", MANIFEST_TYPES, scope)
    if answer.status != 200:
        return None
    config = json.loads(answer.body).get("config", {}).get("digest")
    if not config:
        return None
    blob = http.get(f"/v2/{repository}/blobs/{config}", None, scope)
    if blob.status != 200:
        return None
    data = json.loads(blob.body)
    return {k: data.get(k) for k in ("os", "architecture", "variant")}
