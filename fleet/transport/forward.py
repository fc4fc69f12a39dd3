"""A port on a robot's loopback that leads to a port on this machine's loopback, over the
run's one SSH connection: what `ssh -R 127.0.0.1:0:127.0.0.1:PORT` does.

The robot's Docker daemon then pulls from `127.0.0.1:ROBOT_PORT`, a registry that runs
here (fleet's pull-through cache): Docker accepts a loopback registry over plain HTTP with
no configuration, so nothing is set up on the robot and no root is needed there.

paramiko hands each forwarded connection to one handler on its transport's own thread,
which must not block: every connection gets a thread of its own that copies bytes both
ways until either side closes.
"""

from __future__ import annotations

import logging
import select
import socket
import threading

import paramiko

from fleet.errors import RobotError

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
LOOPBACK = "127.0.0.1"


class ForwardRefused(RobotError):
    """The robot's sshd will not forward (AllowTcpForwarding no, or a permitlisten rule)."""


class RemoteForwards:
    """The remote forwards of one SSH connection: robot port -> local port."""

    def __init__(self, transport: paramiko.Transport, robot: str) -> None:
        self.transport = transport
        self.robot = robot
        self._targets: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pumps: list[threading.Thread] = []

    def open(self, local_port: int) -> int:
        """The robot's loopback port that leads to `local_port` here (opened once)."""
        with self._lock:
            for robot_port, target in self._targets.items():
                if target == local_port:
                    return robot_port
            try:
                robot_port = self.transport.request_port_forward(LOOPBACK, 0, self._arrived)
            except paramiko.SSHException:
                raise ForwardRefused(
                    f"remote port forwarding disabled on {self.robot}; use --via direct"
                ) from None
            self._targets[robot_port] = local_port
            return robot_port

    def _arrived(
        self,
        channel: paramiko.Channel,
        origin: tuple[str, int],
        server: tuple[str, int],
    ) -> None:
        local_port = self._targets.get(server[1])
        if local_port is None or self._stop.is_set():
            channel.close()
            return
        pump = threading.Thread(
            target=self._pump, args=(channel, local_port), daemon=True, name="fleet-forward"
        )
        self._pumps.append(pump)
        pump.start()

    def _pump(self, channel: paramiko.Channel, local_port: int) -> None:
        try:
            local = socket.create_connection((LOOPBACK, local_port), timeout=10)
        except OSError as exc:
            log.debug("forward to %s:%s failed: %s", LOOPBACK, local_port, exc)
            channel.close()
            return
        local.settimeout(None)
        try:
            copy_both_ways(channel, local, self._stop)
        finally:
            local.close()
            channel.close()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            ports, self._targets = list(self._targets), {}
        for port in ports:
            try:
                self.transport.cancel_port_forward(LOOPBACK, port)
            except (paramiko.SSHException, EOFError, OSError):
                pass  # the connection is going anyway
        for pump in self._pumps:
            pump.join(2)


def copy_both_ways(channel: paramiko.Channel, local: socket.socket, stop: threading.Event) -> None:
    """Copy until either side ends (or `stop`): the robot's requests to the cache, and its
    answers back."""
    while not stop.is_set():
        ready, _, _ = select.select([channel, local], [], [], 1.0)
        if channel in ready:
            data = channel.recv(CHUNK)
            if not data:
                return
            local.sendall(data)
        if local in ready:
            data = local.recv(CHUNK)
            if not data:
                return
            channel.sendall(data)
