"""The Docker-Hub-like registry (token mode) and the htpasswd registry, checked with real
clients: skopeo for what Docker-compatible tools see, fleet's own client for the rest."""

from __future__ import annotations

import base64
import json
import threading

import pytest
import requests

from fleet.credentials.store import Credential
from fleet.platform import Platform
from fleet.reference import parse
from fleet.registry import AuthRequired, Rejected, Resolver, verify
from tests.registry.conftest import PRIVATE, PUBLIC, token_service_url

REGISTRIES = ["token_registry", "basic_registry"]


@pytest.fixture(params=REGISTRIES)
def live(request):
    return request.getfixturevalue(request.param)


def _inspect(live, repository, *auth):
    return live.skopeo(
        "inspect",
        "--raw",
        "--cert-dir",
        str(live.trust),
        *auth,
        f"docker://{live.address}/{repository}:daffy",
    )


# -- what Docker-compatible clients see ---------------------------------------------------


def test_anyone_pulls_a_public_repository_from_the_token_registry(token_registry, demo):
    done = _inspect(token_registry, PUBLIC, "--no-creds")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(demo.index.data)


def test_a_private_repository_refuses_anonymous_pulls(token_registry):
    done = _inspect(token_registry, PRIVATE, "--no-creds")
    assert done.returncode != 0
    assert "denied" in done.stderr or "unauthorized" in done.stderr


def test_a_private_repository_serves_an_account(token_registry, demo):
    done = _inspect(token_registry, PRIVATE, "--authfile", str(token_registry.authfile("robot")))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(demo.index.data)


def test_a_wrong_password_is_a_401_from_the_token_service(token_registry):
    url = token_service_url(token_registry)
    params = {"service": "fleet-lab-hub", "scope": f"repository:{PRIVATE}:pull"}
    answer = requests.get(
        url, params=params, auth=("robot", "wrong"), verify=token_registry.ca_cert, timeout=10
    )
    assert answer.status_code == 401
    done = _inspect(
        token_registry, PRIVATE, "--authfile", str(token_registry.authfile("robot", "wrong"))
    )
    assert done.returncode != 0


