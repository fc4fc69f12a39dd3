"""Hostile names and documents at every entry point: inventories, -H, retry files, mDNS,
saved inventories, known_hosts. Each test goes through the entry point itself, so it
fails on a fleet that lets the input through.

Documents that would eat memory (ranges, alias bombs) are read in a child process under
an address-space limit: a fleet that expands them fails with MemoryError there instead
of taking this machine down."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import paramiko
import pytest

from fleet.discovery.records import DUCKIETOWN, SSH, ServiceRecord, merge
from fleet.errors import FleetError
from fleet.inventory import load, patterns
from fleet.inventory.save import merge_hosts, save_hosts
from fleet.targets import adhoc_names
from fleet.transport.known_hosts import KnownHosts

HOSTILE = [
    "a.local,evil.local",  # a second host pattern in a known_hosts line
    "a.local\n@cert-authority * ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE",  # a CA line
    "robot[0:99999999].local",  # a range: a memory bomb for every later load
    "robot 01.local",
    "*.local",
    "|1|c2FsdA==|aGFzaA==",
    "robot\x1b[2J.local",  # clears the screen
    "rоbot.local",  # Cyrillic o
]
MEMORY_LIMIT = 1 << 30  # bytes of address space for the child process


def _bounded(code: str) -> dict:
    """Run `code` in a child with MEMORY_LIMIT of address space; it prints one JSON line:
    {"error": type name, "message": text} or {"result": ...}."""
    script = textwrap.dedent(
        f"""
        import json, resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))
        try:
            from fleet.inventory import load
            from fleet.targets import adhoc_names
            result = None
        """
    )
    script += textwrap.indent(textwrap.dedent(code), "    ")
    script += textwrap.dedent(
        """
        except MemoryError:
            print(json.dumps({"error": "MemoryError", "message": ""}))
        except Exception as exc:
            print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
        else:
            print(json.dumps({"result": repr(result)[:200]}))
        """
    )
    # The timeout is a guard against a hang, not a measure of speed.
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.stdout, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_an_inventory_host_name_is_checked(name):
    text = f"all:\n  children:\n    lab:\n      hosts:\n        {json.dumps(name)}:\n"
    with pytest.raises(load.InventoryError, match=r"<inventory>:5: ") as caught:
        load.load_text(text)
    assert "\n" not in str(caught.value) and "\x1b" not in str(caught.value)


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_an_ansible_host_is_checked(name):
    text = f"all:\n  hosts:\n    a.local:\n      ansible_host: {json.dumps(name)}\n"
    with pytest.raises(load.InventoryError, match=r"<inventory>:4: ansible_host: bad"):
        load.load_text(text)


def test_a_port_is_checked_in_keys_and_variables():
    with pytest.raises(load.InventoryError, match=r"<inventory>:3: .*1 to 65535"):
        load.load_text("all:\n  hosts:\n    a.local:70000:\n")
    with pytest.raises(load.InventoryError, match=r"<inventory>:4: ansible_port: bad"):
        load.load_text('all:\n  hosts:\n    a.local:\n      ansible_port: "22\\nx"\n')


def test_a_group_name_is_checked():
    with pytest.raises(load.InventoryError, match=r"<inventory>:3: bad group name"):
        load.load_text('all:\n  children:\n    "lab\\e[2J":\n')
    with pytest.raises(load.InventoryError, match=r"<inventory>:1: bad group name"):
        load.load_text('"lab,all":\n  hosts:\n    a.local:\n')


def test_a_range_that_stands_for_too_many_hosts_fails_before_it_is_made():
    found = _bounded('load.load_text("all:\\n  hosts:\\n    robot[0:99999999].local:\\n")')
    assert found["error"] == "InventoryError", found
    assert "100000000 hosts" in found["message"] and "at most 10000" in found["message"]


def test_many_ranges_in_one_inventory_are_bounded_too():
    text = "all:\n  hosts:\n" + "".join(f"    r{i}-[0:9999]:\n" for i in range(11))
    found = _bounded(f"load.load_text({text!r})")
    assert found["error"] == "InventoryError", found
    assert "more than 100000 hosts" in found["message"]


def test_dash_h_is_checked_and_bounded():
    for name in HOSTILE:
        if "," in name:
            continue  # -H splits at commas: each half is then a good name
        with pytest.raises(FleetError, match="^-H"):
            adhoc_names(name)
    found = _bounded('adhoc_names("a.local,robot[0:99999999].local")')
    assert found["error"] == "FleetError" and "at most 10000" in found["message"], found
    found = _bounded('adhoc_names(",".join(f"r{i}-[0:999]" for i in range(11)))')
    assert found["error"] == "FleetError" and "at most 10000" in found["message"], found


BILLION_LAUGHS = """\
all:
  vars:
    lol1: &lol1 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]
    lol2: &lol2 [*lol1, *lol1, *lol1, *lol1, *lol1, *lol1, *lol1, *lol1, *lol1, *lol1]
    lol3: &lol3 [*lol2, *lol2, *lol2, *lol2, *lol2, *lol2, *lol2, *lol2, *lol2, *lol2]
    lol4: &lol4 [*lol3, *lol3, *lol3, *lol3, *lol3, *lol3, *lol3, *lol3, *lol3, *lol3]
    lol5: &lol5 [*lol4, *lol4, *lol4, *lol4, *lol4, *lol4, *lol4, *lol4, *lol4, *lol4]
    lol6: &lol6 [*lol5, *lol5, *lol5, *lol5, *lol5, *lol5, *lol5, *lol5, *lol5, *lol5]
    lol7: &lol7 [*lol6, *lol6, *lol6, *lol6, *lol6, *lol6, *lol6, *lol6, *lol6, *lol6]
    lol8: &lol8 [*lol7, *lol7, *lol7, *lol7, *lol7, *lol7, *lol7, *lol7, *lol7, *lol7]
    lol9: &lol9 [*lol8, *lol8, *lol8, *lol8, *lol8, *lol8, *lol8, *lol8, *lol8, *lol8]
  hosts:
    robot01.local:
