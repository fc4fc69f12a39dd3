"""Real OpenSSH servers on loopback for the SSH tests: each `sshd -D -f CONFIG` on
127.0.0.1 and a free high port, with its own host keys, an authorized_keys holding the
test's key, and its log in a file the tests read ("Accepted publickey", direct-tcpip).

Needs /usr/sbin/sshd and root (sshd's privilege separation; logins are as root, on this
machine, running only `echo`). CI runs as root with sshd installed; elsewhere these tests
are skipped with that reason. Every server is stopped (its whole process group) when its
test ends.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start without it (Debian's unit makes it)


def _skip_reason() -> str | None:
    if not SSHD.exists() or shutil.which("ssh-keygen") is None:
        return "needs OpenSSH's sshd and ssh-keygen (apt-get install openssh-server)"
    if os.geteuid() != 0:
        return "needs root: sshd's privilege separation"
    return None


def keygen(path: Path, kind: str = "ed25519") -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "", "-f", str(path)], check=True
    )
    return path


def public_line(key: Path) -> str:
    """`TYPE BASE64` of a key pair's public half."""
    return " ".join(Path(f"{key}.pub").read_text().split()[:2])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Sshd:
    name: str
    port: int
    host_keys: list[Path]
    log: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def accepted(self) -> int:
        """Logins this server let in (one per SSH handshake that authenticated)."""
        return len(re.findall(r"Accepted publickey for ", self.log_text()))

    def connections(self) -> int:
        return len(re.findall(r"Connection from 127\.0\.0\.1 port \d+ on ", self.log_text()))

    def tunnels_to(self, port: int) -> int:
        """direct-tcpip channels (ProxyJump, ssh -W) this server opened to a port."""
        pattern = rf"server_request_direct_tcpip: originator .* target 127\.0\.0\.1 port {port}\b"
        return len(re.findall(pattern, self.log_text()))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class SshdFactory:
    def __init__(self, directory: Path, client_key: Path) -> None:
        self.directory = directory
        self.client_key = client_key
        self.servers: list[Sshd] = []

    def start(self, name: str, forwarding: bool = False, key_types=("ed25519",)) -> Sshd:
        home = self.directory / name
        home.mkdir()
        host_keys = [keygen(home / f"host_{kind}", kind) for kind in key_types]
        authorized = home / "authorized_keys"
        authorized.write_text(Path(f"{self.client_key}.pub").read_text())
        port = free_port()
        config = home / "sshd_config"
        config.write_text(
            "".join(f"HostKey {key}\n" for key in host_keys) + f"ListenAddress 127.0.0.1:{port}\n"
            f"AuthorizedKeysFile {authorized}\n"
            "PidFile none\nUsePAM no\nStrictModes no\nLogLevel DEBUG1\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\n"
            f"AllowTcpForwarding {'yes' if forwarding else 'no'}\n"
        )
        server = Sshd(name, port, host_keys, home / "sshd.log")
        with open(server.log, "wb") as log:
            server.process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(config)],
                stdout=log,
                stderr=log,
                start_new_session=True,  # its per-connection children stop with it
            )
        self.servers.append(server)
        _wait_listening(server)
        return server

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


def _wait_listening(server: Sshd) -> None:
    """Until sshd says it listens (its log, not a probe connection: tests count those)."""
    deadline = time.monotonic() + 20
    ready = f"Server listening on 127.0.0.1 port {server.port}"
    while ready not in server.log_text():
        assert server.process is not None
        if server.process.poll() is not None:
            raise RuntimeError(f"sshd {server.name} did not start: {server.log_text()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"sshd {server.name} is not listening on {server.port}")
        time.sleep(0.02)


@pytest.fixture
def sshd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SshdFactory]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    # fleet must use only what the test gives it: no agent, no ~/.ssh of the machine.
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    factory = SshdFactory(tmp_path, keygen(tmp_path / "client_key"))
    try:
        yield factory
    finally:
        factory.stop_all()
