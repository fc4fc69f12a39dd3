"""The lab's Docker-Hub-like token service, for a registry in `auth: token` mode.

Docker's token protocol: the registry answers 401 with
`Bearer realm="https://HOST:PORT/token",service="...",scope="repository:NAME:pull"`; the
client asks `GET /token?service=...&scope=repository:NAME:pull,push&account=USER` here
(Basic auth when it has an account) and gets a JWT that lists what it may do. As on
Docker Hub: anyone pulls a public repository, an account pulls a private one, and only a
publisher pushes. A wrong password is a 401; an anonymous or unprivileged request gets a
token that grants less, and the registry refuses what the token does not list.

Tokens are ES256 JWTs whose `x5c` header holds the signing certificate, which the
registry trusts through its `rootcertbundle` (Distribution 2.8 `registry/auth/token`).

Run by the lab as `python -m fleet.lab.tokenauth --config FILE`. A lab part, not a
product part: small, standard library HTTP server, one thread per request.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import fnmatch
import json
import re
import secrets
import ssl
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

REALM = "fleet-lab-token"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_ACTIONS = ("pull", "push")
MAX_SCOPES = 16


# -- deciding (pure) --------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    type: str  # "repository"
    name: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Rules:
    public: tuple[str, ...]  # fnmatch patterns of repositories anyone may pull
    publishers: tuple[str, ...]  # accounts that may push

    def is_public(self, repository: str) -> bool:
        return any(fnmatch.fnmatchcase(repository, pattern) for pattern in self.public)


def parse_scope(text: str) -> Scope | None:
    """`repository:NAME:pull,push` (a `repository(plugin)` class is ignored); None when it
    is not a scope this service knows."""
    kind, _, rest = text.partition(":")
    name, _, actions = rest.rpartition(":")
    kind = kind.split("(", 1)[0]
    if kind != "repository" or not _REPOSITORY.fullmatch(name) or len(name) > 255:
        return None
    wanted = tuple(dict.fromkeys(a for a in actions.split(",") if a))
    return Scope(kind, name, wanted)


def granted(rules: Rules, account: str | None, scope: Scope) -> tuple[str, ...]:
    """The actions of `scope` that `account` (None: anonymous) may do."""
    allowed = set()
    if account is not None or rules.is_public(scope.name):
        allowed.add("pull")
    if account is not None and account in rules.publishers:
        allowed.update(_ACTIONS)
    return tuple(action for action in scope.actions if action in allowed)


def claims(
    *,
    issuer: str,
    service: str,
    account: str | None,
    access: list[dict[str, Any]],
    now: int,
    seconds: int,
) -> dict[str, Any]:
    """What Distribution checks: iss, aud (a string in 2.8), exp/nbf (60 s leeway), and
    `access`."""
    return {
        "iss": issuer,
        "sub": account or "",
        "aud": service,
        "exp": now + seconds,
        "nbf": now,
        "iat": now,
        "jti": secrets.token_hex(16),
        "access": access,
    }


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _compact(value: dict[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


@dataclass(frozen=True)
class Signer:
    key: ec.EllipticCurvePrivateKey  # P-256
    certificate_der: bytes

    @classmethod
    def load(cls, certificate: Path, key: Path) -> Signer:
        private = serialization.load_pem_private_key(key.read_bytes(), password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key}: the token signing key must be an EC P-256 key")
        cert = x509.load_pem_x509_certificate(certificate.read_bytes())
        return cls(private, cert.public_bytes(serialization.Encoding.DER))

    def sign(self, claim_set: dict[str, Any]) -> str:
        """A compact JWS: ES256, the signing certificate in `x5c` (standard base64 DER)."""
        header = {
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [base64.b64encode(self.certificate_der).decode("ascii")],
        }
        signing_input = f"{_compact(header)}.{_compact(claim_set)}"
        der = self.key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)  # JOSE wants r || s, 32 bytes each, not DER
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


# -- configuration ----------------------------------------------------------------------


@dataclass(frozen=True)
class TokenConfig:
    listen: str  # host:port
    certificate: Path  # TLS
    key: Path
    signing_certificate: Path
    signing_key: Path
    issuer: str
    service: str
    htpasswd: Path  # user:bcrypt lines, as the htpasswd registry reads them
    public: tuple[str, ...]
    publishers: tuple[str, ...]
    log: Path
    token_seconds: int = 300

    def to_json(self) -> str:
        data = {k: str(v) if isinstance(v, Path) else v for k, v in vars(self).items()}
        return json.dumps(
            {**data, "public": list(self.public), "publishers": list(self.publishers)}
        )

    @classmethod
    def load(cls, path: Path) -> TokenConfig:
        data = json.loads(path.read_text())
        for key in ("certificate", "key", "signing_certificate", "signing_key", "htpasswd", "log"):
            data[key] = Path(data[key])
        data["public"], data["publishers"] = tuple(data["public"]), tuple(data["publishers"])
        return cls(**data)


def load_htpasswd(path: Path) -> dict[str, bytes]:
    accounts = {}
    for line in path.read_text().splitlines():
        user, _, hashed = line.strip().partition(":")
        if user and hashed:
            accounts[user] = hashed.encode()
    return accounts


# -- serving (I/O) ----------------------------------------------------------------------


class TokenService:
    """The decisions and the keys, shared by the request threads."""

    def __init__(self, config: TokenConfig) -> None:
        self.config = config
        self.rules = Rules(config.public, config.publishers)
        self.accounts = load_htpasswd(config.htpasswd)
        self.signer = Signer.load(config.signing_certificate, config.signing_key)
        self._log_lock = threading.Lock()

    def check_account(self, authorization: str | None) -> str | None:
        """The account a Basic header proves; None without a header. Raises PermissionError
        for a wrong password, an unknown user or a malformed header."""
        if not authorization:
            return None
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise PermissionError("not Basic")
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise PermissionError("malformed") from None
        hashed = self.accounts.get(user)
        if not sep or hashed is None or not bcrypt.checkpw(password.encode(), hashed):
            raise PermissionError("wrong user or password")
        return user

    def token(self, account: str | None, scopes: list[Scope]) -> tuple[dict[str, Any], list]:
        access = []
        for scope in scopes:
            actions = granted(self.rules, account, scope)
            access.append({"type": scope.type, "name": scope.name, "actions": list(actions)})
        now = int(time.time())
        claim_set = claims(
            issuer=self.config.issuer,
            service=self.config.service,
            account=account,
            access=access,
            now=now,
            seconds=self.config.token_seconds,
        )
        token = self.signer.sign(claim_set)
        answer = {
            "token": token,
            "access_token": token,
            "expires_in": self.config.token_seconds,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        }
        return answer, access

    def log(self, entry: dict[str, Any]) -> None:
        """One JSON line per request: who asked what and what they got; never a password
        or a token."""
        line = json.dumps({"time": round(time.time(), 3), **entry}) + "\n"
        with self._log_lock, self.config.log.open("a") as handle:
            handle.write(line)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # a client that stalls loses its thread, not the service
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.do_handshake()  # in this request's thread, not in accept()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass  # every request gets one JSON line from TokenService.log instead

    def do_GET(self) -> None:  # noqa: N802 (the base class's name)
        service = self.server.service
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        accounts: list[str | None] = [*query.get("account", []), None]
        entry: dict[str, Any] = {
            "client": self.client_address[0],
            "path": url.path[:100],
            "account_param": accounts[0],
        }
        if url.path != "/token":
            return self._answer(404, {"details": "not found"}, entry)
        if (query.get("service") or [""])[0] != service.config.service:
            return self._answer(400, {"details": "unknown service"}, entry)
        try:
            account = service.check_account(self.headers.get("Authorization"))
        except PermissionError:
            entry["refused"] = "wrong user name or password"
            return self._answer(401, {"details": "incorrect username or password"}, entry)
        texts = [s for value in query.get("scope", []) for s in value.split()][:MAX_SCOPES]
        scopes = [scope for text in texts if (scope := parse_scope(text)) is not None]
        answer, access = service.token(account, scopes)
        entry.update(account=account, asked=texts, granted=access)
        self._answer(200, answer, entry)

    def _answer(self, status: int, body: dict[str, Any], entry: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", f'Basic realm="{REALM}"')
        self.end_headers()
        self.wfile.write(data)
        self.server.service.log({**entry, "status": status})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, service: TokenService) -> None:
        host, _, port = service.config.listen.rpartition(":")
        super().__init__((host.strip("[]"), int(port)), _Handler)
        self.service = service
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(service.config.certificate, service.config.key)
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        self.service.log({"client": client_address[0], "error": type(error).__name__})


def serve(config: TokenConfig) -> None:
    server = _Server(TokenService(config))
    print(f"token service on https://{config.listen}/token", flush=True)
    with server:
        server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fleet.lab.tokenauth", description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="the service's JSON config")
    args = parser.parse_args(argv)
    try:
        serve(TokenConfig.load(args.config))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
