"""ProxyJump, ProxyCommand, HostKeyAlias, IdentitiesOnly and the host-key decision,
against real OpenSSH servers on loopback (see conftest.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fleet.discovery.resolve import Resolver
from fleet.inventory.model import Host
from fleet.session import Session
from fleet.transport import ssh
from fleet.transport.known_hosts import parse_known_hosts
from fleet.transport.ssh import SSHOptions, Unreachable, connect
from tests.sshd.conftest import Sshd, SshdFactory, keygen, public_line


def _block_direct_connections(monkeypatch: pytest.MonkeyPatch, *servers: Sshd) -> None:
    """A firewall in front of the robots: this process may not dial them itself; only
    the bastion's sshd (another process) can."""
    blocked = {s.port for s in servers}
    real = socket.create_connection

    def create_connection(address, *args, **kwargs):  # noqa: ANN001, ANN202
        if address[1] in blocked:
            raise ConnectionRefusedError(111, "Connection refused (blocked by the test)")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)


def _options(tmp_path: Path, config: str, accept_new: bool = True) -> SSHOptions:
    path = tmp_path / "ssh_config"
    path.write_text(config)
    return SSHOptions(known_hosts=tmp_path / "known_hosts", ssh_config=path, accept_new=accept_new)


def _bastion_config(sshd: SshdFactory, bastion: Sshd) -> str:
    return (
        f"Host bastion\n  HostName 127.0.0.1\n  Port {bastion.port}\n  User root\n"
        f"  IdentityFile {sshd.client_key}\n  IdentitiesOnly yes\n"
    )


# ssh config is looked up with ansible_host when it is set, as Ansible's ssh does: robots
# that ssh config routes have no ansible_host, and ssh config gives their HostName.
ROBOTS_AT_LOOPBACK = "Host robot*.local\n  HostName 127.0.0.1\n"


def _robot(name: str, server: Sshd, key: Path | None, address: bool = True, **more: str) -> Host:
    variables = {"ansible_port": server.port, "ansible_user": "root", **more}
    if address:
        variables["ansible_host"] = "127.0.0.1"
    if key is not None:
        variables["ansible_ssh_private_key_file"] = str(key)
    return Host(name, variables)


def _echo(session: Session, host: Host) -> str:
    return session.connection(host).run(f"echo {host.name}").text.strip()


