"""Real registries on loopback: Debian's docker-registry (Distribution 2.8) with htpasswd
accounts, and a second one in token mode behind the lab's token service, both serving the
demo dt-core images pushed by skopeo. No lab, no namespaces: 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleet import procs
from fleet.lab import images, registry
from fleet.lab.paths import LabPaths

MISSING = [tool for tool in ("docker-registry", "skopeo") if shutil.which(tool) is None]
PUBLIC = "duckietown/dt-core"
PRIVATE = "private/dt-core"  # not in registry.HUB_PUBLIC: accounts only


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if MISSING:
        reason = f"needs {' and '.join(MISSING)} (scripts/setup.sh installs them; CI has them)"
        for item in items:
            if "tests/registry/" in str(item.fspath):
                item.add_marker(pytest.mark.skip(reason=reason))


@dataclass(frozen=True)
class DemoImages:
    layout: Path
    index: images.Blob  # duckietown/dt-core:daffy, three platforms
    manifests: dict[str, images.Blob]  # by variant suffix: arm32v7, arm64v8, amd64
    blobs: dict[str, images.Blob]  # every blob by digest


@dataclass(frozen=True)
class LiveRegistry:
    address: str  # 127.0.0.1:PORT
    directory: Path  # its registry.log is here
    ca_cert: Path
    trust: Path  # a folder holding only ca.crt, as skopeo wants
    passwords: dict[str, str]
    token_log: Path | None = None

    def authfile(self, user: str, password: str | None = None) -> Path:
        """A containers-auth.json for `user` (with `password` instead of the real one)."""
        accounts = registry.RegistryAccounts(self.address, {user: password or self.passwords[user]})
        path = self.directory / f"auth-{user}-{'wrong' if password else 'ok'}.json"
        registry.write_authfile(path, accounts, user)
        return path

    def skopeo(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "TMPDIR": str(self.directory)}
        return subprocess.run(
            ["skopeo", *args], capture_output=True, text=True, timeout=120, env=env
        )

    def access_log_offset(self) -> int:
        return (self.directory / "registry.log").stat().st_size

    def requests_since(self, offset: int) -> list[tuple[str, str, int]]:
        """(method, path, status) of each request the registry's access log shows after
        `offset`, up to a marker request made now: the registry writes a request's line
        after answering it, so the marker's line means every earlier line is there."""
        marker = f"/v2/marker-{uuid.uuid4().hex}/tags/list"
        registry.https_status(f"https://{self.address}{marker}", self.ca_cert)
        log = self.directory / "registry.log"
        assert procs.wait_for(lambda: marker in log.read_text(errors="replace"), 10)
        with log.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode(errors="replace").split(marker, 1)[0]
        found = re.findall(r'"([A-Z]+) (\S+) HTTP/[\d.]+" (\d{3})', text)
        return [(method, path, int(status)) for method, path, status in found]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> DemoImages:
    """dt-core:daffy (an OCI index of three platforms) and each platform's manifest, as an
    OCI layout made with the lab's own builders."""
    blobs: dict[str, images.Blob] = {}
    manifests = []
    for platform in images.PLATFORMS:
        manifest, parts = images.image(platform, images.dt_core_layers(platform))
        blobs.update((b.digest, b) for b in (manifest, *parts))
        manifests.append((platform, manifest))
    index = images.index(manifests)
    blobs[index.digest] = index
    refs = [images.DemoRef(PUBLIC, "daffy", index)]
    refs += [images.DemoRef(PUBLIC, f"daffy-{p.suffix}", m) for p, m in manifests]
    layout = tmp_path_factory.mktemp("layout")
    images.write_layout(layout, refs, list(blobs.values()))
    return DemoImages(layout, index, {p.suffix: m for p, m in manifests}, blobs)


def _push(live: LiveRegistry, demo: DemoImages) -> None:
    publisher = live.authfile("publisher")
    for repository in (PUBLIC, PRIVATE):
        for tag in ("daffy", "daffy-amd64"):
            source = f"oci:{demo.layout}:{images.layout_ref_name(PUBLIC, tag)}"
            done = live.skopeo(
                "copy",
                "--all",
                "--quiet",
                "--dest-authfile",
                str(publisher),
                "--dest-cert-dir",
                str(live.trust),
                source,
                f"docker://{live.address}/{repository}:{tag}",
            )
            assert done.returncode == 0, done.stderr


@pytest.fixture(scope="session")
def lab_paths(tmp_path_factory) -> LabPaths:
    root = tmp_path_factory.mktemp("registries")
    return LabPaths(state=root / "state", cache=root / "cache")


@pytest.fixture(scope="session")
def basic_registry(lab_paths: LabPaths, demo: DemoImages) -> Iterator[LiveRegistry]:
    """The lab's htpasswd registry, made by the lab's own code, on 127.0.0.1."""
    accounts = registry.prepare(lab_paths, "127.0.0.1", _free_port())
    pid = registry.start(lab_paths)
    try:
        registry.wait_ready(lab_paths, accounts.registry)
        live = _live(lab_paths.registry_dir, accounts, lab_paths.ca_cert)
        _push(live, demo)
        yield live
    finally:
        procs.stop([pid])


@pytest.fixture(scope="session")
def token_registry(
    lab_paths: LabPaths, basic_registry: LiveRegistry, demo: DemoImages
) -> Iterator[LiveRegistry]:
    """The Docker-Hub-like registry: token mode behind the lab's token service, with the
    htpasswd registry's TLS certificate (same address, other ports)."""
    directory = lab_paths.state / "hub"
    accounts = registry.prepare_hub(
        directory,
        "127.0.0.1",
        _free_port(),
        _free_port(),
        basic_registry.passwords,
        lab_paths.registry_dir,
    )
    pids = list(registry.start_hub(directory))
    assert sorted(registry.running_hub_pids(directory)) == sorted(pids)
    try:
        registry.wait_hub_ready(directory, lab_paths.ca_cert)
        live = _live(directory, accounts, lab_paths.ca_cert, directory / "tokenauth-requests.log")
        _push(live, demo)
        yield live
    finally:
        procs.stop(pids)
        assert registry.running_hub_pids(directory) == []


def _live(
    directory: Path,
    accounts: registry.RegistryAccounts,
    ca_cert: Path,
    token_log: Path | None = None,
) -> LiveRegistry:
    trust = directory / "trust"
    trust.mkdir(exist_ok=True)
    shutil.copy(ca_cert, trust / "ca.crt")
    return LiveRegistry(accounts.registry, directory, ca_cert, trust, accounts.passwords, token_log)


def token_service_url(live: LiveRegistry) -> str:
    config = json.loads((live.directory / "tokenauth.json").read_text())
    return f"https://{config['listen']}/token"
