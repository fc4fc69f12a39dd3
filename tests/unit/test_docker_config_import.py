"""`fleet login --from-docker-config`: the account is found where docker-py (and `docker`)
finds it. Every config holds decoys for the registries the lookup must not pick, so a
wrong key, a wrong helper or a wrong order fails the test instead of passing by luck."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fleet.credentials.local_docker import import_credential
from fleet.credentials.names import DOCKER_HUB_KEY, config_key
from fleet.errors import FleetError

FIXTURES = Path(__file__).parents[1] / "lab" / "fixtures"
HUB_SPELLINGS = ["docker.io", "index.docker.io", "https://index.docker.io/v1/"]


def b64(user: str, secret: str) -> str:
    return base64.b64encode(f"{user}:{secret}".encode()).decode()


@pytest.fixture
def docker_dir(tmp_path, monkeypatch):
    """DOCKER_CONFIG in tmp, the fleettest helper on PATH, its store under tmp's HOME."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", f"{FIXTURES}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "docker").mkdir()
    (tmp_path / "home").mkdir()
    return tmp_path / "docker"


def write(docker_dir: Path, config: dict) -> None:
    (docker_dir / "config.json").write_text(json.dumps(config))


def helper_store(server: str, user: str, secret: str, helper: str = "fleettest") -> None:
    payload = json.dumps({"ServerURL": server, "Username": user, "Secret": secret})
    subprocess.run([f"docker-credential-{helper}", "store"], input=payload, text=True, check=True)


def account(registry: str | None) -> tuple[str, str]:
    got = import_credential(config_key(registry))
    return got.username, got.secret


@pytest.mark.parametrize("stored_as", HUB_SPELLINGS)
@pytest.mark.parametrize("asked_as", [None, *HUB_SPELLINGS])
def test_docker_hub_under_any_spelling(docker_dir, stored_as, asked_as):
    write(
        docker_dir,
        {
            "auths": {
                "docker.example": {"auth": b64("decoy", "wrong")},
                stored_as: {"auth": b64("hubuser", "hubtoken")},
                "ghcr.io": {"auth": b64("decoy2", "wrong2")},
            }
        },
    )
    got = import_credential(config_key(asked_as))
    assert (got.username, got.secret) == ("hubuser", "hubtoken")
    assert got.registry == DOCKER_HUB_KEY


def test_docker_hub_is_not_found_under_another_registry(docker_dir):
    write(docker_dir, {"auths": {"registry-2.docker.example": {"auth": b64("decoy", "wrong")}}})
    with pytest.raises(FleetError, match=r"no credential for docker\.io \(looked in auths\)"):
        account(None)


def test_plain_auth_entry_for_a_private_registry(docker_dir):
    write(
        docker_dir,
        {
            "auths": {
                "r.example:5000": {"auth": b64("u", "pa:ss")},  # a colon in the secret stays
                "r.example": {"auth": b64("decoy", "wrong")},
                "https://index.docker.io/v1/": {"auth": b64("decoy2", "wrong2")},
            }
        },
    )
    assert account("r.example:5000") == ("u", "pa:ss")
    assert account("https://r.example:5000/v2/") == ("u", "pa:ss")
    with pytest.raises(FleetError, match="no credential for other.example"):
        account("other.example")


def test_a_legacy_url_key_matches_its_host(docker_dir):
    write(docker_dir, {"auths": {"https://r.example:5000/v1/": {"auth": b64("u", "p")}}})
    assert account("r.example:5000") == ("u", "p")


def test_cred_helpers_per_registry(docker_dir):
    helper_store("ghcr.io", "bot", "helper-token")
    helper_store("https://index.docker.io/v1/", "hubbot", "hub-helper-token")
    helper_store("quay.io", "decoy", "not-asked-for")
    write(
        docker_dir,
        {
            "auths": {
                "ghcr.io": {"auth": b64("stale", "stale")},  # the helper wins over auths
                "r.example": {"auth": b64("u", "plain")},
            },
            "credHelpers": {"ghcr.io": "fleettest", "https://index.docker.io/v1/": "fleettest"},
        },
    )
    assert account("ghcr.io") == ("bot", "helper-token")
    assert account("docker.io") == ("hubbot", "hub-helper-token")
    assert account("index.docker.io") == ("hubbot", "hub-helper-token")
    assert account("r.example") == ("u", "plain")  # no helper named for it: auths
    with pytest.raises(FleetError, match="no credential for quay.io"):
        account("quay.io")  # in the helper, but the config does not send quay.io there


def test_creds_store_for_every_registry(docker_dir):
    helper_store("https://index.docker.io/v1/", "hubuser", "hub-secret")
    helper_store("r.example:5000", "ruser", "r-secret")
    write(
        docker_dir,
        {
            "auths": {"https://index.docker.io/v1/": {}, "r.example:5000": {}},  # docker login's
            "credsStore": "fleettest",
        },
    )
    assert account(None) == ("hubuser", "hub-secret")
    assert account("docker.io") == ("hubuser", "hub-secret")
    assert account("r.example:5000") == ("ruser", "r-secret")
    with pytest.raises(FleetError, match=r"docker-credential-fleettest, then auths"):
        account("ghcr.io")