"""


def test_a_billion_laughs_inventory_fails_with_an_inventory_error(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    found = _bounded(f"load.load(__import__('pathlib').Path({str(path)!r}))")
    assert found["error"] == "InventoryError", found
    assert str(path) in found["message"] and "alias" in found["message"]


def test_an_inventory_file_is_bounded_in_size_and_must_be_text(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("all:\n  vars:\n    x: '" + "x" * (1 << 20) + "'\n")
    with pytest.raises(load.InventoryError, match="larger than 1048576 bytes"):
        load.load(big)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"all:\n  hosts:\n    r\xff.local:\n")
    with pytest.raises(load.InventoryError, match="not UTF-8"):
        load.load(binary)


@pytest.mark.parametrize(
    "text",
    [
        "all:\n  vars:\n    x: " + "[" * 33 + "]" * 33 + "\n",
        "all:\n  vars:\n    x: " + "{a: " * 40 + "}" * 40 + "\n",
        "all:\n  vars:\n" + "".join("  " * (i + 2) + f"k{i}:\n" for i in range(120)),
    ],
    ids=["flow sequences", "flow mappings", "block mappings"],
)
def test_deep_nesting_is_an_inventory_error(text):
    with pytest.raises(load.InventoryError, match="nested too deeply"):
        load.load_text(text)


def test_a_megabyte_of_brackets_fails_at_once():
    # ruamel's scanner is quadratic in flow depth: this would run for hours unchecked.
    found = _bounded('load.load_text("all:\\n  vars:\\n    x: " + "[" * 500_000)')
    assert found["error"] == "InventoryError" and "nested" in found["message"], found


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_a_retry_file_line_is_checked(tmp_path, name):
    inventory = load.load_text("all:\n  hosts:\n    a.local:\n").inventory
    retry = tmp_path / "last.retry"
    retry.write_text(f"a.local\n{name}\n")
    with pytest.raises(patterns.PatternError, match=rf"@{retry}:[23]: bad host name"):
        patterns.select(inventory, f"@{retry}")


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_a_discovered_name_is_never_listed(name):
    records = [
        ServiceRecord(SSH, "x._ssh._tcp.local.", server=name + ".", addresses=("192.0.2.1",)),
        ServiceRecord(DUCKIETOWN, f"DT::ROBOT_TYPE::{name}.{DUCKIETOWN}", port=0),
        ServiceRecord(SSH, "ok._ssh._tcp.local.", server="ok.local.", addresses=("192.0.2.2",)),
    ]
    assert [r.hostname for r in merge(records)] == ["ok.local"]


def test_a_discovered_address_that_is_no_address_is_dropped():
    records = [
        ServiceRecord(SSH, "ok._ssh._tcp.local.", server="ok.local.", addresses=("192.0.2.2",)),
        ServiceRecord(SSH, "ok._ssh._tcp.local.", server="ok.local.", addresses=("1.2.3.4,x",)),
    ]
    assert merge(records)[0].addresses == ["192.0.2.2"]


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_saving_refuses_a_name_and_writes_nothing(tmp_path, name):
    path = tmp_path / "inventory.yaml"
    path.write_text("all:\n  hosts:\n    a.local:\n")
    with pytest.raises(FleetError, match="bad host name"):
        save_hosts(path, "discovered", {name: {}})
    with pytest.raises(FleetError, match="bad ansible_host"):
        merge_hosts("", "discovered", {"b.local": {"ansible_host": name}})
    with pytest.raises(FleetError, match="bad group name"):
        merge_hosts("", "lab\n  vars: {x: 1}", {"b.local": {}})
    assert path.read_text() == "all:\n  hosts:\n    a.local:\n"


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_known_hosts_refuses_what_the_validator_refuses(tmp_path, name):
    known = KnownHosts(tmp_path / "known_hosts")
    key = paramiko.RSAKey.generate(1024)
    with pytest.raises(FleetError, match="bad host name"):
        known.add(["robot.local", name], 22, key)
    with pytest.raises(FleetError, match="1 to 65535"):
        known.add(["robot.local"], 0, key)
    assert not (tmp_path / "known_hosts").exists()
    known.add(["robot.local", "192.0.2.1"], 2222, key)
    assert (
        (tmp_path / "known_hosts")
        .read_text()
        .startswith("[robot.local]:2222,[192.0.2.1]:2222 ssh-rsa ")
    )