def _in_parallel(session: Session, hosts: list[Host]) -> dict[str, str]:
    answers: dict[str, str] = {}

    def one(host: Host) -> None:
        try:
            answers[host.name] = _echo(session, host)
        except Unreachable as exc:
            answers[host.name] = f"unreachable: {exc}"

    threads = [threading.Thread(target=one, args=(h,)) for h in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_robots_behind_a_bastion_share_one_handshake_per_run(sshd, tmp_path, monkeypatch):
    bastion = sshd.start("bastion", forwarding=True)
    robots = [sshd.start(f"robot{i}") for i in range(1, 4)]
    _block_direct_connections(monkeypatch, *robots)
    options = _options(tmp_path, _bastion_config(sshd, bastion))
    hosts = [
        _robot(f"robot{i}.local", server, sshd.client_key, ansible_ssh_common_args="-J bastion")
        for i, server in enumerate(robots, start=1)
    ]
    with Session(options, Resolver(timeout=1)) as session:
        answers = _in_parallel(session, hosts)
        assert answers == {h.name: h.name for h in hosts}
        assert _echo(session, hosts[0]) == hosts[0].name  # the run's connection, reused
    assert bastion.accepted() == 1  # one handshake for three robots
    assert bastion.connections() == 1
    for server in robots:
        assert bastion.tunnels_to(server.port) == 1
        assert server.accepted() == 1
    entries = parse_known_hosts(options.known_hosts.read_text()).entries
    bastion_key = public_line(bastion.host_keys[0])
    assert any(
        e.matches(f"[bastion]:{bastion.port}") and e.matches(f"[127.0.0.1]:{bastion.port}")
        for e in entries
        if f"{e.key.type} {e.key.base64}" == bastion_key
    )


def test_an_unknown_bastion_key_is_refused_once_then_recorded_with_accept_new(
    sshd, tmp_path, monkeypatch
):
    bastion = sshd.start("bastion", forwarding=True)
    robots = [sshd.start(f"robot{i}") for i in range(1, 3)]
    _block_direct_connections(monkeypatch, *robots)
    config = _bastion_config(sshd, bastion) + ROBOTS_AT_LOOPBACK + "  ProxyJump bastion\n"
    hosts = [
        _robot(f"robot{i}.local", s, sshd.client_key, address=False)
        for i, s in enumerate(robots, 1)
    ]
    refusing = _options(tmp_path, config, accept_new=False)
    with Session(refusing, Resolver(timeout=1)) as session:
        answers = _in_parallel(session, hosts)
    for answer in answers.values():
        assert answer.startswith("unreachable: via bastion: unknown host key")
        assert "--accept-new" in answer
    assert not refusing.known_hosts.exists()
    assert bastion.connections() == 1  # a hop that failed is not tried again per robot
    assert bastion.accepted() == 0 and all(r.connections() == 0 for r in robots)

    accepting = _options(tmp_path, config, accept_new=True)
    with Session(accepting, Resolver(timeout=1)) as session:
        assert _in_parallel(session, hosts) == {h.name: h.name for h in hosts}
    found = subprocess.run(
        ["ssh-keygen", "-F", f"[127.0.0.1]:{bastion.port}", "-f", str(accepting.known_hosts)],
        capture_output=True,
        text=True,
    )
    assert found.returncode == 0 and public_line(bastion.host_keys[0]) in found.stdout


def test_a_changed_bastion_key_is_refused_until_forgotten(sshd, tmp_path, monkeypatch):
    bastion = sshd.start("bastion", forwarding=True)
    robot = sshd.start("robot1")
    _block_direct_connections(monkeypatch, robot)
    config = _bastion_config(sshd, bastion)
    options = _options(tmp_path, config, accept_new=True)
    old_key = keygen(tmp_path / "reflashed", "ed25519")
    options.known_hosts.write_text(f"[bastion]:{bastion.port} {public_line(old_key)}\n")
    host = _robot("robot1.local", robot, sshd.client_key, ansible_ssh_common_args="-J bastion")
    with pytest.raises(Unreachable) as caught:
        with connect(host, options, Resolver(timeout=1)):
            pass
    assert "via bastion: host key for [bastion]" in str(caught.value)
    assert "CHANGED" in str(caught.value) and "`fleet forget bastion`" in str(caught.value)
    assert bastion.accepted() == 0 and robot.connections() == 0
    (Path(os.environ["HOME"]) / ".ssh" / "config").write_text(config)
    forgot = subprocess.run(
        [
            sys.executable,
            "-m",
            "fleet",
            "forget",
            "bastion",
            "--known-hosts",
            str(options.known_hosts),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "removed 1 known_hosts entries" in forgot.stdout, forgot.stderr
    with connect(host, options, Resolver(timeout=1)) as conn:
        assert conn.run("echo through").text.strip() == "through"


def test_proxy_command_reaches_the_robot_through_a_real_ssh_client(sshd, tmp_path, monkeypatch):
    bastion = sshd.start("bastion", forwarding=True)
    robot = sshd.start("robot1")
    _block_direct_connections(monkeypatch, robot)
    relay_known_hosts = tmp_path / "relay_known_hosts"
    relay_known_hosts.write_text(
        f"[127.0.0.1]:{bastion.port} {public_line(bastion.host_keys[0])}\n"
    )
    proxy = (
        f"ssh -F /dev/null -i {sshd.client_key} -o IdentitiesOnly=yes -o BatchMode=yes "
        f"-o UserKnownHostsFile={relay_known_hosts} -o StrictHostKeyChecking=yes "
        f"-p {bastion.port} -W %h:%p root@127.0.0.1"
    )
    options = _options(tmp_path, f"{ROBOTS_AT_LOOPBACK}  ProxyCommand {proxy}\n")
    host = _robot("robot1.local", robot, sshd.client_key, address=False)
    with connect(host, options, Resolver()) as conn:
        assert conn.run("echo via-proxy").text.strip() == "via-proxy"
        assert conn.address is None
    assert bastion.tunnels_to(robot.port) == 1 and robot.accepted() == 1
    # Recorded under the robot's names (no address: ssh -W hides it), on its port.
    text = options.known_hosts.read_text()
    assert text == f"[robot1.local]:{robot.port},[127.0.0.1]:{robot.port} " + (
        public_line(robot.host_keys[0]) + "\n"
    )


def test_a_failing_proxy_command_says_why_and_leaves_no_process(sshd, tmp_path, monkeypatch):
    robot = sshd.start("robot1")
    options = _options(tmp_path, f"{ROBOTS_AT_LOOPBACK}  ProxyCommand echo no route to %h >&2\n")
    started: list[ssh.ProxyCommand] = []

    class Recorded(ssh.ProxyCommand):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    monkeypatch.setattr(ssh, "ProxyCommand", Recorded)
    with pytest.raises(Unreachable) as caught:
        connect(_robot("robot1.local", robot, sshd.client_key, address=False), options, Resolver())
    assert "ProxyCommand said: no route to 127.0.0.1" in str(caught.value)
    assert len(started) == 1
    assert started[0].process.returncode is not None  # reaped, not a zombie
    assert not started[0]._reader.is_alive()  # noqa: SLF001 - the stderr reader ended
    assert started[0].socket.fileno() == -1


def test_host_key_alias_is_the_only_name_checked_and_recorded(sshd, tmp_path):
    robot = sshd.start("robot1")
    config = f"{ROBOTS_AT_LOOPBACK}  HostKeyAlias lab-robot-1\n"
    options = _options(tmp_path, config)
    # A stale key under the robot's real names does not matter: ssh checks only the alias.
    stale = public_line(keygen(tmp_path / "stale"))
    options.known_hosts.write_text(f"[127.0.0.1]:{robot.port} {stale}\n")
    host = _robot("robot1.local", robot, sshd.client_key, address=False)
    with connect(host, options, Resolver()) as conn:
        assert conn.run("echo aliased").text.strip() == "aliased"
    assert options.known_hosts.read_text().splitlines()[1:] == [
        f"lab-robot-1 {public_line(robot.host_keys[0])}"
    ]
    again = _options(tmp_path, config, accept_new=False)
    with connect(host, again, Resolver()) as conn:
        assert conn.run("echo again").text.strip() == "again"


def test_identities_only_and_the_agent(sshd, tmp_path, monkeypatch):
    robot = sshd.start("robot1")
    wrong = keygen(tmp_path / "not_authorized")
    socket_path = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)], stdout=subprocess.DEVNULL)
    try:
        _wait_for(socket_path)
        env = {**os.environ, "SSH_AUTH_SOCK": str(socket_path)}
        subprocess.run(["ssh-add", "-q", str(sshd.client_key)], env=env, check=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket_path))
        host = _robot("robot1.local", robot, None, address=False)
        base = f"{ROBOTS_AT_LOOPBACK}  IdentityFile {wrong}\n"
        with connect(host, _options(tmp_path, base), Resolver()) as conn:  # the agent's key
            assert conn.run("echo agent").text.strip() == "agent"
        for setting in ("IdentitiesOnly yes", "IdentityAgent none"):
            with pytest.raises(Unreachable, match="authentication failed"):
                connect(host, _options(tmp_path, f"{base}  {setting}\n"), Resolver())
    finally:
        agent.terminate()
        agent.wait(timeout=10)


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 10
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)


