"""A robot's Engine API, reached the way `docker -H ssh://USER@ROBOT` reaches it:
`docker system dial-stdio` on the robot, over the run's one SSH connection (the HTTP
connection is one channel on it, never another handshake). Or, for robots that expose
the daemon (`fleet_docker_host: tcp://{host}:2375`), plain TCP.

The adapter here is fleet's own, on urllib3's and requests' public interfaces: docker-py's
SSH adapter opens (and trusts) an SSH connection of its own and keys its pools by the
whole request URL, which would start one more `dial-stdio` (a Go program) per endpoint.
Ours keeps one HTTP connection per robot, and the session that carries it first reports
the free space on Docker's data root on its stderr: the disk check costs no round trip.
"""

from __future__ import annotations

import logging
import queue
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docker
import paramiko
import requests
import requests.adapters
import urllib3
import urllib3.connection
import urllib3.connectionpool

from fleet.facts.probes import parse_df
from fleet.inventory.model import Host
from fleet.transport.ssh import Unreachable

log = logging.getLogger(__name__)

DEFAULT_DOCKER_HOST = "ssh://{user}@{host}"
BASE_URL = "http+docker://ssh"  # what docker-py itself calls an SSH daemon's URL
# Any daemon since Docker 1.12 speaks this; the real version is asked for right after.
BOOTSTRAP_API_VERSION = "1.24"
DISK_END = "@@fleet-disk-end"

# Docker's data root (its daemon.json may move it) and the free space there, as
# `root=DIR` then `df -Pk DIR`: the lines `fleet.facts.probes.parse_df` reads.
DISK_SCRIPT = (
    "root=/var/lib/docker; conf=/etc/docker/daemon.json; "
    'if [ -r "$conf" ]; then '
    'r=$(sed -n \'s/.*"data-root"[[:space:]]*:[[:space:]]*"\\([^"]*\\)".*/\\1/p\' '
    '"$conf" | head -n 1); [ -n "$r" ] && root=$r; fi; '
    'echo "root=$root"; df -Pk "$root" 2>&1 || true'
)
DIAL_STDIO = "docker system dial-stdio"
# sh -c: the robot user's login shell may not be a POSIX one.
DIAL_WITH_DISK = "sh -c " + shlex.quote(
    f"{{ {DISK_SCRIPT}; echo {DISK_END}; }} >&2; exec {DIAL_STDIO}"
)
MAX_PROLOGUE = 4096


