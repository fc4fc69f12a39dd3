"""Running the pull-through caches: `fleet cache up | down | status` (I/O).

Each upstream's cache is one `docker-registry serve` on 127.0.0.1, found again by the
record in its state directory; every change to it happens under that directory's lock,
so two fleet runs share one cache safely.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from fleet import procs
from fleet.cache.layout import LOOPBACK, CachePlace, registry_config, upstream_url
from fleet.credentials.names import display_name
from fleet.credentials.store import Credential
from fleet.errors import ExitCode, FleetError
from fleet.files import file_lock, replace_file
from fleet.platform import Platform
from fleet.registry import RegistryClient, RegistryError, Unverifiable

log = logging.getLogger(__name__)

START_TIMEOUT = 15.0
PROXY = "proxy"
OFFLINE = "offline"


@dataclass(frozen=True)
class CacheInstance:
    upstream: str
    port: int
    pid: int
    mode: str  # PROXY, or OFFLINE (the upstream did not answer when it started)
    place: CachePlace
    filler_port: int | None = None  # the plain registry fleet pushes blobs into
    filler_pid: int | None = None

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def filler(self) -> str | None:
        return f"{LOOPBACK}:{self.filler_port}" if self.filler_port else None


def running(place: CachePlace) -> CacheInstance | None:
    """The cache of this upstream, if its process is alive and answers."""
    try:
        record = json.loads(place.record.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    pid, port = record.get("pid"), record.get("port")
    if not isinstance(pid, int) or not isinstance(port, int):
        return None
    if not procs.alive(pid) or str(place.config) not in " ".join(procs.cmdline(pid)):
        return None
    filler_pid, filler_port = record.get("filler_pid"), record.get("filler_port")
    if not (isinstance(filler_pid, int) and procs.alive(filler_pid)):
        filler_pid = filler_port = None
    instance = CacheInstance(
        place.upstream, port, pid, str(record.get("mode")), place, filler_port, filler_pid
    )
    return instance if _answers(instance.address) else None


def _answers(address: str) -> bool:
    try:
        return requests.get(f"http://{address}/v2/", timeout=2).status_code == 200
    except requests.exceptions.RequestException:
        return False


def upstream_answers(upstream: str, ca_cert: Path | None) -> str | None:
    """None when the upstream registry answers; else why not, in a few words."""
    try:
        with RegistryClient(upstream, None, ca_cert=ca_cert, timeout=5) as client:
            client.request("GET", "/v2/")
    except Unverifiable as exc:
        log.debug("%s does not answer: %s", upstream, exc)
        return f"{display_name(upstream)} does not answer"
    except RegistryError:
        return None  # it answered, if only to say no
    return None


def up(
    place: CachePlace, credential: Credential | None, ca_cert: Path | None = None
) -> tuple[CacheInstance, str | None]:
    """The cache of this upstream, started if need be: (instance, why it runs offline)."""
    if shutil.which("docker-registry") is None:
        raise FleetError(
            "fleet cache runs the Distribution registry: apt-get install docker-registry"
        )
    place.state.mkdir(parents=True, exist_ok=True, mode=0o700)
    place.storage.mkdir(parents=True, exist_ok=True, mode=0o700)
    with file_lock(place.record):
        current = running(place)
        why_offline = upstream_answers(place.upstream, ca_cert)
        mode = OFFLINE if why_offline else PROXY
        if current is not None and current.mode == mode:
            return current, why_offline
        if current is not None:
            procs.stop([p for p in (current.pid, current.filler_pid) if p])
        return _start(place, credential, ca_cert, mode), why_offline


def _start(
    place: CachePlace, credential: Credential | None, ca_cert: Path | None, mode: str
) -> CacheInstance:
    port = _saved_port(place) or _free_port()
    config = registry_config(place, port, secrets.token_hex(16), credential, mode == OFFLINE)
    # JSON is YAML; the account's secret is in it, so only the user may read it.
    replace_file(place.config, json.dumps(config, indent=2), 0o600)
    env = {"SSL_CERT_FILE": str(_trust_bundle(place, ca_cert))}
    pid = procs.start_detached(["docker-registry", "serve", str(place.config)], place.log, env)
    _wait_started(place, f"{LOOPBACK}:{port}", [pid], place.log)
    filler_port = filler_pid = None
    if mode == PROXY:
        filler_port = _free_port()
        filler = registry_config(place, filler_port, secrets.token_hex(16), None, offline=True)
        replace_file(place.filler_config, json.dumps(filler, indent=2), 0o600)
        command = ["docker-registry", "serve", str(place.filler_config)]
        filler_pid = procs.start_detached(command, place.filler_log)
        _wait_started(place, f"{LOOPBACK}:{filler_port}", [pid, filler_pid], place.filler_log)
    instance = CacheInstance(place.upstream, port, pid, mode, place, filler_port, filler_pid)
    record = {
        "upstream": place.upstream,
        "port": port,
        "pid": pid,
        "mode": mode,
        "filler_port": filler_port,
        "filler_pid": filler_pid,
    }
    replace_file(place.record, json.dumps(record), 0o600)
    return instance


def _wait_started(place: CachePlace, address: str, pids: list[int], log: Path) -> None:
    if procs.wait_for(lambda: _answers(address), START_TIMEOUT, interval=0.1):
        return
    procs.stop(pids)
    tail = _log_tail(log)
    raise FleetError(
        f"the cache for {display_name(place.upstream)} did not start on {address}"
        f"{': ' + tail if tail else ''} (log: {log})",
        ExitCode.FAILED,
    )


def _saved_port(place: CachePlace) -> int | None:
    """The port the cache had before: robots' runs and users' notes stay valid."""
    try:
        port = json.loads(place.record.read_text()).get("port")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(port, int):
        return None
    with socket.socket() as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return None
    return port


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _trust_bundle(place: CachePlace, ca_cert: Path | None) -> Path:
    """What the registry (a Go program) trusts for the upstream: the system's CAs, plus
    --ca-cert and Docker's own /etc/docker/certs.d/HOST/ca.crt, as `docker pull` would."""
    parts = [Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")]
    parts.append(Path("/etc/docker/certs.d") / place.upstream / "ca.crt")
    if ca_cert is not None:
        parts.append(ca_cert)
    bundle = "".join(p.read_text() + "\n" for p in parts if p.is_file())
    replace_file(place.trust, bundle, 0o600)
    return place.trust


def _log_tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def down(place: CachePlace, purge: bool = False) -> bool:
    """Stop the cache (its storage stays unless `purge`); whether one was running."""
    with file_lock(place.record):
        current = running(place)
        if current is not None:
            procs.stop([p for p in (current.pid, current.filler_pid) if p])
        place.record.unlink(missing_ok=True)
        if purge and place.storage.exists():
            shutil.rmtree(place.storage)
    return current is not None


def places(root: CachePlace) -> list[CachePlace]:
    """Every upstream this user has a cache for (a state directory beside `root`'s)."""
    found = []
    for record in sorted(root.state.parent.glob("*/instance.json")):
        try:
            upstream = json.loads(record.read_text())["upstream"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found.append(CachePlace(upstream, record.parent, root.storage.parent / record.parent.name))
    return found


def holdings(place: CachePlace) -> list[tuple[str, str, list[str]]]:
    """(repository, tag, platforms it holds whole) for every tag in the cache."""
    found = []
    for repository in place.repositories():
        for tag, digest in place.tags(repository).items():
            found.append((repository, tag, _platforms_held(place, repository, digest)))
    return found


def _platforms_held(place: CachePlace, repository: str, digest: str) -> list[str]:
    document = _stored_json(place, digest)
    if document is None:
        return []
    if "manifests" not in document:
        return [p for p in [_manifest_platform(place, repository, digest)] if p]
    held = []
    for entry in document.get("manifests") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
            continue
        if place.manifest_link(repository, entry["digest"]).exists():
            held.append(str(Platform.from_mapping(entry.get("platform"))))
    return held


def _manifest_platform(place: CachePlace, repository: str, digest: str) -> str | None:
    manifest = _stored_json(place, digest)
    config = manifest.get("config") if manifest else None
    if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
        return None
    image = _stored_json(place, config["digest"])
    return str(Platform.from_mapping(image)) if image else None


def _stored_json(place: CachePlace, digest: str) -> dict[str, Any] | None:
    """A manifest or config the cache holds, read from its storage (small files)."""
    try:
        path = place.blob_data(digest)
        if path.stat().st_size > 4 * 1024 * 1024:
            return None
        document = json.loads(path.read_bytes())
    except (OSError, ValueError, IndexError):
        return None
    return document if isinstance(document, dict) else None


def disk_used(place: CachePlace) -> int:
    return sum(p.stat().st_size for p in place.storage.rglob("*") if p.is_file())


def describe_url(place: CachePlace) -> str:
    return upstream_url(place.upstream)
