"""One run's shared state: SSH options, the name resolver, and one connection per robot."""

from __future__ import annotations

import threading

from fleet.discovery.resolve import Resolver
from fleet.inventory.model import Host
from fleet.transport.ssh import Connection, SSHOptions, connect


class Session:
    def __init__(self, ssh: SSHOptions, resolver: Resolver | None = None) -> None:
        self.ssh = ssh
        self.resolver = resolver or Resolver()
        self._connections: dict[str, Connection] = {}
        self._lock = threading.Lock()

    def connection(self, host: Host) -> Connection:
        """The run's connection to `host`, opened on first use (raises Unreachable)."""
        with self._lock:
            existing = self._connections.get(host.name)
        if existing is not None:
            return existing
        opened = connect(host, self.ssh, self.resolver)
        with self._lock:
            self._connections[host.name] = opened
        return opened

    def close(self) -> None:
        with self._lock:
            connections, self._connections = list(self._connections.values()), {}
        for conn in connections:
            conn.close()
        self.resolver.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