def test_creds_store_entry_missing_falls_back_to_auths(docker_dir):
    write(docker_dir, {"auths": {"r.example": {"auth": b64("u", "p")}}, "credsStore": "fleettest"})
    assert account("r.example") == ("u", "p")


def test_an_identity_token_is_refused_and_never_shown(docker_dir):
    write(
        docker_dir,
        {
            "auths": {
                "https://index.docker.io/v1/": {
                    "auth": b64("hubuser", ""),
                    "identitytoken": "refresh-token-value",
                },
                "r.example": {"auth": b64("decoy", "wrong")},
            }
        },
    )
    with pytest.raises(FleetError, match="identity token for docker.io") as caught:
        account(None)
    assert "refresh-token-value" not in str(caught.value)
    assert account("r.example") == ("decoy", "wrong")


def test_an_identity_token_from_a_helper_is_refused(docker_dir):
    helper_store("ghcr.io", "<token>", "refresh-token-value")
    write(docker_dir, {"credHelpers": {"ghcr.io": "fleettest"}})
    with pytest.raises(FleetError, match="identity token for ghcr.io") as caught:
        account("ghcr.io")
    assert "refresh-token-value" not in str(caught.value)


def test_a_missing_helper_is_named(docker_dir, recwarn):
    write(docker_dir, {"credHelpers": {"ghcr.io": "nosuchhelper"}})
    with pytest.raises(FleetError, match="docker-credential-nosuchhelper, which is not installed"):
        account("ghcr.io")
    assert not recwarn.list


def fake_helper(directory: Path, body: str) -> None:
    helper = directory / "docker-credential-fake"
    helper.write_text(f"#!/bin/sh\n{body}\n")
    helper.chmod(0o755)


def test_a_failing_helper_says_what_it_said(docker_dir, monkeypatch):
    bin_dir = docker_dir.parent / "bin"
    bin_dir.mkdir()
    fake_helper(bin_dir, 'echo "keychain locked"; exit 3')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    write(docker_dir, {"credsStore": "fake"})
    with pytest.raises(FleetError, match=r"docker-credential-fake .*failed:.*keychain locked"):
        account("ghcr.io")


def test_a_helper_answering_nonsense(docker_dir, monkeypatch):
    bin_dir = docker_dir.parent / "bin"
    bin_dir.mkdir()
    fake_helper(bin_dir, "echo 'not json'")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    write(docker_dir, {"credsStore": "fake"})
    with pytest.raises(FleetError, match="not a credential"):
        account("ghcr.io")


def test_the_helper_gets_the_registry_on_stdin_and_nothing_in_argv(docker_dir, monkeypatch):
    bin_dir = docker_dir.parent / "bin"
    bin_dir.mkdir()
    seen = docker_dir.parent / "seen"
    fake_helper(
        bin_dir,
        f'printf "%s\\n" "$@" > {seen}.argv; cat > {seen}.stdin; '
        'echo \'{"Username": "u", "Secret": "s"}\'',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    write(docker_dir, {"credHelpers": {"https://index.docker.io/v1/": "fake"}})
    assert account("index.docker.io") == ("u", "s")
    assert Path(f"{seen}.argv").read_text() == "get\n"
    assert Path(f"{seen}.stdin").read_text() == "https://index.docker.io/v1/"


def test_no_config_at_all(docker_dir):
    with pytest.raises(FleetError, match=r"config\.json does not exist: run docker login"):
        account(None)


def test_a_corrupt_config_is_named(docker_dir):
    (docker_dir / "config.json").write_text('{"auths": ')
    with pytest.raises(FleetError, match="is not valid JSON"):
        account(None)


def test_a_bad_auth_value_is_never_quoted(docker_dir):
    write(docker_dir, {"auths": {"r.example": {"auth": "s3cr3t-not-base64!"}}})
    with pytest.raises(FleetError, match="not base64 of user:password") as caught:
        account("r.example")
    assert "s3cr3t" not in str(caught.value)


def test_login_from_docker_config_stores_it_and_prints_no_secret(docker_dir, tmp_path):
    write(docker_dir, {"auths": {"index.docker.io": {"auth": b64("hubuser", "hub-SECRET")}}})
    env = {**os.environ, "FLEET_CREDENTIALS": str(tmp_path / "store.json")}
    done = subprocess.run(
        [sys.executable, "-m", "fleet", "login", "--from-docker-config", "--no-verify"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "stored: hubuser for docker.io" in done.stderr
    assert "hub-SECRET" not in done.stdout + done.stderr
    stored = json.loads((tmp_path / "store.json").read_text())
    assert "hub-SECRET" in json.dumps(stored)
