"""Where fleet connects and what it trusts, without a network: ~/.ssh/config and known_hosts."""

import dataclasses
import io
import os
import subprocess
import sys
from pathlib import Path

import paramiko
import pytest
from ruamel.yaml import YAML

from fleet.errors import FleetError
from fleet.inventory.model import Host
from fleet.transport.known_hosts import KnownHosts, PublicKey
from fleet.transport.ssh import SSHOptions, parse_ssh_args, ssh_target
from fleet.transport.trust import KnownName, Outcome, decide_host_key


def test_ssh_config_fills_in_what_the_inventory_leaves_out(tmp_path):
    config = tmp_path / "config"
    config.write_text(
        "Host robot*.local\n  User pi\n  Port 2200\n  IdentityFile ~/.ssh/robots\n"
        "Host jetson.local\n  HostName 192.0.2.9\n"
    )
    options = SSHOptions(ssh_config=config, known_hosts=tmp_path / "kh")
    target = ssh_target(Host("robot01.local", {}), options)
    assert (target.hostname, target.port, target.user) == ("robot01.local", 2200, "pi")
    assert target.key_files[0].endswith("/.ssh/robots")
    assert ssh_target(Host("jetson.local", {}), options).hostname == "192.0.2.9"


def test_inventory_variables_win_over_ssh_config(tmp_path):
    config = tmp_path / "config"
    config.write_text("Host *\n  User pi\n  Port 2200\n")
    host = Host(
        "robot01.local",
        {
            "ansible_host": "192.0.2.1",
            "ansible_user": "duckie",
            "ansible_port": 22,
            "ansible_ssh_private_key_file": "/keys/lab",
        },
    )
    target = ssh_target(host, SSHOptions(ssh_config=config))
    assert (target.hostname, target.port, target.user, target.key_files) == (
        "192.0.2.1",
        22,
        "duckie",
        ("/keys/lab",),
    )


def _trusted(known: KnownHosts, name: str, port: int, key: paramiko.PKey) -> bool:
    offered = PublicKey.of(key)
    decision = decide_host_key(known.entries(), [KnownName(name, port)], offered, False)
    return decision.outcome is Outcome.TRUSTED


def test_known_hosts_add_and_forget_keep_other_lines(tmp_path):
    path = tmp_path / "known_hosts"
    other = paramiko.ECDSAKey.generate()
    path.write_text(f"# my comment\nother.local {other.get_name()} {other.get_base64()}\n")
    known = KnownHosts(path)
    key = paramiko.ECDSAKey.generate()
    known.add(["robot01.local", "192.0.2.11"], 22, key)
    assert _trusted(known, "robot01.local", 22, key)
    assert _trusted(known, "192.0.2.11", 22, key)
    assert not _trusted(known, "robot01.local", 2222, paramiko.ECDSAKey.generate())
    known.add(["robot02.local"], 2222, key)
    assert _trusted(known, "robot02.local", 2222, key)
    assert known.forget(["robot01.local"]) == 1
    assert not _trusted(known, "192.0.2.11", 22, key)
    assert known.forget(["[robot02.local]:2222"]) == 1
    assert path.read_text().startswith("# my comment\nother.local ")
    assert _trusted(known, "other.local", 22, other)


def test_forget_finds_hashed_entries(tmp_path):
    path = tmp_path / "known_hosts"
    key = paramiko.ECDSAKey.generate()
    hashed = paramiko.HostKeys.hash_host("robot09.local")
    path.write_text(f"{hashed} {key.get_name()} {key.get_base64()}\n")
    known = KnownHosts(path)
    assert _trusted(known, "robot09.local", 22, key)
    assert known.forget(["robot09.local"]) == 1
    assert path.read_text() == ""


TARGET_CASES = YAML(typ="safe").load(
    (Path(__file__).parent / "data/ssh_target_cases.yaml").read_text()
)


def _check_target(target, expect: dict) -> None:
    for field, wanted in expect.items():
        if field == "jumps":
            assert len(target.proxy_jumps) == len(wanted), target.proxy_jumps
            for hop, hop_expect in zip(target.proxy_jumps, wanted, strict=True):
                _check_target(hop, hop_expect)
        elif field == "known_names":
            assert [n.pattern for n in target.known_names(None)] == wanted
        elif field == "key_files":
            assert list(target.key_files) == wanted
        else:
            assert getattr(target, field) == wanted, field


