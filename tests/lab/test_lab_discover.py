"""`fleet discover` against the lab's real avahi-daemons, on the lab bridge only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fleet.inventory import load
from fleet.lab import lifecycle
from fleet.lab.spec import BRIDGE
from fleet.names import host_problem
from tests.lab.conftest import LAB_ROBOTS, fleet

HOSTILE_RESPONDER = Path(__file__).parent / "fixtures" / "hostile_responder.py"

ON_BRIDGE = ["--interface", BRIDGE]


def _discover(*args, check=True):
    return fleet("discover", *ON_BRIDGE, *args, check=check, timeout=120)


def test_discover_lists_exactly_the_lab_robots(lab):
    done = _discover("--timeout", "3", "--json")
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["hostname"] for r in rows] == [f"{r['name']}.local" for r in lab.robots]
    for row, robot in zip(rows, lab.robots, strict=True):
        assert row["addresses"][0] == robot["address"]
        assert row["ssh_port"] == 22
        assert "_workstation._tcp.local." in row["services"]
    duckiebot = rows[0]
    assert (duckiebot["type"], duckiebot["configuration"], duckiebot["state"]) == (
        "duckiebot",
        "DB21M",
        "ready",
    )
    assert not any(r["duckietown"] for r in rows[1:])


def test_type_duckiebot_lists_only_the_duckiebot(lab):
    done = _discover("--timeout", "3", "--json", "--type", "duckiebot")
    assert [json.loads(line)["hostname"] for line in done.stdout.splitlines()] == ["robot01.local"]


def test_save_twice_gives_one_host_per_robot(lab, tmp_path):
    inventory = tmp_path / "robots.yaml"
    inventory.write_text("# my classroom\nall:\n  vars:\n    ansible_user: root\n")
    _discover("--timeout", "3", "--save", str(inventory), "--group", "room")
    _discover("--timeout", "3", "--save", str(inventory), "--group", "room")
    assert inventory.read_text().startswith("# my classroom\n")
    found = load.load(inventory).inventory
    assert found.groups["room"].hosts == [f"{r['name']}.local" for r in lab.robots]
    assert len(found.host_vars) == LAB_ROBOTS
    # This machine has no nss-mdns, so the saved hosts carry their address for Ansible.
    assert found.host("robot02.local").address == lab.robots[1]["address"]


def test_names_resolve_over_mdns_and_a_silent_name_says_so(lab):
    done = _discover("--timeout", "2", "robot03.local", "nobody.local", check=False)
    assert done.returncode == 4
    assert f"robot03.local\t{lab.robots[2]['address']}" in done.stdout
    assert "nobody.local did not answer mDNS within 2 s" in done.stderr


def test_watch_drops_a_robot_whose_avahi_stops_and_exits_cleanly_on_ctrl_c(lab):
    watcher = subprocess.Popen(
        [sys.executable, "-m", "fleet", "discover", "--watch", "--json", *ON_BRIDGE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen: set[str] = set()
        deadline = time.monotonic() + 20
        while len(seen) < LAB_ROBOTS and time.monotonic() < deadline:
            event = json.loads(watcher.stdout.readline())
            if event["event"] == "added":
                seen.add(event["hostname"])
        assert len(seen) == LAB_ROBOTS
        fleet("lab", "stop", "robot03", "avahi")
        stopped = time.monotonic()
        while True:
            event = json.loads(watcher.stdout.readline())
            if event["event"] == "removed":
                break
        assert event["hostname"] == "robot03.local"
        # avahi says goodbye as it stops; far sooner than the records' TTL.
        assert time.monotonic() - stopped < 10
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=15) == 0
        assert "Traceback" not in watcher.stderr.read()
    finally:
        if watcher.poll() is None:
            watcher.kill()
        fleet("lab", "start", "robot03", "avahi")


def test_ssh_reaches_a_robot_by_its_mdns_name_and_trusts_that_name(lab, tmp_path):
    inventory = tmp_path / "by-name.yaml"
    inventory.write_text(
        "all:\n  vars:\n    ansible_user: root\n"
        f"    ansible_ssh_private_key_file: {lab.paths.lab_key}\n"
        "  hosts:\n    robot04.local:\n"
    )
    known_hosts = tmp_path / "kh"
    env = {**os.environ, "FLEET_MDNS_INTERFACE": BRIDGE}
    done = fleet(
        "facts",
        "-i",
        str(inventory),
        "--known-hosts",
        str(known_hosts),
        "--accept-new",
        "--json",
        env=env,
    )
    result = [json.loads(x) for x in done.stdout.splitlines() if '"result"' in x][0]
    assert result["status"] == "ok"
    assert result["data"]["kernel_arch"] == "aarch64"
    assert known_hosts.read_text().startswith(f"robot04.local,{lab.robots[3]['address']} ")


def test_hostile_mdns_records_are_skipped_and_nothing_unchecked_is_printed_or_saved(lab, tmp_path):
    # robot04 also runs a zeroconf responder announcing what an attacker on the LAN
    # would: host names with a comma, a newline, a range, escapes; facts that are markup.
    robot = lifecycle.lab_robot(lab.paths, "robot04")
    responder = subprocess.Popen(
        ["ip", "netns", "exec", robot.netns, sys.executable, str(HOSTILE_RESPONDER),
         lab.robots[3]["address"]],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert responder.stdout.readline().strip() == "ready"
        done = fleet("-vv", "discover", *ON_BRIDGE, "--timeout", "3", "--json", timeout=120)
        rows = [json.loads(line) for line in done.stdout.splitlines()]
        expected = sorted([f"{r['name']}.local" for r in lab.robots] + ["markup.local"])
        # huge.local's TXT record is past every bound: a reply that carries it is skipped;
        # one that leaves it out (a one-shot reply is at most 512 bytes) lists the robot
        # with nothing from that TXT.
        assert [r["hostname"] for r in rows if r["hostname"] != "huge.local"] == expected
        for huge in (r for r in rows if r["hostname"] == "huge.local"):
            assert (huge["type"], huge["configuration"], huge["hardware"]) == (None,) * 3
        markup = next(r for r in rows if r["hostname"] == "markup.local")
        assert (markup["type"], markup["configuration"], markup["hardware"]) == (None,) * 3
        assert "skipping mDNS service" in done.stderr  # each skip says why, at -vv
        assert "evil" not in done.stdout and "k000" not in done.stdout

        table = _discover("--timeout", "3")
        assert "\x1b" not in table.stdout and "owned" not in table.stdout

        inventory = tmp_path / "robots.yaml"
        inventory.write_text(
            "all:\n  vars:\n    ansible_user: root\n"
            f"    ansible_ssh_private_key_file: {lab.paths.lab_key}\n"
        )
        _discover("--timeout", "3", "--save", str(inventory))
        saved = inventory.read_text()
        for attack in ("github.com", "cert-authority", "[0:", "\x1b", "evil"):
            assert attack not in saved
        saved_hosts = sorted(h.name for h in load.load(inventory).inventory.hosts())
        assert [h for h in saved_hosts if h != "huge.local"] == expected

        # Every robot saved is reachable, and what that writes to known_hosts is checked.
        known_hosts = tmp_path / "known_hosts"
        facts = fleet(
            "facts", "-i", str(inventory), "--known-hosts", str(known_hosts), "--accept-new",
            "--json", check=False,
        )  # fmt: skip
        assert facts.returncode == 0, facts.stderr
        for line in known_hosts.read_text().splitlines():
            for name in line.split()[0].split(","):
                assert host_problem(name.removeprefix("[").split("]")[0]) is None, line
    finally:
        responder.kill()
        responder.wait()
