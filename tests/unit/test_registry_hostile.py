"""The registry client against hostile servers on loopback: where the account goes, what
a redirect may carry, and what fleet refuses to read.

Each test drives fleet through the calls that existed before fleet/registry (verify,
a client's GET, manifest_platform), so the same scenarios ran against the old urllib
client too; the report of that change says which failed there.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading

import pytest

from fleet import registry as api
from fleet.credentials.store import Credential
from fleet.lab import pki
from fleet.reference import parse
from tests.unit.fake_registry import FakeServer, Reply, Seen

SECRET = "s3cret-password"
CONFIG = json.dumps({"architecture": "arm64", "os": "linux", "variant": "v8"}).encode()
CONFIG_DIGEST = "sha256:" + hashlib.sha256(CONFIG).hexdigest()


def _manifest(config_digest: str = CONFIG_DIGEST) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(CONFIG),
            },
            "layers": [],
        }
    ).encode()


MANIFEST = _manifest()
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    pki.make_ca_and_server_cert(directory, "127.0.0.1")
    return directory


@pytest.fixture
def servers(tls):
    started: list[FakeServer] = []

    def start(route, *, https: bool = True) -> FakeServer:
        server = FakeServer(route, tls if https else None)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _basic_registry(routes):
    """A registry with an htpasswd-like Basic challenge in front of `routes`."""

    def route(seen: Seen) -> Reply:
        if "authorization" not in seen.headers:
            return Reply(401, {"WWW-Authenticate": 'Basic realm="test"'})
        return routes(seen)

    return route


def _bearer_registry(servers, token_service: FakeServer, token: str) -> FakeServer:
    """A registry that sends clients to `token_service` and accepts `token` only."""
    challenge = f'Bearer realm="{token_service.url}/token",service="hub"'

    def route(seen: Seen) -> Reply:
        if seen.headers.get("authorization") != f"Bearer {token}":
            return Reply(401, {"WWW-Authenticate": challenge})
        return Reply(200, body=b"{}")

    return servers(route)


def _credential(server: FakeServer) -> Credential:
    return Credential(server.netloc, "robot", SECRET)


# -- where the account goes ---------------------------------------------------------------


def test_a_plain_http_token_realm_on_a_named_host_never_gets_the_account(servers, tls, monkeypatch):
    token_service = servers(lambda seen: Reply.json({"token": "t"}), https=False)
    port = token_service.netloc.rsplit(":", 1)[1]
    # auth.test is a name, not a loopback address: on a real network this realm is cleartext.
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return real_getaddrinfo("127.0.0.1" if host == "auth.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    challenge = f'Bearer realm="http://auth.test:{port}/token",service="test"'
    registry = servers(lambda seen: Reply(401, {"WWW-Authenticate": challenge}))
    error = None
    try:
        api.verify(_credential(registry), ca_cert=tls / "ca.crt")
    except Exception as exc:  # the account must not have left, whatever the error
        error = exc
    assert token_service.authorizations() == []
    assert isinstance(error, api.Unverifiable) and "plain http" in str(error)


def test_a_redirect_to_another_port_drops_the_authorization_header(servers, tls):
    storage = servers(lambda seen: Reply(200, body=CONFIG))

    def blobs(seen: Seen) -> Reply:
        return Reply(307, {"Location": f"{storage.url}/storage/config"})

    registry = servers(_basic_registry(blobs))
    client = api.RegistryClient(registry.netloc, _credential(registry), ca_cert=tls / "ca.crt")
    with client:
        answer = client.get(f"/v2/r/blobs/{CONFIG_DIGEST}")
    assert answer.body == CONFIG
    assert storage.authorizations() == []
    assert registry.authorizations() == [api.basic_auth(_credential(registry))]


def test_a_redirect_from_https_to_http_is_not_followed(servers, tls):
    plain = servers(lambda seen: Reply(200, body=CONFIG), https=False)
    registry = servers(
        _basic_registry(lambda seen: Reply(302, {"Location": f"{plain.url}/config"}))
    )
    client = api.RegistryClient(registry.netloc, _credential(registry), ca_cert=tls / "ca.crt")
    with client, pytest.raises(api.Unverifiable, match="without TLS"):
        client.get(f"/v2/r/blobs/{CONFIG_DIGEST}")
    assert plain.seen == []


def test_a_login_verified_only_through_a_redirect_to_another_host_is_not_verified(servers, tls):
    elsewhere = servers(lambda seen: Reply(200, body=b"{}"))
    registry = servers(
        _basic_registry(lambda seen: Reply(302, {"Location": f"{elsewhere.url}/v2/"}))
    )
    with pytest.raises(api.Unverifiable, match="another host"):
        api.verify(_credential(registry), ca_cert=tls / "ca.crt")
    assert elsewhere.seen == []


def test_an_anonymous_token_from_another_host_is_asked_without_an_account(servers, tls):
    token_service = servers(lambda seen: Reply.json({"token": "anonymous-token"}))
    registry = _bearer_registry(servers, token_service, "anonymous-token")
    with api.RegistryClient(registry.netloc, None, ca_cert=tls / "ca.crt") as client:
        client.get("/v2/", scope="repository:r:pull")
    (asked,) = token_service.seen
    assert "authorization" not in asked.headers
    assert "account=" not in asked.path and "scope=repository%3Ar%3Apull" in asked.path


def test_a_wrong_password_is_rejected_without_the_secret_in_the_message(servers, tls):
    registry = servers(lambda seen: Reply(401, {"WWW-Authenticate": 'Basic realm="x"'}))
    with pytest.raises(api.Rejected) as refused:
        api.verify(_credential(registry), ca_cert=tls / "ca.crt")
    assert SECRET not in str(refused.value) and "robot" in str(refused.value)


def test_a_401_without_a_challenge_says_so(servers, tls):
    registry = servers(lambda seen: Reply(401))
    with pytest.raises(api.Unverifiable, match="no WWW-Authenticate challenge"):
        api.verify(_credential(registry), ca_cert=tls / "ca.crt")


def test_a_certificate_this_machine_does_not_trust_is_refused(servers, tmp_path):
    other = tmp_path / "other-ca"
    pki.make_ca_and_server_cert(other, "127.0.0.1")
    registry = servers(lambda seen: Reply(200))
    with pytest.raises(api.Unverifiable, match="TLS"):
        api.verify(_credential(registry), ca_cert=other / "ca.crt")
    assert registry.seen == []


# -- what fleet refuses to read ---------------------------------------------------------


def _serving(manifest: Reply, config: bytes = CONFIG):
    def route(seen: Seen) -> Reply:
        if "/manifests/" in seen.path:
            return manifest
        return Reply(200, body=config)

    return _basic_registry(route)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_oversized_manifest_is_refused(servers, tls, chunked):
    huge = b'{"schemaVersion": 2, "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    registry = servers(_serving(Reply(200, body=huge, chunked=chunked)))
    with pytest.raises(api.Unverifiable, match="bytes"):
        api.manifest_platform(
            registry.netloc, "r", MANIFEST_DIGEST, _credential(registry), ca_cert=tls / "ca.crt"
        )


def test_a_manifest_that_is_not_json_is_refused(servers, tls):
    registry = servers(_serving(Reply(200, body=b"<html>login here</html>")))
    digest = "sha256:" + hashlib.sha256(b"<html>login here</html>").hexdigest()
    with pytest.raises(api.Unverifiable, match="not valid JSON"):
        api.manifest_platform(
            registry.netloc, "r", digest, _credential(registry), ca_cert=tls / "ca.crt"
        )


def test_a_manifest_whose_digest_is_not_the_one_asked_for_is_refused(servers, tls):
    registry = servers(_serving(Reply(200, body=MANIFEST)))
    wrong = "sha256:" + "0" * 64
    with pytest.raises(api.Unverifiable, match="digest"):
        api.manifest_platform(
            registry.netloc, "r", wrong, _credential(registry), ca_cert=tls / "ca.crt"
        )


def test_a_config_blob_whose_digest_is_wrong_is_refused(servers, tls):
    registry = servers(_serving(Reply(200, body=MANIFEST), config=b'{"os": "linux"}'))
    with pytest.raises(api.Unverifiable, match="digest"):
        api.manifest_platform(
            registry.netloc, "r", MANIFEST_DIGEST, _credential(registry), ca_cert=tls / "ca.crt"
        )


def test_the_registrys_words_are_shown_as_text(servers, tls):
    said = {"errors": [{"code": "UNKNOWN", "message": "\x1b[2J\x1b[31mboom\n" + "y" * 500}]}
    registry = servers(_basic_registry(lambda seen: Reply.json(said, status=500)))
    client = api.RegistryClient(registry.netloc, _credential(registry), ca_cert=tls / "ca.crt")
    with client, pytest.raises(api.Unverifiable) as failed:
        client.get("/v2/r/manifests/latest")
    message = str(failed.value)
    assert "\x1b" not in message and "\n" not in message and "\\x1b[2J" in message
    assert len(message) < 400


def test_an_oversized_token_answer_is_refused(servers, tls):
    token_service = servers(lambda seen: Reply.json({"token": "t" * (70 * 1024)}))
    challenge = f'Bearer realm="{token_service.url}/token",service="hub"'
    registry = servers(lambda seen: Reply(401, {"WWW-Authenticate": challenge}))
    with pytest.raises(api.Unverifiable, match="bytes"):
        api.verify(_credential(registry), ca_cert=tls / "ca.crt")


# -- the good paths the hardening must keep ------------------------------------------------


def test_a_loopback_registry_without_tls_is_spoken_to_over_plain_http(servers):
    registry = servers(_serving(Reply(200, body=MANIFEST)), https=False)
    seen = api.manifest_platform(registry.netloc, "r", MANIFEST_DIGEST, _credential(registry))
    assert seen == {"os": "linux", "architecture": "arm64", "variant": "v8"}


def test_a_token_is_asked_once_per_scope_and_again_when_it_expires(servers, tls, monkeypatch):
    token_service = servers(lambda seen: Reply.json({"token": "tok", "expires_in": 300}))
    registry = _bearer_registry(servers, token_service, "tok")
    now = [1000.0]
    monkeypatch.setattr("fleet.registry.client.time.monotonic", lambda: now[0])
    with api.RegistryClient(registry.netloc, _credential(registry), ca_cert=tls / "ca.crt") as c:
        for _ in range(3):
            c.get("/v2/r/manifests/a", scope="repository:r:pull")
        assert len(token_service.seen) == 1
        c.get("/v2/q/manifests/a", scope="repository:q:pull")
        assert len(token_service.seen) == 2
        now[0] += 301
        c.get("/v2/r/manifests/a", scope="repository:r:pull")
        assert len(token_service.seen) == 3


def test_sixteen_threads_asking_one_reference_ask_the_registry_once(servers, tls, tmp_path):
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": MANIFEST_DIGEST,
                    "size": len(MANIFEST),
                    "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
                }
            ],
        }
    ).encode()
    digest = "sha256:" + hashlib.sha256(index).hexdigest()
    registry = servers(
        _basic_registry(lambda seen: Reply(200, {"Docker-Content-Digest": digest}, index))
    )
    ref = parse(f"{registry.netloc}/r:t")
    credential = _credential(registry)
    resolver = api.Resolver(ca_cert=tls / "ca.crt", cache_dir=tmp_path / "c")
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(resolver.resolve(ref, credential)))
        for _ in range(16)
    ]
    with resolver:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(results) == 16 and len({id(r) for r in results}) == 1
    asked = [(s.method, s.path) for s in registry.seen if "authorization" in s.headers]
    assert asked == [("HEAD", "/v2/r/manifests/t"), ("GET", "/v2/r/manifests/t")]
    assert results[0].digest == digest and results[0].manifests[0].digest == MANIFEST_DIGEST


def test_a_token_the_registry_refuses_early_is_asked_again(servers, tls):
    issued = []

    def token_route(seen: Seen) -> Reply:
        issued.append(f"tok{len(issued) + 1}")
        return Reply.json({"token": issued[-1], "expires_in": 300})

    token_service = servers(token_route)
    challenge = f'Bearer realm="{token_service.url}/token",service="hub",error="invalid_token"'

    def registry_route(seen: Seen) -> Reply:
        # Only the newest token counts: the first one "expires" as soon as a second exists.
        if not issued or seen.headers.get("authorization") != f"Bearer {issued[-1]}":
            return Reply(401, {"WWW-Authenticate": challenge})
        return Reply(200, body=b"{}")

    registry = servers(registry_route)
    with api.RegistryClient(registry.netloc, _credential(registry), ca_cert=tls / "ca.crt") as c:
        c.get("/v2/r/manifests/a", scope="repository:r:pull")
        issued.append("rotated")  # the registry now accepts only a token fleet never saw
        c.get("/v2/r/manifests/a", scope="repository:r:pull")
    assert issued == ["tok1", "rotated", "tok3"]


def test_a_registry_that_does_not_answer_heads_is_asked_with_a_get(servers, tls, tmp_path):
    def route(seen: Seen) -> Reply:
        if seen.method == "HEAD":
            return Reply(405)
        if "/manifests/" in seen.path:
            return Reply(200, {"Docker-Content-Digest": MANIFEST_DIGEST}, MANIFEST)
        return Reply(200, body=CONFIG)

    registry = servers(_basic_registry(route))
    with api.Resolver(ca_cert=tls / "ca.crt", cache_dir=tmp_path / "c") as resolver:
        image = resolver.resolve(parse(f"{registry.netloc}/r:t"), _credential(registry))
    assert image.digest == MANIFEST_DIGEST
    assert image.manifests[0].platform.architecture == "arm64"


def test_a_certificate_for_another_name_is_refused_and_not_retried_without_tls(servers, tls):
    registry = servers(lambda seen: Reply(200))
    port = registry.netloc.rsplit(":", 1)[1]
    # localhost is loopback, but the certificate names 127.0.0.1 only.
    with pytest.raises(api.Unverifiable, match="TLS"):
        api.verify(Credential(f"localhost:{port}", "robot", SECRET), ca_cert=tls / "ca.crt")
    assert registry.seen == []