class _DialStdioConnection(urllib3.connection.HTTPConnection):
    """An HTTP connection whose socket is an SSH channel running `dial-stdio`."""

    def __init__(self, open_channel: Callable[[], paramiko.Channel], timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._open_channel = open_channel

    def connect(self) -> None:
        self.sock = self._open_channel()


class _DialStdioPool(urllib3.connectionpool.HTTPConnectionPool):
    def __init__(self, open_channel: Callable[[], paramiko.Channel], timeout: float) -> None:
        super().__init__("localhost", timeout=timeout, maxsize=1)
        self._open_channel = open_channel
        self._timeout = timeout

    def _new_conn(self) -> urllib3.connection.HTTPConnection:
        return _DialStdioConnection(self._open_channel, self._timeout)

    def _get_conn(self, timeout: float | None = None) -> urllib3.connection.HTTPConnection:
        # urllib3 would call fileno() on a pooled connection's socket to see whether it is
        # still alive; a channel's fileno() makes a pipe each time (docker-py does the same).
        # A private urllib3 method: tests/unit/test_library_contracts.py, and a cap below 3.
        try:
            conn = self.pool.get(block=False) if self.pool is not None else None
        except queue.Empty:
            conn = None
        return conn or self._new_conn()


class DialStdioAdapter(requests.adapters.HTTPAdapter):
    """requests adapter for `http+docker://ssh`: every request over one dial-stdio channel."""

    def __init__(self, transport: Callable[[], paramiko.Transport], timeout: float) -> None:
        super().__init__()
        self._transport = transport
        self._timeout = timeout
        self.channels: list[paramiko.Channel] = []
        self.pool = _DialStdioPool(self._open_channel, timeout)

    def _open_channel(self) -> paramiko.Channel:
        channel = self._transport().open_session(timeout=self._timeout)
        channel.settimeout(self._timeout)
        # The first channel also reports the disk; later ones (after a dropped
        # keep-alive) need not.
        channel.exec_command(DIAL_WITH_DISK if not self.channels else DIAL_STDIO)
        self.channels.append(channel)
        return channel

    def get_connection(self, url: Any, proxies: Any = None) -> _DialStdioPool:
        return self.pool

    def get_connection_with_tls_context(
        self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
    ) -> _DialStdioPool:
        return self.pool

    def close(self) -> None:
        self.pool.close()  # the session owns the SSH connection; only HTTP ends here

    def prologue(self, deadline: float) -> str:
        """What the first channel wrote on stderr before `dial-stdio` took over."""
        if not self.channels:
            return ""
        channel, text = self.channels[0], b""
        while DISK_END.encode() not in text and len(text) < MAX_PROLOGUE:
            if channel.recv_stderr_ready():
                text += channel.recv_stderr(MAX_PROLOGUE)
            elif time.monotonic() > deadline or channel.exit_status_ready():
                break
            else:
                time.sleep(0.01)
        return text.decode(errors="replace").split(DISK_END)[0]


@dataclass
class RobotDocker:
    """An Engine API client at the version the robot's daemon speaks, with what the daemon
    said of itself. `disk()` is the free space the SSH channel reported when it opened."""

    client: docker.APIClient
    url: str
    server: dict[str, Any]
    adapter: DialStdioAdapter | None = None
    _disk: dict[str, Any] | None = field(default=None, repr=False)

    def disk(self, timeout: float = 5.0) -> dict[str, Any] | None:
        if self._disk is None and self.adapter is not None:
            self._disk = parse_df(self.adapter.prologue(time.monotonic() + timeout)) or {}
        return self._disk or None

    def close(self) -> None:
        self.client.close()


def docker_host_url(host: Host) -> str:
    template = str(host.vars.get("fleet_docker_host") or DEFAULT_DOCKER_HOST)
    return template.format(user=host.user or "root", host=host.address)


def is_unencrypted(host: Host) -> bool:
    return docker_host_url(host).startswith("tcp://")


def _client(url: str, version: str, timeout: float, adapter: DialStdioAdapter | None) -> Any:
    if adapter is None:
        return docker.APIClient(base_url=url, version=version, timeout=timeout)
    client = docker.APIClient(base_url="tcp://127.0.0.1:1", version=version, timeout=timeout)
    client.mount(BASE_URL, adapter)
    for scheme in ("http://", "https://"):  # nothing may leave by another road
        client.adapters.pop(scheme, None)
    # Not a documented knob: docker-py's private _url() reads it for every request
    # (tests/unit/test_library_contracts.py; pyproject.toml caps docker below 8).
    client.base_url = BASE_URL
    return client


def robot_docker(
    host: Host, transport: Callable[[], paramiko.Transport] | None, timeout: float = 120
) -> RobotDocker:
    """The robot's Engine API (raises Unreachable when its daemon does not answer)."""
    url = docker_host_url(host)
    adapter = None
    if url.startswith("ssh://"):
        if transport is None:
            raise ValueError("an ssh:// Docker host needs the robot's SSH connection")
        adapter = DialStdioAdapter(transport, timeout)
    elif not url.startswith("tcp://"):
        raise ValueError(f"fleet_docker_host {url!r}: use ssh://... or tcp://...")
    bootstrap = _client(url, BOOTSTRAP_API_VERSION, timeout, adapter)
    try:
        server = bootstrap.version(api_version=False)
    except (requests.exceptions.RequestException, docker.errors.APIError, OSError) as exc:
        detail = adapter.prologue(time.monotonic() + 1).strip()[-200:] if adapter else ""
        bootstrap.close()
        said = f" ({detail})" if detail and "root=" not in detail else ""
        raise Unreachable(f"the Docker daemon at {url} did not answer: {exc}{said}") from None
    if not isinstance(server, dict):
        bootstrap.close()
        raise Unreachable(f"the Docker daemon at {url} gave an answer that is not a version")
    # The daemon's own API version, capped at what this docker-py speaks.
    version = min(
        (
            str(server.get("ApiVersion") or BOOTSTRAP_API_VERSION),
            docker.constants.DEFAULT_DOCKER_API_VERSION,
        ),
        key=_version_key,
    )
    client = _client(url, version, timeout, adapter)  # shares the adapter, so the channel
    return RobotDocker(client, url, server, adapter)


def _version_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)
