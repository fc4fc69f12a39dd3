"""One run's shared state: SSH options, the name resolver, one connection per robot, and
one connection per ProxyJump hop, shared by every robot behind it."""

from __future__ import annotations

import threading

from fleet.discovery.resolve import Resolver
from fleet.inventory.model import Host
from fleet.transport.ssh import (
    Connection,
    SSHOptions,
    SSHTarget,
    Unreachable,
    connect,
    open_connection,
    read_ssh_config,
)


class Session:
    def __init__(
        self,
        ssh: SSHOptions,
        resolver: Resolver | None = None,
        become_password: str | None = None,
    ) -> None:
        read_ssh_config(ssh.ssh_config)  # a broken ~/.ssh/config stops the run before it starts
        self.ssh = ssh
        self.become_password = become_password  # for ansible_become's sudo; stdin only
        self.resolver = resolver or Resolver()
        self._connections: dict[str, Connection] = {}
        self._hops: dict[SSHTarget, Connection | Unreachable] = {}
        self._hop_locks: dict[SSHTarget, threading.Lock] = {}
        self._lock = threading.Lock()

    def connection(self, host: Host) -> Connection:
        """The run's connection to `host`, opened on first use (raises Unreachable)."""
        with self._lock:
            existing = self._connections.get(host.name)
        if existing is not None:
            return existing
        opened = connect(host, self.ssh, self.resolver, hops=self.hop)
        with self._lock:
            self._connections[host.name] = opened
        return opened

    def hop(self, target: SSHTarget) -> Connection:
        """The run's connection to a ProxyJump hop: one handshake per hop per run, however
        many robots are behind it. A hop that failed is not tried again by each robot."""
        with self._lock:
            lock = self._hop_locks.setdefault(target, threading.Lock())
        with lock:  # robots behind a hop being opened wait for it instead of opening it too
            with self._lock:
                existing = self._hops.get(target)
            if isinstance(existing, Unreachable):
                raise Unreachable(str(existing))
            if isinstance(existing, Connection):
                if existing.active:
                    return existing
                existing.close()  # it died mid-run (a bastion rebooted): open it again
            try:
                opened = open_connection(target, self.ssh, self.resolver, self.hop, is_hop=True)
            except Unreachable as exc:
                with self._lock:
                    self._hops[target] = exc
                raise
            with self._lock:
                self._hops[target] = opened
            return opened

    def close(self) -> None:
        with self._lock:
            connections, self._connections = list(self._connections.values()), {}
            hops, self._hops = list(self._hops.values()), {}
        for conn in connections:
            conn.close()
        for hop in reversed(hops):  # a hop opened later may run through an earlier one
            if isinstance(hop, Connection):
                hop.close()
        self.resolver.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
