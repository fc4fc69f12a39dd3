"""Credential logic without a network: config.json edits, names, fingerprints, the store."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from fleet.credentials import dockerconfig
from fleet.credentials.names import DOCKER_HUB_KEY, BadRegistry, config_key, fingerprint
from fleet.credentials.store import Credential, Store
from fleet.registry import parse_challenge
from fleet.tasks.desired import account_for

CASES = YAML(typ="safe").load((Path(__file__).parent / "data/dockerconfig_cases.yaml").read_text())


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_set_auth(case):
    edit = dockerconfig.set_auth(case["before"], case["registry"], case["user"], case["secret"])
    assert edit.changed is case["changed"]
    after = json.loads(edit.text)
    if "auths" in case:
        assert after["auths"] == case["auths"]
    if case["before"].strip():
        before = json.loads(case["before"])
        for key in case.get("keep", []):
            assert after[key] == before[key]
            assert list(after)[: len(before)] == list(before)  # key order kept
    if not case["changed"]:
        assert edit.text == case["before"]
    if "indent" in case:
        assert edit.text.split("\n")[1].startswith(case["indent"] + '"')


def test_remove_auth_removes_only_that_registry():
    text = '{"auths": {"a": {"auth": "eDp5"}, "b": {"auth": "eDp5"}}, "proxies": {}}'
    edit = dockerconfig.remove_auth(text, "a")
    assert edit.changed
    assert json.loads(edit.text) == {"auths": {"b": {"auth": "eDp5"}}, "proxies": {}}
    assert dockerconfig.remove_auth(edit.text, "a").changed is False


@pytest.mark.parametrize("text", ["{", "[1]", '{"auths": []}', "null"])
def test_a_corrupt_config_is_never_rewritten(text):
    with pytest.raises(dockerconfig.CorruptConfig):
        dockerconfig.set_auth(text, "r", "u", "p")


@pytest.mark.parametrize(
    ("name", "key"),
    [
        (None, DOCKER_HUB_KEY),
        ("docker.io", DOCKER_HUB_KEY),
        ("index.docker.io", DOCKER_HUB_KEY),
        ("registry-1.docker.io", DOCKER_HUB_KEY),
        ("https://index.docker.io/v1/", DOCKER_HUB_KEY),
        ("Registry.Example.com:5000", "registry.example.com:5000"),
        ("https://registry.example.com/v2/", "registry.example.com"),
        ("198.18.0.1:5000", "198.18.0.1:5000"),
    ],
)
def test_registry_names(name, key):
    assert config_key(name) == key


def test_bad_registry_name():
    with pytest.raises(BadRegistry):
        config_key("not a registry")


def test_fingerprint_is_12_hex_digits_of_sha256():
    # sha256("token") = 3c469e9d6c5875d37a43f353d4f88e61fcf812c66eee3457465a40b0da4153e0
    assert fingerprint("token") == "3c469e9d6c58"


def test_challenges():
    bearer = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"'
    )
    assert bearer.scheme == "bearer"
    assert bearer.params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
    }
    assert parse_challenge('Basic realm="fleet-lab"').scheme == "basic"


def test_per_group_accounts():
    host_vars = {"fleet_registry_accounts": {"docker.io": "site-b", "r.example:5000": "ro"}}
    assert account_for(host_vars, DOCKER_HUB_KEY) == "site-b"
    assert account_for(host_vars, "r.example:5000") == "ro"
    assert account_for(host_vars, "other") is None


def test_store_is_private_and_holds_several_accounts(tmp_path):
    store = Store(tmp_path / "fleet" / "credentials.json")
    assert store.add(Credential("r", "site-a", "one"))
    assert store.add(Credential("r", "site-b", "two"))
    assert not store.add(Credential("r", "site-a", "one"))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.get("r") is None  # two accounts: which one must be said
    assert store.get("r", "site-b").secret == "two"
    assert "two" not in repr(store.get("r", "site-b"))
    assert store.remove("r", "site-a") == 1
    assert store.get("r").username == "site-b"