def _granted(live, user):
    url = token_service_url(live)
    params = {"service": "fleet-lab-hub", "scope": f"repository:{PUBLIC}:pull,push"}
    auth = (user, live.passwords[user]) if user else None
    answer = requests.get(url, params=params, auth=auth, verify=live.ca_cert, timeout=10)
    answer.raise_for_status()
    payload = answer.json()["token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims["access"][0]["actions"]


def test_only_the_publisher_may_push(token_registry):
    assert _granted(token_registry, "publisher") == ["pull", "push"]
    assert _granted(token_registry, "robot") == ["pull"]
    assert _granted(token_registry, None) == ["pull"]


def test_the_token_service_logs_requests_without_secrets(token_registry):
    _granted(token_registry, "robot")
    log = token_registry.token_log.read_text()
    assert '"account": "robot"' in log
    for password in token_registry.passwords.values():
        assert password not in log
    assert "eyJ" not in log  # no JWT (they start with a base64 '{"')


# -- fleet's client ------------------------------------------------------------------------


def test_verify_accepts_the_right_account(live):
    verify(Credential(live.address, "robot", live.passwords["robot"]), ca_cert=live.ca_cert)


def test_verify_rejects_a_wrong_password(live):
    with pytest.raises(Rejected):
        verify(Credential(live.address, "robot", "wrong"), ca_cert=live.ca_cert)


def test_an_anonymous_read_of_a_private_repository_needs_an_account(live, tmp_path):
    ref = parse(f"{live.address}/{PRIVATE}:daffy")
    with Resolver(ca_cert=live.ca_cert, cache_dir=tmp_path) as resolver:
        with pytest.raises(AuthRequired):
            resolver.resolve(ref, None)


def test_resolving_an_index_gives_every_platform_with_its_digest(live, demo, tmp_path):
    ref = parse(f"{live.address}/{PRIVATE}:daffy")
    robot = Credential(live.address, "robot", live.passwords["robot"])
    with Resolver(ca_cert=live.ca_cert, cache_dir=tmp_path) as resolver:
        image = resolver.resolve(ref, robot)
    assert image.is_index and image.digest == demo.index.digest
    assert {(str(m.platform), m.digest) for m in image.manifests} == {
        ("linux/arm/v7", demo.manifests["arm32v7"].digest),
        ("linux/arm64/v8", demo.manifests["arm64v8"].digest),
        ("linux/amd64", demo.manifests["amd64"].digest),
    }
    assert all(m.config_digest is None and m.download_size is None for m in image.manifests)


def test_a_platform_manifest_gives_the_image_id_and_layer_sizes(live, demo, tmp_path):
    manifest = demo.manifests["arm64v8"]
    built = json.loads(manifest.data)
    ref = parse(f"{live.address}/{PUBLIC}:daffy")
    robot = Credential(live.address, "robot", live.passwords["robot"])
    with Resolver(ca_cert=live.ca_cert, cache_dir=tmp_path) as resolver:
        found = resolver.platform_manifest(ref, robot, manifest.digest)
    assert found.platform == Platform("linux", "arm64", "v8")
    assert found.config_digest == built["config"]["digest"]
    config = json.loads(demo.blobs[built["config"]["digest"]].data)
    assert [(layer.digest, layer.size, layer.diff_id) for layer in found.layers] == [
        (layer["digest"], layer["size"], diff_id)
        for layer, diff_id in zip(built["layers"], config["rootfs"]["diff_ids"], strict=True)
    ]
    sizes = [len(demo.blobs[layer["digest"]].data) for layer in built["layers"]]
    assert found.download_size == sum(sizes) + len(demo.blobs[built["config"]["digest"]].data)


def test_a_single_manifest_tag_resolves_to_its_platform(live, demo, tmp_path):
    ref = parse(f"{live.address}/{PUBLIC}:daffy-amd64")
    with Resolver(ca_cert=live.ca_cert, cache_dir=tmp_path) as resolver:
        image = resolver.resolve(ref, Credential(live.address, "robot", live.passwords["robot"]))
    assert not image.is_index and image.digest == demo.manifests["amd64"].digest
    (only,) = image.manifests
    assert only.platform == Platform("linux", "amd64") and only.download_size


def test_a_second_run_with_the_cache_asks_only_heads(live, tmp_path):
    ref = parse(f"{live.address}/{PUBLIC}:daffy-amd64")
    robot = Credential(live.address, "robot", live.passwords["robot"])
    first_offset = live.access_log_offset()
    with Resolver(ca_cert=live.ca_cert, cache_dir=tmp_path) as resolver:
        first = resolver.resolve(ref, robot)
    first_run = _content_requests(live, first_offset)
    assert ("GET", f"/v2/{PUBLIC}/manifests/daffy-amd64") in first_run  # it really asked
    offset = live.access_log_offset()
    with Resolver(ca_cert=live.ca_cert, cache_dir=tmp_path) as resolver:
        assert resolver.resolve(ref, robot) == first
    assert _content_requests(live, offset) == [("HEAD", f"/v2/{PUBLIC}/manifests/daffy-amd64")]


def test_sixteen_robots_resolving_at_once_ask_the_registry_once(live, tmp_path):
    ref = parse(f"{live.address}/{PUBLIC}:daffy")
    robot = Credential(live.address, "robot", live.passwords["robot"])
    offset = live.access_log_offset()
    answers = []
    with Resolver(ca_cert=live.ca_cert, cache_dir=tmp_path) as resolver:
        threads = [
            threading.Thread(target=lambda: answers.append(resolver.resolve(ref, robot)))
            for _ in range(16)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(answers) == 16 and len(set(answers)) == 1
    assert _content_requests(live, offset) == [
        ("HEAD", f"/v2/{PUBLIC}/manifests/daffy"),
        ("GET", f"/v2/{PUBLIC}/manifests/daffy"),
    ]


def _content_requests(live, offset):
    """Requests for manifests and blobs answered (not the 401s before authenticating)."""
    return [
        (method, path)
        for method, path, status in live.requests_since(offset)
        if ("/manifests/" in path or "/blobs/" in path) and status < 400
    ]
