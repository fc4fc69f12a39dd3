"""One HTTP client for a registry's API, on `requests`, hardened for hostile answers.

- TLS is always verified: the system store, `--ca-cert`, and what `docker login` on this
  machine trusts for the registry (`/etc/docker/certs.d/HOST[:PORT]/ca.crt`). Plain HTTP
  only to loopback (the local pull-through cache), where Docker needs no TLS either.
- An account goes only where it may: Basic over TLS or to loopback; to a token realm only
  over TLS, or plain HTTP when registry and realm are both loopback.
- Redirects are followed here, never by `requests`: Authorization is dropped as soon as one
  leaves the registry's scheme, host and port (blob storage hosts), and https never becomes
  http.
- Every body is read as a stream with a byte cap: a registry cannot make fleet hold more
  than a few MiB.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import requests.adapters
import requests.utils

from fleet.credentials.names import api_host
from fleet.credentials.store import Credential
from fleet.registry.challenge import (
    Challenge,
    host_of,
    is_loopback,
    origin,
    parse_challenge,
    refusal,
)
from fleet.registry.errors import (
    AuthRequired,
    NotFound,
    Rejected,
    Unverifiable,
    remote_text,
)
from fleet.registry.manifests import json_object
from fleet.registry.trust import ssl_context

Sink = Callable[[bytes], None]
MANIFEST_LIMIT = 4 * 1024 * 1024  # manifests and indexes; Distribution's own limit is 4 MiB
CONFIG_LIMIT = 4 * 1024 * 1024  # image config blobs
TOKEN_LIMIT = 64 * 1024  # a token service's answer
ERROR_LIMIT = 64 * 1024  # the body of an error answer, read only to quote it
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
NOT_FOUND_CODES = {"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"}
# Docker clients refresh a token a little before it expires; a token service that says
# nothing means 60 seconds (the token spec's default).
DEFAULT_TOKEN_SECONDS = 60
TOKEN_MARGIN_SECONDS = 5


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str  # where the answer came from, after redirects

    @property
    def where(self) -> str:
        return urllib.parse.urlsplit(self.url).netloc


def basic_auth(credential: Credential) -> str:
    """The Authorization header for an account: the one place fleet builds it."""
    pair = f"{credential.username}:{credential.secret}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


class _TrustingAdapter(requests.adapters.HTTPAdapter):
    """Every connection verifies with our SSL context, not with requests' CA bundle."""

    def __init__(self, context: Any) -> None:
        self._context = context
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # requests would load its own bundle into our context on every connection; ours
        # already holds what to trust. Verification itself stays required.
        conn.cert_reqs = "CERT_REQUIRED"


class _PlainHTTPServer(Exception):
    """A loopback registry that does not speak TLS: ask again over http://."""


