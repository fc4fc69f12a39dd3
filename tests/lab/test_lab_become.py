"""ansible_become against a lab robot's real sshd and sudo: logged in as `duckie`, whose
sudo wants a password, `fleet login --docker-user root` writes root's config.json; the
password is in no process's arguments (sampled all through the run), in no output and
in no log of the robot's sshd; a wrong password is that robot's `failed`, quickly."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time

import pytest

from fleet.lab.lifecycle import lab_robot
from fleet.lab.users import add_sudo_user, remove_sudo_user
from tests.lab.test_lab_login import _config_path, _held

# Unique to this run, so that seeing it anywhere can only mean it leaked.
PASSWORD = f"become-{secrets.token_hex(8)}"
USER = "duckie"


@pytest.fixture
def duckie(lab, tmp_path):
    """An amd64 robot with a `duckie` login whose sudo wants PASSWORD, and an inventory
    reaching it as duckie with ansible_become; removed again after the test."""
    chosen = next(r for r in reversed(lab.robots) if r["profile"] == "amd64")
    robot = lab_robot(lab.paths, chosen["name"])
    add_sudo_user(lab.paths, robot, USER, PASSWORD)
    lab.ssh(chosen["address"], "rm -rf /root/.docker /home/duckie/.docker")
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(
        json.dumps(
            {
                "all": {
                    "hosts": {
                        f"{robot.name}.local": {
                            "ansible_host": chosen["address"],
                            "ansible_user": USER,
                            "ansible_ssh_private_key_file": str(lab.paths.lab_key),
                            "ansible_become": True,
                        }
                    }
                }
            }
        )
    )
    try:
        yield chosen, inventory
    finally:
        lab.ssh(chosen["address"], "rm -rf /root/.docker", check=False)
        remove_sudo_user(lab.paths, robot, USER)


class ArgvSampler:
    """Every process's arguments (`ps -eo args`), sampled until stopped. The robots share
    this machine's process table (a lab robot has no PID namespace of its own), so this
    sees sshd's children, sudo and the shells on the robot as well as fleet."""

    def __init__(self) -> None:
        self.samples: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            done = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True)
            self.samples.append(done.stdout)
            time.sleep(0.02)

    def __enter__(self) -> ArgvSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _login(lab, inventory, tmp_path, password):
    env = {**os.environ, "FLEET_CREDENTIALS": str(tmp_path / "store.json")}
    env.pop("FLEET_BECOME_PASSWORD", None)
    if password is not None:
        env["FLEET_BECOME_PASSWORD"] = password
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "fleet",
            *lab.login_args("robot"),
            "-i",
            str(inventory),
            "-l",
            "all",
            "--docker-user",
            "root",
            "--known-hosts",
            str(tmp_path / "kh"),
            "--accept-new",
            "--json",
        ],
        input=lab.accounts["accounts"]["robot"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def _result(done):
    return next(
        json.loads(line) for line in done.stdout.splitlines() if '"event": "result"' in line
    )


def test_login_as_duckie_writes_roots_config_through_sudo(lab, duckie, tmp_path):
    chosen, inventory = duckie
    with ArgvSampler() as sampler:
        done = _login(lab, inventory, tmp_path, PASSWORD)
    assert done.returncode == 0, done.stderr
    assert _result(done)["status"] == "changed"
    assert _held(lab, chosen["name"]) == ("robot", lab.accounts["accounts"]["robot"])
    owner = lab.ssh(chosen["address"], "stat -c '%U %a' /root/.docker/config.json")
    assert owner.stdout.split() == ["root", "600"]
    assert lab.ssh(chosen["address"], "test -e /home/duckie/.docker", check=False).returncode
    # Root's file was written by a duckie login, so sudo ran. It lives for milliseconds,
    # so a sample need not catch it; any sample that did had no password in it.
    assert len(sampler.samples) > 10
    assert not any(PASSWORD in sample for sample in sampler.samples)
    assert PASSWORD not in done.stdout + done.stderr
    sshd_log = lab.paths.robot_dir(chosen["name"]) / "upper/var/log/sshd.log"
    if sshd_log.exists():
        assert PASSWORD not in sshd_log.read_text(errors="replace")
    again = _login(lab, inventory, tmp_path, PASSWORD)
    assert _result(again)["status"] == "ok", again.stdout


def test_a_wrong_become_password_fails_that_robot_quickly(lab, duckie, tmp_path):
    chosen, inventory = duckie
    started = time.monotonic()
    done = _login(lab, inventory, tmp_path, "not-the-password")
    assert time.monotonic() - started < 60
    assert done.returncode == 2
    result = _result(done)
    assert result["status"] == "failed"
    assert "sudo: wrong become password" in result["reason"]
    assert "not-the-password" not in done.stdout + done.stderr
    assert not _config_path(lab, chosen["name"]).exists()


def test_without_a_password_sudo_is_not_left_waiting(lab, duckie, tmp_path):
    chosen, inventory = duckie
    done = _login(lab, inventory, tmp_path, None)
    assert done.returncode == 2
    assert "--ask-become-pass" in _result(done)["reason"]
    add_sudo_user(lab.paths, lab_robot(lab.paths, chosen["name"]), USER, PASSWORD, nopasswd=True)
    done = _login(lab, inventory, tmp_path, None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _held(lab, chosen["name"]) == ("robot", lab.accounts["accounts"]["robot"])