@pytest.mark.parametrize("case", TARGET_CASES, ids=[c["case"] for c in TARGET_CASES])
def test_ssh_target(case, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # invoke (Match exec) reads stdin
    config = tmp_path / "config"
    config.write_text(case["config"])
    options = SSHOptions(ssh_config=config, known_hosts=tmp_path / "kh")
    host = Host(case["host"], case.get("vars", {}))
    if "error" in case:
        with pytest.raises(FleetError, match=case["error"]):
            ssh_target(host, options)
        return
    _check_target(ssh_target(host, options), case["expect"])


def test_a_target_is_a_frozen_hashable_record(tmp_path):
    config = tmp_path / "config"
    config.write_text("Host robot*\n  ProxyJump gw\n")
    options = SSHOptions(ssh_config=config)
    one = ssh_target(Host("robot01.local", {}), options)
    two = ssh_target(Host("robot02.local", {}), options)
    assert one.proxy_jumps[0] == two.proxy_jumps[0]  # one hop, shared by both robots
    assert len({one.proxy_jumps[0], two.proxy_jumps[0]}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.port = 2  # type: ignore[misc]


def test_known_names_add_the_address_and_forget_patterns_add_the_alias(tmp_path):
    config = tmp_path / "config"
    config.write_text("Host jetson\n  HostName 192.0.2.12\n  Port 2222\n  HostKeyAlias jet\n")
    target = ssh_target(Host("jetson", {}), SSHOptions(ssh_config=config))
    assert [n.pattern for n in target.known_names("192.0.2.12")] == ["jet"]
    assert target.forget_patterns("192.0.2.12") == ("jet", "[jetson]:2222", "[192.0.2.12]:2222")


@pytest.mark.parametrize(
    ("args", "options"),
    [
        ("-J gw", [("ProxyJump", "gw")]),
        (
            "-Jgw -p 2200 -l pi -i ~/k",
            [("ProxyJump", "gw"), ("Port", "2200"), ("User", "pi"), ("IdentityFile", "~/k")],
        ),
        (
            "-o ProxyJump=a,b -o 'ProxyCommand ssh -W %h:%p gw'",
            [("ProxyJump", "a,b"), ("ProxyCommand", "ssh -W %h:%p gw")],
        ),
        ("-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -C -4", []),
        ("-vq -o hostkeyalias=x -F /etc/other", [("HostKeyAlias", "x")]),
    ],
)
def test_ansible_ssh_args(args, options):
    assert parse_ssh_args(args) == options


def test_forget_removes_every_name_ssh_target_derives_on_the_right_port(tmp_path):
    """`fleet forget NAME`: inventory name, ansible_host, HostName, HostKeyAlias, address,
    each on the robot's port; the port-22 entry of the same name is another server."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(
        "Host jetson-b.lab\n  HostName 192.0.2.12\n  Port 2222\n  HostKeyAlias jet-b\n"
    )
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("all:\n  hosts:\n    jetson-b.local:\n      ansible_host: jetson-b.lab\n")
    key = paramiko.ECDSAKey.generate()
    line = f"{key.get_name()} {key.get_base64()}"
    known_hosts = tmp_path / "known_hosts"
    doomed = ["jet-b", "[jetson-b.local]:2222", "[jetson-b.lab]:2222", "[192.0.2.12]:2222"]
    kept = ["jetson-b.local", "other.local"]
    hashed = paramiko.HostKeys.hash_host("[192.0.2.12]:2222")
    known_hosts.write_text("".join(f"{n} {line}\n" for n in [*doomed, hashed, *kept]))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fleet",
            "forget",
            "jetson-b.local",
            "-i",
            str(inventory),
            "--known-hosts",
            str(known_hosts),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(home)},
    )
    assert done.returncode == 0, done.stderr
    assert "removed 5 known_hosts entries" in done.stdout
    assert known_hosts.read_text() == "".join(f"{n} {line}\n" for n in kept)