class RegistryClient:
    """GET and HEAD against one registry's `/v2/` API, answering its auth challenges with
    `credential` when one is given. Safe to share between threads."""

    def __init__(
        self,
        registry_key: str,
        credential: Credential | None = None,
        *,
        ca_cert: Path | None = None,
        timeout: float = 15,
    ) -> None:
        self.host = api_host(registry_key)
        self.credential = credential
        self.timeout = timeout
        self.loopback = is_loopback(host_of(self.host))
        self._scheme = "https"
        self._scheme_known = not self.loopback
        self._session = requests.Session()
        # No .netrc, no REQUESTS_CA_BUNDLE: what is trusted and sent is decided here.
        self._session.trust_env = False
        adapter = _TrustingAdapter(ssl_context(ca_cert, registry_key))
        self._session.mount("https://", adapter)
        self._session.mount("http://", requests.adapters.HTTPAdapter(max_retries=0))
        self._lock = threading.Lock()
        self._basic = False  # the registry answered with a Basic challenge once
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def base(self) -> str:
        return f"{self._scheme}://{self.host}"

    def _account(self) -> str:
        return f"the account {self.credential.username!r}" if self.credential else "no account"

    # -- the public calls ---------------------------------------------------------------

    def get(
        self,
        path: str,
        *,
        accept: Iterable[str] = (),
        scope: str | None = None,
        limit: int = MANIFEST_LIMIT,
        offsite: bool = True,
    ) -> Answer:
        """A 2xx answer to GET `path`, its body at most `limit` bytes; raise otherwise."""
        answer = self.request("GET", path, accept=accept, scope=scope, limit=limit, offsite=offsite)
        return self.expect_ok(answer, f"GET {path}")

    def head(self, path: str, *, accept: Iterable[str] = (), scope: str | None = None) -> Answer:
        answer = self.request("HEAD", path, accept=accept, scope=scope, limit=0)
        return self.expect_ok(answer, f"HEAD {path}")

    def request(
        self,
        method: str,
        path: str,
        *,
        accept: Iterable[str] = (),
        scope: str | None = None,
        limit: int = MANIFEST_LIMIT,
        offsite: bool = True,
        sink: Sink | None = None,
    ) -> Answer:
        """The registry's answer to `method path`, any status, after answering one auth
        challenge. With `sink`, a successful body goes there chunk by chunk (a layer of a
        few GB is never held), and the answer's body is empty."""
        accept_header = ", ".join(accept)
        args = (method, path, accept_header, scope, limit, offsite, sink)
        try:
            return self._authenticated(*args)
        except _PlainHTTPServer:
            self._scheme, self._scheme_known = "http", True
            return self._authenticated(*args)

    def expect_ok(self, answer: Answer, what: str) -> Answer:
        """`answer` when it is a 2xx; otherwise the error that says what went wrong."""
        if 200 <= answer.status < 300:
            return answer
        code, message = _registry_error(answer.body)
        said = f": {remote_text(message)}" if message else ""
        where = f"{answer.where} answered {answer.status}{f' {code}' if code else ''} to {what}"
        if answer.status == 404 or code in NOT_FOUND_CODES:
            raise NotFound(f"{where}{said}")
        if answer.status in (401, 403):
            if self.credential is None:
                raise AuthRequired(f"{where}: it wants an account{said}")
            raise Rejected(f"{where}: it refused {self._account()}{said}")
        raise Unverifiable(f"{where}{said}")

    # -- authentication -----------------------------------------------------------------

    def _authenticated(
        self,
        method: str,
        path: str,
        accept: str,
        scope: str | None,
        limit: int,
        offsite: bool,
        sink: Sink | None = None,
    ) -> Answer:
        auth = self._known_auth(scope)
        answer = self._send(method, self.base + path, accept, auth, limit, offsite, sink)
        if answer.status != 401:
            return answer
        challenge = parse_challenge(answer.headers.get("WWW-Authenticate"))
        if challenge is None:
            raise Unverifiable(
                f"{answer.where} answered 401 to {method} {path} without saying how to "
                "authenticate (no WWW-Authenticate challenge)"
            )
        fresh = self._authorization(challenge, scope, refused=auth)
        if fresh is None or fresh == auth:
            return answer  # nothing (new) to offer: the 401 stands
        return self._send(method, self.base + path, accept, fresh, limit, offsite, sink)

    def _known_auth(self, scope: str | None) -> str | None:
        """An Authorization header already earned for this scope, to skip a 401 round trip."""
        if self._basic and self.credential is not None:
            return basic_auth(self.credential)
        now = time.monotonic()
        with self._lock:
            for (_, _, cached_scope), (header, expires) in self._tokens.items():
                if cached_scope == (scope or "") and expires > now:
                    return header
        return None

    def _authorization(
        self, challenge: Challenge, scope: str | None, refused: str | None
    ) -> str | None:
        if challenge.scheme == "basic":
            if self.credential is None:
                return None
            self._basic = True
            return basic_auth(self.credential)
        if challenge.scheme == "bearer":
            return self._bearer(challenge, scope, refused)
        raise Unverifiable(
            f"{self.host} asks for an authentication scheme fleet does not know: "
            f"{remote_text(challenge.scheme, 40)}"
        )

    def _bearer(self, challenge: Challenge, scope: str | None, refused: str | None) -> str:
        """A token for the challenge's scope: the cached one unless the registry has just
        refused it (expired early, or a token service restarted with a new key)."""
        realm = challenge.params.get("realm", "")
        self._check_realm(realm)
        service = challenge.params.get("service", "")
        wanted = challenge.params.get("scope") or scope or ""
        key = (realm, service, wanted)
        with self._lock:
            cached = self._tokens.get(key)
        if cached and cached[1] > time.monotonic() and cached[0] != refused:
            return cached[0]
        token, seconds = self._fetch_token(realm, service, wanted)
        header = f"Bearer {token}"
        with self._lock:
            self._tokens[key] = (header, time.monotonic() + seconds - TOKEN_MARGIN_SECONDS)
        return header

    def _check_realm(self, realm: str) -> None:
        why = refusal(realm) if realm else "the challenge names no realm"
        if why is None and origin(realm)[0] == "http" and not self.loopback:
            why = "it is plain http:// while the registry is not loopback"
        if why:
            raise Unverifiable(
                f"{self.host} sends fleet to the token service {remote_text(realm, 100)!r}, "
                f"which fleet does not use: {why}; no account was sent"
            )

    def _fetch_token(self, realm: str, service: str, scope: str) -> tuple[str, float]:
        query = [("service", service)] if service else []
        query += [("scope", s) for s in scope.split()]
        if self.credential is not None:
            query.append(("account", self.credential.username))
        separator = "&" if urllib.parse.urlsplit(realm).query else "?"
        url = realm + (separator + urllib.parse.urlencode(query) if query else "")
        auth = basic_auth(self.credential) if self.credential is not None else None
        answer = self._send("GET", url, "application/json", auth, TOKEN_LIMIT, offsite=False)
        where = f"the token service {answer.where}"
        if answer.status in (401, 403):
            code, message = _registry_error(answer.body)
            said = f": {remote_text(message)}" if message else ""
            if self.credential is None:
                raise AuthRequired(f"{where} wants an account for {self.host}{said}")
            raise Rejected(f"{where} refused {self._account()} for {self.host}{said}")
        if answer.status != 200:
            raise Unverifiable(f"{where} answered {answer.status} for {self.host}")
        return parse_token_answer(answer.body, where)

    # -- one request, with redirects ----------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        accept: str,
        auth: str | None,
        limit: int,
        offsite: bool,
        sink: Sink | None = None,
    ) -> Answer:
        start = origin(url)
        carry_auth = True
        for _ in range(MAX_REDIRECTS + 1):
            why = refusal(url)
            if why:
                raise Unverifiable(f"fleet will not ask {_netloc(url)}: {why}")
            carry_auth = carry_auth and origin(url) == start
            headers = {"Accept": accept} if accept else {}
            if auth and carry_auth:
                headers["Authorization"] = auth
            response = self._open(method, url, headers)
            with response:
                if response.status_code in REDIRECTS and "Location" in response.headers:
                    url = self._redirect_target(url, response.headers["Location"], offsite)
                    if response.status_code == 303 and method != "HEAD":
                        method = "GET"
                    continue
                if origin(url)[:2] == (self._scheme, host_of(self.host)):
                    self._scheme_known = True
                body = b"" if method == "HEAD" else self._read(response, url, limit, sink)
                return Answer(response.status_code, response.headers, body, url)
        raise Unverifiable(f"{_netloc(url)} redirected more than {MAX_REDIRECTS} times")

    def _open(self, method: str, url: str, headers: dict[str, str]) -> requests.Response:
        host = origin(url)[1]
        proxies = {} if is_loopback(host) else requests.utils.get_environ_proxies(url)
        try:
            return self._session.request(
                method,
                url,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=self.timeout,
                proxies=proxies,
            )
        except requests.exceptions.SSLError as exc:
            if not self._scheme_known and "CERTIFICATE_VERIFY_FAILED" not in str(exc):
                raise _PlainHTTPServer() from None
            raise Unverifiable(
                f"TLS with {_netloc(url)} failed: {remote_text(str(exc))}; pass --ca-cert "
                "if this machine does not trust the registry's certificate"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise Unverifiable(f"cannot reach {_netloc(url)}: {remote_text(str(exc))}") from None

    def _redirect_target(self, url: str, location: str, offsite: bool) -> str:
        target = urllib.parse.urljoin(url, location)
        if origin(url)[0] == "https" and origin(target)[0] != "https":
            raise Unverifiable(
                f"{_netloc(url)} redirected to {remote_text(_netloc(target), 100)} without TLS; "
                "not followed"
            )
        if not offsite and origin(target) != origin(url):
            raise Unverifiable(
                f"{_netloc(url)} redirected to another host ({remote_text(_netloc(target), 100)}); "
                "not followed: the answer must come from the registry itself"
            )
        return target

    @staticmethod
    def _read(response: requests.Response, url: str, limit: int, sink: Sink | None = None) -> bytes:
        """The body, refused past `limit` bytes; an error's body is only quoted, so its
        start is enough. A successful body goes to `sink`, when given, as it arrives."""
        quoting = not 200 <= response.status_code < 300
        cap = ERROR_LIMIT if quoting else limit
        declared = response.headers.get("Content-Length", "")
        if not quoting and declared.isdigit() and int(declared) > cap:
            raise Unverifiable(
                f"{_netloc(url)} sent {int(declared)} bytes; fleet reads at most {cap}"
            )
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.iter_content(64 * 1024):
                total += len(chunk)
                if total > cap and quoting:
                    break
                if total > cap:
                    raise Unverifiable(f"{_netloc(url)} sent more than {cap} bytes; refused")
                if sink is not None and not quoting:
                    sink(chunk)
                else:
                    chunks.append(chunk)
        except requests.exceptions.RequestException as exc:
            why = remote_text(str(exc))
            raise Unverifiable(f"reading from {_netloc(url)} failed: {why}") from None
        return b"".join(chunks)


def parse_token_answer(body: bytes, where: str) -> tuple[str, float]:
    """(token, seconds it lives) from a token service's JSON answer."""
    data = json_object(body, f"the answer of {where}")
    token = data.get("token") or data.get("access_token")
    # A token goes into a header: printable ASCII without spaces, or it is not one.
    if not isinstance(token, str) or not token or not all(33 <= ord(c) < 127 for c in token):
        raise Unverifiable(f"{where} answered without a usable token")
    seconds = data.get("expires_in", DEFAULT_TOKEN_SECONDS)
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
        seconds = DEFAULT_TOKEN_SECONDS
    return token, float(min(seconds, 24 * 3600))


def _registry_error(body: bytes) -> tuple[str, str]:
    """(code, message) of Distribution's `{"errors": [{"code", "message"}]}`, or of a token
    service's `{"details": ...}`; empty strings when the body says neither."""
    try:
        data = json.loads(body)
    except ValueError:
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    errors = data.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        code = first.get("code")
        message = first.get("message")
        return (
            remote_text(code, 40) if isinstance(code, str) else "",
            message if isinstance(message, str) else "",
        )
    details = data.get("details") or data.get("error")
    return "", details if isinstance(details, str) else ""


def _netloc(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc


def verify(credential: Credential, *, ca_cert: Path | None = None, timeout: float = 15) -> None:
    """Return when the registry accepts the account; raise Rejected or Unverifiable.

    `/v2/` must answer 200 after authenticating, from the registry itself: a 200 reached
    through a redirect to another host proves nothing about this registry."""
    with RegistryClient(credential.registry, credential, ca_cert=ca_cert, timeout=timeout) as c:
        answer = c.request("GET", "/v2/", limit=ERROR_LIMIT, offsite=False)
        if answer.status in (401, 403):
            raise Rejected(f"{c.host} refused the account {credential.username!r}")
        if answer.status != 200:
            raise Unverifiable(f"{c.host} answered {answer.status} while checking the account")
