"""`fleet hosts`, run through fleet's main() as a user runs it: what it prints, what it
hides, and its exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.unit.cli_run import Ran, run_fleet

INVENTORY = """\
all:
  vars:
    ansible_user: pi
    ansible_password: hunter2
  hosts:
    loner.local:
  children:
    lab:
      hosts:
        robot[01:03].local:
        robot04.local:2222:
          ansible_become_password: s3cret
          ansible_ssh_pass: s3cret
          ansible_ssh_private_key_file: ~/.ssh/lab_ed25519
          fleet_lab_profile: rpi4-32
          fleet_arh: arm64v8
          "odd\\e[2Jname": "a\\nb"
"""
FILES = {
    "group_vars/lab.yaml": "fleet_arch: arm32v7\nregistry: {token: abc123, url: r.example}\n",
    "host_vars/robot01.local.yaml": "ansible_host: 192.0.2.1\n",
}


def fleet(*args: str) -> Ran:
    return run_fleet("hosts", *args)


@pytest.fixture
def inventory(tmp_path):
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY)
    for relative, text in FILES.items():
        (tmp_path / relative).parent.mkdir(exist_ok=True)
        (tmp_path / relative).write_text(text)
    return str(path)


def test_the_hosts_a_pattern_selects_one_a_line(inventory):
    done = fleet("-i", inventory, "-l", "lab[1:]:!robot03.local")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "robot02.local\nrobot04.local\n"
    assert "unknown fleet variable 'fleet_arh' (did you mean 'fleet_arch'?)" in done.stderr
    assert "inventory.yaml:16:" in done.stderr


def test_every_host_without_a_limit(inventory):
    done = fleet("-i", inventory)
    assert done.stdout.split() == [
        "loner.local",
        "robot01.local",
        "robot02.local",
        "robot03.local",
        "robot04.local",
    ]


def test_vars_resolve_as_ansible_does_and_hide_secrets(inventory):
    done = fleet("-i", inventory, "-l", "robot0[14].local", "--vars")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:6] == [
        "robot01.local  (lab)",
        "  ansible_host: 192.0.2.1",
        "  ansible_password: <hidden>",
        "  ansible_user: pi",
        "  fleet_arch: arm32v7  # the image variant to pull, overriding detection",
        '  registry: {"token": "<hidden>", "url": "r.example"}',
    ]
    robot04 = "\n".join(lines[lines.index("robot04.local  (lab)") :])
    for secret in ("hunter2", "s3cret", "abc123"):
        assert secret not in done.stdout
    assert "  ansible_become_password: <hidden>" in robot04
    assert "  ansible_ssh_pass: <hidden>" in robot04
    assert "  ansible_ssh_private_key_file: ~/.ssh/lab_ed25519" in robot04
    assert "  ansible_port: 2222" in robot04
    assert "  fleet_lab_profile: rpi4-32  # written by fleet lab: the robot's simulated board" in (
        robot04
    )
    assert '  "odd\\u001b[2Jname": "a\\nb"' in robot04
    assert "\x1b" not in done.stdout


def test_json_is_one_object_per_host_with_secrets_hidden(inventory):
    done = fleet("-i", inventory, "-l", "lab[0],loner.local", "--vars", "--json")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["host"] for r in records] == ["loner.local", "robot01.local"]
    assert records[0]["groups"] == ["ungrouped"]
    assert records[1]["vars"]["ansible_password"] == "<hidden>"
    assert records[1]["vars"]["registry"] == {"token": "<hidden>", "url": "r.example"}
    assert "hunter2" not in done.stdout
    plain = fleet("-i", inventory, "-l", "loner.local", "--json")
    assert json.loads(plain.stdout) == {"host": "loner.local", "groups": ["ungrouped"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-l", "nosuch"], "pattern 'nosuch' matches no host or group"),
        (["-l", "lab[9]"], "no hosts matched the subscripted pattern 'lab[9]'"),
        (["-l", "lab:&loner.local"], "selects no hosts"),
        (["-H", "robot\x1b[2J.local"], "-H: "),
    ],
)
def test_selecting_nothing_is_exit_1_with_a_message(inventory, args, message):
    done = fleet("-i", inventory, *args)
    assert done.returncode == 1
    assert done.stdout == ""
    assert message in done.stderr and "Traceback" not in done.stderr
    assert "\x1b" not in done.stderr


def test_dash_h_needs_no_inventory(tmp_path):
    done = fleet("-H", "a.local,robot[1:2].local", "-l", "robot*")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "robot1.local\nrobot2.local\n"


def test_hosts_is_a_listed_command():
    done = subprocess.run(
        [sys.executable, "-m", "fleet", "--help"], capture_output=True, text=True, timeout=60
    )
    assert "hosts" in done.stdout


def test_a_run_in_process_writes_only_to_its_own_terminal(inventory, capfd):
    done = fleet("-i", inventory, "-l", "robot01.local")
    assert (done.returncode, done.stdout) == (0, "robot01.local\n")
    assert "fleet_arh" in done.stderr  # the inventory's warning
    assert capfd.readouterr() == ("", "")  # nothing reached the process's own streams
