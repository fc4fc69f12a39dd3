"""The lab's token service: what it grants, the tokens it signs, and the registry config
that trusts them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import bcrypt
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from ruamel.yaml import YAML

from fleet.lab import pki, registry, tokenauth
from fleet.lab.paths import LabPaths

CASES = YAML(typ="safe").load(
    (Path(__file__).parent / "data/tokenauth_grant_cases.yaml").read_text()
)
RULES = tokenauth.Rules(public=("duckietown/*", "demo/*"), publishers=("publisher",))


@pytest.mark.parametrize("account, scope, expected", CASES, ids=lambda v: str(v))
def test_grants(account, scope, expected):
    parsed = tokenauth.parse_scope(scope)
    if expected is None:
        assert parsed is None
    else:
        assert list(tokenauth.granted(RULES, account, parsed)) == expected


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _verify(certificate: x509.Certificate, token: str) -> None:
    """What Distribution does with an ES256 token: r || s over `header.payload`."""
    header, payload, signature = token.split(".")
    raw = _unb64(signature)
    assert len(raw) == 64  # JOSE's r || s, not DER
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    certificate.public_key().verify(der, f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))


def test_a_token_is_an_es256_jwt_that_its_x5c_certificate_verifies(tmp_path):
    cert_path, key_path = pki.make_token_signer(tmp_path)
    signer = tokenauth.Signer.load(cert_path, key_path)
    access = [{"type": "repository", "name": "a/b", "actions": ["pull"]}]
    claims = tokenauth.claims(
        issuer="iss", service="svc", account="robot", access=access, now=1000, seconds=300
    )
    token = signer.sign(claims)
    header = json.loads(_unb64(token.split(".")[0]))
    assert (header["typ"], header["alg"]) == ("JWT", "ES256")
    # Distribution reads x5c as standard base64 DER and checks it against rootcertbundle.
    certificate = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    assert certificate == x509.load_pem_x509_certificate(cert_path.read_bytes())
    _verify(certificate, token)
    body = json.loads(_unb64(token.split(".")[1]))
    assert body["aud"] == "svc"  # a string: Distribution 2.8 refuses a list
    assert (body["iss"], body["sub"], body["exp"], body["nbf"]) == ("iss", "robot", 1300, 1000)
    assert body["access"] == access and len(body["jti"]) == 32
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(InvalidSignature):
        _verify(certificate, forged)


@pytest.fixture
def service(tmp_path):
    tls = tmp_path / "tls"
    pki.make_ca_and_server_cert(tls, "127.0.0.1")
    hub = tmp_path / "hub"
    registry.prepare_hub(hub, "127.0.0.1", 5001, 5002, {"publisher": "p", "robot": "r"}, tls)
    return tokenauth.TokenService(tokenauth.TokenConfig.load(hub / "tokenauth.json"))


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_accounts_are_checked_against_their_bcrypt_hashes(service):
    assert service.check_account(_basic("robot", "r")) == "robot"
    assert service.check_account(None) is None
    for header in (_basic("robot", "p"), _basic("nobody", "r"), "Basic !!!", "Bearer x"):
        with pytest.raises(PermissionError):
            service.check_account(header)
    assert all(hashed.startswith(b"$2b$") for hashed in service.accounts.values())
    assert bcrypt.checkpw(b"p", service.accounts["publisher"])


def test_the_hub_registry_trusts_the_token_service_it_names(tmp_path, service):
    config = json.loads((tmp_path / "hub" / "config.yml").read_text())
    assert config["auth"] == {
        "token": {
            "realm": "https://127.0.0.1:5002/token",
            "service": registry.HUB_SERVICE,
            "issuer": registry.HUB_ISSUER,
            "rootcertbundle": str(service.config.signing_certificate),
        }
    }
    assert config["http"]["addr"] == "127.0.0.1:5001"
    assert (service.config.service, service.config.issuer) == (
        registry.HUB_SERVICE,
        registry.HUB_ISSUER,
    )
    assert config["http"]["tls"]["certificate"] == str(tmp_path / "tls" / "server.crt")


def test_the_htpasswd_registry_config_is_unchanged(tmp_path):
    paths = LabPaths(state=tmp_path, cache=tmp_path / "cache")
    config = registry.registry_config(paths, "198.18.0.1:5000")
    assert config["auth"] == {
        "htpasswd": {"realm": "fleet-lab", "path": str(tmp_path / "registry" / "htpasswd")}
    }
    assert config["http"]["tls"]["key"] == str(tmp_path / "registry" / "server.key")