# -- the host-key decision at connection time (the review's findings) --


def test_the_recorded_key_type_is_asked_for_first(sshd, tmp_path):
    """A robot with ed25519 and ecdsa keys, known by its ecdsa key: paramiko alone would
    negotiate ed25519 and see a change; fleet asks for the recorded type first, as ssh does."""
    robot = sshd.start("robot1", key_types=("ed25519", "ecdsa"))
    options = _options(tmp_path, "", accept_new=False)
    options.known_hosts.write_text(f"[127.0.0.1]:{robot.port} {public_line(robot.host_keys[1])}\n")
    with connect(_robot("robot1.local", robot, sshd.client_key), options, Resolver()) as conn:
        assert conn.run("echo ok").text.strip() == "ok"


def test_a_key_of_another_type_is_a_change_even_with_accept_new(sshd, tmp_path):
    robot = sshd.start("robot1", key_types=("ed25519",))
    options = _options(tmp_path, "", accept_new=True)
    recorded = f"[127.0.0.1]:{robot.port} {public_line(keygen(tmp_path / 'ec', 'ecdsa'))}\n"
    options.known_hosts.write_text(recorded)
    with pytest.raises(Unreachable, match="CHANGED"):
        connect(_robot("robot1.local", robot, sshd.client_key), options, Resolver())
    assert options.known_hosts.read_text() == recorded
    assert robot.accepted() == 0


def test_a_new_alias_for_a_known_address_cannot_bring_another_key(sshd, tmp_path):
    robot = sshd.start("robot1")
    options = _options(tmp_path, "", accept_new=True)
    other = public_line(keygen(tmp_path / "other"))
    recorded = f"[robot-old.local]:{robot.port},[127.0.0.1]:{robot.port} {other}\n"
    options.known_hosts.write_text(recorded)
    with pytest.raises(Unreachable, match=r"host key for \[127.0.0.1\]:\d+ has CHANGED"):
        connect(_robot("robot-new.local", robot, sshd.client_key), options, Resolver())
    assert options.known_hosts.read_text() == recorded  # nothing written
    assert robot.accepted() == 0  # refused before authentication


def test_a_revoked_key_is_refused(sshd, tmp_path):
    robot = sshd.start("robot1")
    options = _options(tmp_path, "", accept_new=True)
    options.known_hosts.write_text(f"@revoked * {public_line(robot.host_keys[0])}\n")
    with pytest.raises(Unreachable, match="@revoked"):
        connect(_robot("robot1.local", robot, sshd.client_key), options, Resolver())
    assert robot.accepted() == 0


def test_a_malformed_hashed_line_does_not_stop_anyone(sshd, tmp_path):
    robot = sshd.start("robot1")
    options = _options(tmp_path, "", accept_new=False)
    options.known_hosts.write_text(
        f"|1|bad|hash {public_line(robot.host_keys[0])}\n"
        f"[127.0.0.1]:{robot.port} {public_line(robot.host_keys[0])}\n"
    )
    with connect(_robot("robot1.local", robot, sshd.client_key), options, Resolver()) as conn:
        assert conn.run("echo fine").text.strip() == "fine"
