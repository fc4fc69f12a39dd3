"""A robot's Docker Engine API, reached the way `docker -H ssh://USER@ROBOT` reaches it:
`docker system dial-stdio` on the robot, over the run's one SSH connection (each HTTP
connection is one more channel on it, never another handshake). Or, for robots that
expose the daemon (`fleet_docker_host: tcp://{host}:2375`), plain TCP.
"""

from __future__ import annotations

import docker
import paramiko
import requests
from docker.transport.basehttpadapter import BaseHTTPAdapter
from docker.transport.sshconn import SSHHTTPAdapter
from urllib3._collections import RecentlyUsedContainer

from fleet.inventory.model import Host
from fleet.transport.ssh import Connection, Unreachable

DEFAULT_DOCKER_HOST = "ssh://{user}@{host}"
POOL_KEY = "http+docker://ssh"
# Any daemon since Docker 1.12 speaks this; the real version is asked for right after.
BOOTSTRAP_API_VERSION = "1.24"


class _ChannelAdapter(SSHHTTPAdapter):
    """docker-py's SSH adapter, given our already authenticated paramiko client instead of
    opening (and trusting) a connection of its own."""

    def __init__(self, client: paramiko.SSHClient, timeout: float) -> None:  # noqa: D107
        self.ssh_client = client
        self.ssh_params: dict[str, object] = {}
        self.ssh_host = "robot"
        self.timeout = timeout
        self.max_pool_size = 4
        self.pools = RecentlyUsedContainer(4, dispose_func=lambda pool: pool.close())
        BaseHTTPAdapter.__init__(self)

    def _connect(self) -> None:
        raise Unreachable("the SSH connection to the robot closed")

    def get_connection(self, url: str, proxies: object = None) -> object:
        # docker-py keys its pools by the whole request URL, so every endpoint would start
        # one more `docker system dial-stdio` on the robot (a Go program: CPU the robot
        # and the fleet's pulls share). One pool keeps one HTTP connection alive instead.
        return super().get_connection(POOL_KEY, proxies)

    def close(self) -> None:
        # The session owns the SSH connection; only the HTTP pools end here.
        BaseHTTPAdapter.close(self)


def docker_host_url(host: Host) -> str:
    template = str(host.vars.get("fleet_docker_host") or DEFAULT_DOCKER_HOST)
    return template.format(user=host.user or "root", host=host.address)


def is_unencrypted(host: Host) -> bool:
    return docker_host_url(host).startswith("tcp://")


def api_client(host: Host, conn: Connection | None, timeout: float = 120) -> docker.APIClient:
    """An Engine API client for the robot, at the API version its daemon speaks."""
    url = docker_host_url(host)
    if url.startswith("tcp://"):
        client = docker.APIClient(base_url=url, version=BOOTSTRAP_API_VERSION, timeout=timeout)
    elif url.startswith("ssh://"):
        if conn is None:
            raise ValueError("an ssh:// Docker host needs the robot's SSH connection")
        client = docker.APIClient(
            base_url="tcp://127.0.0.1:1", version=BOOTSTRAP_API_VERSION, timeout=timeout
        )
        adapter = _ChannelAdapter(conn.client, timeout)
        client.mount(POOL_KEY, adapter)
        client._custom_adapter = adapter  # noqa: SLF001 - what docker-py itself does for ssh://
        client._unmount("http://", "https://")  # noqa: SLF001
        client.base_url = POOL_KEY
    else:
        raise ValueError(f"fleet_docker_host {url!r}: use ssh://... or tcp://...")
    try:
        server = client.version(api_version=False)
    except (requests.exceptions.RequestException, docker.errors.APIError, OSError) as exc:
        client.close()
        raise Unreachable(f"the Docker daemon at {url} did not answer: {exc}") from None
    # The daemon's own API version, capped at what this docker-py speaks.
    client._version = min(  # noqa: SLF001 - set once here instead of version="auto"'s probe
        (
            str(server.get("ApiVersion", BOOTSTRAP_API_VERSION)),
            docker.constants.DEFAULT_DOCKER_API_VERSION,
        ),
        key=lambda v: tuple(int(p) for p in v.split(".")),
    )
    client.fleet_server = server  # type: ignore[attr-defined]
    return client
