"""The lab's robots, checked from outside with real clients: ssh, docker, HTTPS, mDNS."""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
from zeroconf import IPVersion, ServiceBrowser, ServiceListener, Zeroconf

from tests.lab.conftest import LAB_ROBOTS, LAB_UP_ARGS, PROBES, fleet


def test_status_lists_every_robot_healthy_and_shows_no_secret(lab):
    assert [r["name"] for r in lab.robots] == [f"robot{i:02d}" for i in range(1, LAB_ROBOTS + 1)]
    assert [r["duckiebot"] for r in lab.robots] == [True] + [False] * (LAB_ROBOTS - 1)
    for shown in (fleet("lab", "status", "--json").stdout, fleet("lab", "status").stdout):
        for password in lab.accounts["accounts"].values():
            assert password not in shown
    assert oct(lab.paths.credentials.stat().st_mode & 0o777) == "0o600"


def test_ssh_with_the_lab_key_reaches_each_robot_under_its_own_name(lab):
    for robot in lab.robots:
        done = lab.ssh(robot["address"], "hostname; cat /etc/hostname; ip -4 -o addr show eth0")
        hostname, etc_hostname, addr = done.stdout.splitlines()
        assert hostname == etc_hostname == robot["name"]
        assert f"inet {robot['address']}/" in addr


def test_robot_host_keys_are_new_per_robot(lab):
    keys = set()
    for robot in lab.robots:
        done = subprocess.run(
            ["ssh-keyscan", "-t", "ed25519", robot["address"]],
            capture_output=True,
            text=True,
            timeout=30,
        )
        keys.add(done.stdout.split()[-1])
    assert len(keys) == LAB_ROBOTS


def test_docker_over_ssh_answers_on_each_robot(lab):
    for robot in lab.robots:
        done = lab.docker(
            robot["address"], "version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"
        )
        assert done.stdout.strip() == PROBES[robot["profile"]]["docker"], robot["name"]


def _v2(lab, account=None):
    context = ssl.create_default_context(cafile=str(lab.paths.ca_cert))
    request = urllib.request.Request(f"https://{lab.registry}/v2/")
    if account:
        secret = lab.accounts["accounts"][account]
        token = base64.b64encode(f"{account}:{secret}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_registry_wants_an_account_and_accepts_both(lab):
    assert _v2(lab) == 401
    assert _v2(lab, "publisher") == 200
    assert _v2(lab, "robot") == 200


def test_registry_serves_a_certificate_only_the_lab_ca_vouches_for(lab):
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"https://{lab.registry}/v2/", timeout=10)


def test_a_robot_pulls_the_demo_index_only_with_the_account(lab):
    robot = lab.robots[1]["address"]
    expected = PROBES[lab.robots[1]["profile"]]
    image = f"{lab.registry}/duckietown/dt-core:daffy"
    lab.ssh(robot, f"docker logout {lab.registry}; docker rmi -f {image}", check=False)
    refused = lab.ssh(robot, f"docker pull {image}", check=False)
    assert refused.returncode != 0
    assert "no basic auth credentials" in refused.stderr or "unauthorized" in refused.stderr
    lab.ssh(
        robot,
        f"docker login --username robot --password-stdin {lab.registry}",
        input=lab.accounts["accounts"]["robot"],
    )
    try:
        lab.ssh(robot, f"docker pull {image}")
        inspect = lab.ssh(
            robot, f"docker image inspect --format '{{{{.Os}}}}/{{{{.Architecture}}}}' {image}"
        )
        assert inspect.stdout.strip() == expected["docker"]
        marker = lab.ssh(
            robot,
            f"id=$(docker create {image}) && docker cp $id:/etc/fleet-demo-arch - | tar -xO; "
            "docker rm $id >/dev/null",
        )
        assert marker.stdout.strip() == expected["pulled"]
    finally:
        lab.ssh(robot, f"docker logout {lab.registry}; docker rmi -f {image}", check=False)


@pytest.mark.parametrize("place", ["/root", "/etc", "/var/lib/docker", "/run", "/tmp"])
def test_what_one_robot_writes_no_other_robot_and_not_the_host_sees(lab, place):
    first, second = lab.robots[0]["address"], lab.robots[1]["address"]
    name = f"{place}/fleet-isolation-{time.monotonic_ns()}"
    lab.ssh(first, f"echo mine > {name} && cat {name}")
    try:
        assert lab.ssh(second, f"test -e {name}", check=False).returncode == 1
        assert not os.path.exists(name)
    finally:
        lab.ssh(first, f"rm -f {name}")


class _Collector(ServiceListener):
    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, str]] = {}
        self.lock = threading.Lock()

    def add_service(self, zc, type_, name):
        with self.lock:
            self.seen[name] = (type_, "")

    update_service = add_service

    def remove_service(self, zc, type_, name):
        pass


def test_mdns_on_the_bridge_sees_every_robot_and_the_duckiebot_records(lab):
    threads_before = set(threading.enumerate())
    zc = Zeroconf(interfaces=[lab.status["registry"].split(":")[0]], ip_version=IPVersion.V4Only)
    try:
        collector = _Collector()
        types = ["_workstation._tcp.local.", "_ssh._tcp.local.", "_duckietown._tcp.local."]
        browser = ServiceBrowser(zc, types, collector)
        deadline = time.monotonic() + 10
        wanted_dt = {
            f"DT::{k}::robot01._duckietown._tcp.local."
            for k in ("PRESENCE", "ROBOT_TYPE", "ROBOT_CONFIGURATION")
        }
        while time.monotonic() < deadline:
            with collector.lock:
                names = set(collector.seen)
            if (
                wanted_dt <= names
                and sum(n.endswith("._ssh._tcp.local.") for n in names) >= LAB_ROBOTS
            ):
                break
            time.sleep(0.2)
        browser.cancel()
        for robot in lab.robots:
            info = zc.get_service_info(
                "_ssh._tcp.local.", f"{robot['name']}._ssh._tcp.local.", 3000
            )
            assert info is not None, robot["name"]
            assert info.server == f"{robot['name']}.local."
            assert robot["address"] in info.parsed_addresses()
        assert wanted_dt <= names
        assert not any("robot02" in n or "robot03" in n for n in names if "_duckietown" in n)
        type_info = zc.get_service_info(
            "_duckietown._tcp.local.", "DT::ROBOT_TYPE::robot01._duckietown._tcp.local.", 3000
        )
        assert list(type_info.properties) == [b'{"type": "duckiebot"}']
    finally:
        zc.close()
    time.sleep(0.2)
    assert set(threading.enumerate()) <= threads_before, "zeroconf left a thread running"


def test_up_again_with_the_same_robots_is_a_no_op(lab):
    started = time.monotonic()
    done = fleet(*LAB_UP_ARGS)
    assert "already up" in done.stderr
    assert time.monotonic() - started < 30


def test_up_with_different_robots_is_refused_while_a_lab_is_up(lab):
    done = fleet("lab", "up", "--robots", "2", check=False)
    assert done.returncode != 0
    assert "fleet lab down" in done.stderr
    assert json.loads(fleet("lab", "status", "--json").stdout)["healthy"]
