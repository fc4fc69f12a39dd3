"""Where fleet connects and what it trusts, without a network: ~/.ssh/config and known_hosts."""

import paramiko

from fleet.inventory.model import Host
from fleet.transport.known_hosts import KnownHosts
from fleet.transport.ssh import SSHOptions, ssh_target


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


def test_known_hosts_add_lookup_and_forget_keep_other_lines(tmp_path):
    path = tmp_path / "known_hosts"
    other = paramiko.ECDSAKey.generate()
    path.write_text(f"# my comment\nother.local {other.get_name()} {other.get_base64()}\n")
    known = KnownHosts(path)
    key = paramiko.ECDSAKey.generate()
    known.add(["robot01.local", "192.0.2.11"], 22, key)
    assert known.lookup("robot01.local", 22)[key.get_name()] == key
    assert known.lookup("192.0.2.11", 22)[key.get_name()] == key
    assert known.lookup("robot01.local", 2222) == {}
    known.add(["robot02.local"], 2222, key)
    assert known.lookup("robot02.local", 2222)[key.get_name()] == key
    assert known.forget(["robot01.local"]) == 1
    assert known.lookup("192.0.2.11", 22) == {}
    assert known.forget(["robot02.local"], port=2222) == 1
    assert path.read_text().startswith("# my comment\nother.local ")
    assert known.lookup("other.local", 22)[other.get_name()] == other


def test_forget_finds_hashed_entries(tmp_path):
    path = tmp_path / "known_hosts"
    key = paramiko.ECDSAKey.generate()
    hashed = paramiko.HostKeys.hash_host("robot09.local")
    path.write_text(f"{hashed} {key.get_name()} {key.get_base64()}\n")
    known = KnownHosts(path)
    assert known.lookup("robot09.local", 22)[key.get_name()] == key
    assert known.forget(["robot09.local"]) == 1
    assert path.read_text() == ""
