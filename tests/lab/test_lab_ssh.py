"""SSH trust, the runner's results and `fleet facts`, against the lab's real sshd."""

from __future__ import annotations

import json
import os
import signal
import subprocess

from tests.lab.conftest import PROBES, fleet


def _pids(lab, name):
    return json.loads((lab.paths.robot_dir(name) / "pids.json").read_text())


def facts(lab, *args, known_hosts, env=None):
    done = fleet(
        "facts",
        "-i",
        str(lab.paths.inventory),
        "--known-hosts",
        str(known_hosts),
        "--json",
        "--timeout",
        "60",
        *args,
        check=False,
        env=env,
    )
    records = [json.loads(line) for line in done.stdout.splitlines()]
    results = {r["host"]: r for r in records if r["event"] == "result"}
    return done, results


def test_facts_match_every_board(lab, tmp_path):
    done, results = facts(lab, "--accept-new", known_hosts=tmp_path / "kh")
    assert done.returncode == 0, done.stderr
    assert len(results) == len(lab.robots)
    for robot in lab.robots:
        got = results[f"{robot['name']}.local"]
        expected = PROBES[robot["profile"]]
        assert got["status"] == "ok"
        data = got["data"]
        assert data["kernel_arch"] == expected["uname"]
        assert data["userland"]["dpkg"] == expected["dpkg"]
        assert str(data["userland"]["long_bit"]) == expected["long_bit"]
        assert f"{data['docker']['os']}/{data['docker']['arch']}" == expected["docker"]
        if expected["model"]:
            assert data["model"] == expected["model"]
        assert data["os"].startswith("Debian GNU/Linux 12")
        assert data["docker_disk"]["free_bytes"] > 0
    by_profile = {r["profile"]: results[f"{r['name']}.local"]["data"] for r in lab.robots}
    assert by_profile["raspberrypi4-32"]["variant"] == "arm32v7"
    assert "32-bit Docker on a 64-bit kernel" in by_profile["raspberrypi4-32"]["variant_reason"]
    assert by_profile["raspberrypi3"]["variant"] == "arm32v7"
    assert by_profile["jetson-nano"]["variant"] == "arm64v8"
    assert by_profile["amd64"]["variant"] == "amd64"
    # Nothing but JSON on stdout.
    assert all(line.startswith("{") for line in done.stdout.splitlines())


def test_unknown_host_keys_are_refused_until_accepted(lab, tmp_path):
    known_hosts = tmp_path / "kh"
    done, results = facts(lab, "-l", "robot01.local", known_hosts=known_hosts)
    assert done.returncode == 4
    assert results["robot01.local"]["status"] == "unreachable"
    assert "rerun with --accept-new" in results["robot01.local"]["reason"]
    assert not known_hosts.exists()
    done, results = facts(lab, "-l", "robot01.local", "--accept-new", known_hosts=known_hosts)
    assert done.returncode == 0
    # Recorded under the robot's name and its address, for OpenSSH too.
    address = lab.robots[0]["address"]
    for name in ("robot01.local", address):
        found = subprocess.run(
            ["ssh-keygen", "-F", name, "-f", str(known_hosts)], capture_output=True, text=True
        )
        assert found.returncode == 0, name
    done, _ = facts(lab, "-l", "robot01.local", known_hosts=known_hosts)
    assert done.returncode == 0


def test_a_changed_host_key_is_refused_even_with_accept_new_until_forgotten(lab, tmp_path):
    known_hosts = tmp_path / "kh"
    robot = lab.robots[2]
    name = f"{robot['name']}.local"
    assert facts(lab, "-l", name, "--accept-new", known_hosts=known_hosts)[0].returncode == 0
    # Re-flash: new host keys, sshd reloads them on SIGHUP.
    lab.ssh(robot["address"], "rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null")
    os.kill(_pids(lab, robot["name"])["sshd"], signal.SIGHUP)
    subprocess.run(
        ["ssh-keygen", "-R", robot["address"], "-f", str(lab.known_hosts)], capture_output=True
    )
    done, results = facts(lab, "-l", name, "--accept-new", known_hosts=known_hosts)
    assert done.returncode == 4
    assert "CHANGED" in results[name]["reason"]
    assert f"fleet forget {name}" in results[name]["reason"]
    forgot = fleet(
        "forget", name, "-i", str(lab.paths.inventory), "--known-hosts", str(known_hosts)
    )
    assert "removed 1 known_hosts entries" in forgot.stdout
    done, results = facts(lab, "-l", name, "--accept-new", known_hosts=known_hosts)
    assert done.returncode == 0, results


def test_keys_install_on_a_password_only_robot(lab, tmp_path):
    robot = lab.robots[1]
    password = "a-classroom-password"
    lab.ssh(
        robot["address"],
        "id student >/dev/null 2>&1 || useradd -m -s /bin/sh student; chpasswd; "
        "printf 'Match User student\\n  PasswordAuthentication yes\\n' "
        "> /etc/ssh/sshd_config.d/student.conf",
        input=f"student:{password}\n",
    )
    os.kill(_pids(lab, robot["name"])["sshd"], signal.SIGHUP)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id")], check=True
    )
    key_auth = [
        "ssh",
        "-i",
        str(tmp_path / "id"),
        "-o",
        "BatchMode=yes",
        "-o",
        "PasswordAuthentication=no",
        "-o",
        f"UserKnownHostsFile={lab.known_hosts}",
        "-o",
        "StrictHostKeyChecking=accept-new",
        f"student@{robot['address']}",
        "whoami",
    ]
    assert subprocess.run(key_auth, capture_output=True, timeout=30).returncode != 0
    install = [
        "keys",
        "install",
        "--key",
        str(tmp_path / "id.pub"),
        "-H",
        robot["address"],
        "-u",
        "student",
        "--known-hosts",
        str(tmp_path / "kh"),
        "--accept-new",
        "--json",
    ]
    env = {**os.environ, "FLEET_SSH_PASSWORD": password, "HOME": str(tmp_path)}
    first = fleet(*install, env=env)
    assert '"status": "changed"' in first.stdout
    assert password not in first.stdout + first.stderr
    second = fleet(*install, env=env)
    assert '"status": "ok"' in second.stdout
    done = subprocess.run(key_auth, capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "student", done.stderr


def test_one_robot_down_the_others_ok_exit_4_and_the_retry_file_names_it(lab, tmp_path):
    known_hosts, retry = tmp_path / "kh", tmp_path / "fleet.retry"
    assert facts(lab, "--accept-new", known_hosts=known_hosts)[0].returncode == 0
    down = lab.robots[0]
    fleet("lab", "stop", down["name"], "sshd")
    try:
        _one_robot_down(lab, down, known_hosts, retry)
    finally:
        fleet("lab", "start", down["name"], "sshd")


def _one_robot_down(lab, down, known_hosts, retry):
    done, results = facts(lab, "--retry-file", str(retry), known_hosts=known_hosts)
    assert done.returncode == 4
    assert results[f"{down['name']}.local"]["status"] == "unreachable"
    assert "connection refused" in results[f"{down['name']}.local"]["reason"].lower()
    others = [r for h, r in results.items() if h != f"{down['name']}.local"]
    assert others and all(r["status"] == "ok" for r in others)
    assert retry.read_text() == f"{down['name']}.local\n"
    again, results = facts(lab, "-l", f"@{retry}", known_hosts=known_hosts)
    assert list(results) == [f"{down['name']}.local"]
    assert again.returncode == 4
