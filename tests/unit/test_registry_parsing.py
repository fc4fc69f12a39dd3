"""The registry client's pure parts: challenges, which URLs may be asked, manifests,
the on-disk cache, and how a registry's words are shown."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ruamel.yaml import YAML

from fleet.platform import Platform
from fleet.registry import ContentCache, Layer, PlatformManifest, Unverifiable, default_cache_dir
from fleet.registry.challenge import parse_challenge, refusal
from fleet.registry.client import parse_token_answer
from fleet.registry.errors import remote_text
from fleet.registry.manifests import (
    check_digest,
    index_entries,
    load_document,
    manifest_parts,
    media_type,
    read_config,
)
from fleet.registry.model import INDEX_TYPES

DATA = Path(__file__).parent / "data"
DIFF = "sha256:" + "d" * 64


def _cases(name: str) -> list:
    return YAML(typ="safe").load((DATA / name).read_text())


@pytest.mark.parametrize("case", _cases("registry_challenge_cases.yaml"), ids=lambda c: c["name"])
def test_challenges(case):
    challenge = parse_challenge(case["header"])
    if case["scheme"] is None:
        assert challenge is None
    else:
        assert (challenge.scheme, challenge.params) == (case["scheme"], case["params"])


@given(st.text(max_size=300))
def test_any_header_parses_to_a_challenge_or_none(header):
    challenge = parse_challenge(header)
    if challenge is not None:
        assert challenge.scheme == challenge.scheme.lower()
        assert len(challenge.params) <= 16


@pytest.mark.parametrize("url, why", _cases("registry_url_cases.yaml"), ids=lambda v: str(v))
def test_which_urls_fleet_asks(url, why):
    refused = refusal(url)
    assert (refused is None) if why is None else refused.startswith(why)


@given(st.text(max_size=500), st.integers(min_value=1, max_value=300))
def test_remote_text_is_bounded_and_without_control_characters(text, limit):
    shown = remote_text(text, limit)
    assert all(c.isprintable() or c == " " for c in shown)
    assert len(shown) <= 10 * limit + 1  # one \U0010ffff escape per character at most


def test_remote_text_escapes_terminal_sequences_and_says_when_it_cut():
    assert remote_text("\x1b[31mred\n") == "\\x1b[31mred\\n"
    assert remote_text("abcdef", 3) == "abc…"


def _document(case):
    return json.dumps(case["body"]).encode()


@pytest.mark.parametrize("case", _cases("registry_manifest_cases.yaml"), ids=lambda c: c["name"])
def test_manifests(case):
    def read():
        document = load_document(_document(case), "the manifest")
        kind = media_type(document, "the manifest")
        if kind in INDEX_TYPES:
            return kind, index_entries(document, "the manifest"), None
        return kind, None, manifest_parts(document, "the manifest")

    if "error" in case:
        with pytest.raises(Unverifiable, match=case["error"]):
            read()
        return
    kind, entries, parts = read()
    assert kind == case["type"]
    if "platforms" in case:
        assert [f"{e.platform} {e.digest}" for e in entries] == case["platforms"]
    if "config" in case:
        config, layers = parts
        assert config == Layer(*case["config"])
        assert layers == tuple(Layer(*layer) for layer in case["layers"])


def test_a_digest_is_checked_against_the_bytes():
    data = b"{}"
    check_digest(data, "sha256:" + hashlib.sha256(data).hexdigest(), "x")
    with pytest.raises(Unverifiable, match="not sha256"):
        check_digest(data, "sha256:" + "0" * 64, "x")
    with pytest.raises(Unverifiable, match="is not a sha256 digest"):
        check_digest(data, "sha512:abc", "x")


@pytest.mark.parametrize(
    "body, error",
    [
        (b"not json", "not valid JSON"),
        (b"[]", "not an object"),
        (b'{"token": ""}', "without a usable token"),
        (b'{"token": "a b"}', "without a usable token"),
        (b'{"token": "a\\r\\nX-Evil: 1"}', "without a usable token"),
    ],
)
def test_odd_token_answers_are_refused(body, error):
    with pytest.raises(Unverifiable, match=error):
        parse_token_answer(body, "the token service")


def test_a_token_answer_lives_as_long_as_it_says():
    assert parse_token_answer(b'{"access_token": "t", "expires_in": 300}', "x") == ("t", 300.0)
    assert parse_token_answer(b'{"token": "t", "expires_in": true}', "x") == ("t", 60.0)


def test_download_size_counts_layers_and_config_once_fetched():
    platform = Platform("linux", "arm64", "v8")
    assert PlatformManifest(platform, "sha256:a").download_size is None
    fetched = PlatformManifest(
        platform, "sha256:a", "sha256:c", (Layer("sha256:l1", 10), Layer("sha256:l2", 5)), 2
    )
    assert fetched.download_size == 17


@pytest.mark.parametrize(
    "rootfs, diff_ids",
    [
        ({"type": "layers", "diff_ids": [DIFF, DIFF]}, (DIFF, DIFF)),
        ({"type": "layers", "diff_ids": [DIFF, "md5:x", 7]}, (DIFF, None, None)),
        ({"type": "layers"}, ()),
        ("layers", ()),
    ],
)
def test_an_image_config_gives_its_platform_and_diff_ids(rootfs, diff_ids):
    body = json.dumps({"os": "linux", "architecture": "arm", "variant": "v7", "rootfs": rootfs})
    assert read_config(body.encode(), "config") == (Platform("linux", "arm", "v7"), diff_ids)


def test_the_cache_keeps_content_by_digest_privately(tmp_path):
    cache = ContentCache(tmp_path / "registry")
    data = b'{"schemaVersion": 2}'
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert cache.get(digest) is None
    cache.put(digest, data)
    cache.put("sha256:" + "0" * 64, data)  # not its digest: not kept
    path = tmp_path / "registry" / "sha256" / digest.split(":")[1]
    assert cache.get(digest) == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
    path.write_bytes(b"tampered")
    assert cache.get(digest) is None  # damaged or altered: a miss, never a wrong answer
    assert cache.get("sha256:../../etc/passwd") is None


def test_the_cache_lives_in_the_users_cache_directory():
    assert default_cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/fleet/registry")
    assert default_cache_dir({}).parts[-3:] == (".cache", "fleet", "registry")
