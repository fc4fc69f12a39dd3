"""A robot behind a gateway: robot03 lets SSH in only from robot02, so fleet reaches it
through `ProxyJump` in the user's ~/.ssh/config, as `ssh` would, with the gateway's host
key checked like any robot's and one SSH handshake per hop per run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from fleet.lab import lifecycle
from fleet.lab.robot import RobotDirs
from tests.lab.conftest import fleet, pull_results

GATEWAY, HIDDEN = "robot02", "robot03"  # native robots: an emulated sshd is slow to start
ACCEPTED = "Accepted publickey"


def _robot(lab, name):
    return next(r for r in lab.robots if r["name"] == name)


def _in_robot(lab, name: str, script: str) -> str:
    """A shell script in the robot's mount namespace, from the host ($ROOT: its root)."""
    dirs = RobotDirs(lab.paths, lifecycle.lab_robot(lab.paths, name))
    return subprocess.run(
        ["nsenter", f"--mount={dirs.mount_ns}", "sh", "-c", script],
        env={**os.environ, "ROOT": str(dirs.root)},
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip


def _accepted(lab, name) -> int:
    """Logins the robot's sshd let in so far, from its log."""
    return _in_robot(lab, name, 'cat "$ROOT/var/log/sshd.log"').count(ACCEPTED)


def _restart_sshd(address: str, stopped: bool = False) -> None:
    """Restart the hidden robot's sshd and wait until it answers again."""
    if not stopped:
        fleet("lab", "stop", HIDDEN, "sshd")
    fleet("lab", "start", HIDDEN, "sshd")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        scan = subprocess.run(
            ["ssh-keyscan", "-T", "5", address], capture_output=True, text=True, timeout=30
        )
        if scan.stdout.strip():
            return
        time.sleep(0.5)
    raise AssertionError(f"sshd on {address} did not come back")


@pytest.fixture
def hidden_robot(lab):
    """The hidden robot's sshd takes root only from the gateway's address, until the test ends."""
    gateway = _robot(lab, GATEWAY)["address"]
    address = _robot(lab, HIDDEN)["address"]
    lab.ssh(
        address,
        f"echo 'AllowUsers root@{gateway}' > /etc/ssh/sshd_config.d/fleet-bastion.conf",
    )
    _restart_sshd(address)
    try:
        yield address
    finally:
        fleet("lab", "stop", HIDDEN, "sshd")
        _in_robot(lab, HIDDEN, 'rm -f "$ROOT/etc/ssh/sshd_config.d/fleet-bastion.conf"')
        _restart_sshd(address, stopped=True)


@pytest.fixture
def user_home(lab, tmp_path, hidden_robot):
    """A user whose ~/.ssh/config says how to reach the hidden robot, and an inventory naming it."""
    gateway = _robot(lab, GATEWAY)["address"]
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True, mode=0o700)
    (ssh / "config").write_text(
        f"Host {HIDDEN}.local\n"
        f"  HostName {hidden_robot}\n"
        f"  ProxyJump root@{gateway}\n"
        f"Host *\n"
        f"  User root\n"
        f"  IdentityFile {lab.paths.lab_key}\n"
        f"  IdentitiesOnly yes\n"
    )
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(json.dumps({"all": {"hosts": {f"{HIDDEN}.local": None}}}))
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "FLEET_CREDENTIALS": str(tmp_path / "store.json"),
    }
    return env, inventory, ssh / "known_hosts"


def _fleet(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "fleet", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_the_controller_itself_is_refused_by_the_hidden_robot(lab, hidden_robot):
    direct = lab.ssh(hidden_robot, "true", check=False)
    assert direct.returncode != 0


def test_facts_and_pull_reach_the_hidden_robot_through_proxyjump(lab, user_home):
    env, inventory, known_hosts = user_home
    # Only the hidden robot's own key is known: the gateway's unknown key is refused.
    # ssh records the key before it is refused a login (HostKeyAlias: under the robot's name).
    subprocess.run(
        ["ssh", "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=accept-new",
         "-o", f"HostKeyAlias={HIDDEN}.local", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
         "-o", "PubkeyAuthentication=no", f"root@{_robot(lab, HIDDEN)['address']}", "true"],
        capture_output=True, timeout=30,
    )  # fmt: skip
    assert f"{HIDDEN}.local" in known_hosts.read_text() or known_hosts.read_text().startswith("|1|")
    refused = _fleet(env, "facts", "-i", str(inventory), "--json")
    assert refused.returncode == 4, refused.stderr
    reason = pull_results(refused.stdout)[f"{HIDDEN}.local"]["reason"]
    assert _robot(lab, GATEWAY)["address"] in reason, reason

    before = {name: _accepted(lab, name) for name in (GATEWAY, HIDDEN)}
    facts = _fleet(env, "facts", "-i", str(inventory), "--json", "--accept-new")
    assert facts.returncode == 0, facts.stderr
    result = pull_results(facts.stdout)[f"{HIDDEN}.local"]
    assert result["status"] == "ok"
    after = {name: _accepted(lab, name) for name in (GATEWAY, HIDDEN)}
    assert after == {name: before[name] + 1 for name in before}, (before, after)

    login = subprocess.run(
        [sys.executable, "-m", "fleet", *lab.login_args(), "-i", str(inventory)],
        input=lab.accounts["accounts"]["robot"], capture_output=True, text=True, env=env,
        timeout=300,
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    pull = _fleet(
        env, "pull", f"{lab.registry}/demo/payload:v1", "-i", str(inventory), "--json",
        "--ca-cert", str(lab.paths.ca_cert),
    )  # fmt: skip
    assert pull.returncode == 0, pull.stderr
    assert pull_results(pull.stdout)[f"{HIDDEN}.local"]["status"] in ("ok", "changed")
    # The whole pull went through the gateway: one more login on each hop.
    assert _accepted(lab, GATEWAY) == after[GATEWAY] + 2  # login, then pull
