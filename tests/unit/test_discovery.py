"""mDNS records to robots (data-driven), saving to an inventory, and a real zeroconf
browse over loopback with short timings that must leave no thread behind."""

from __future__ import annotations

import ipaddress
import threading
import time
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from zeroconf import IPVersion, ServiceInfo, Zeroconf

from fleet.discovery.browse import Browser
from fleet.discovery.records import ServiceRecord, checked, filter_type, merge, on_link_only
from fleet.inventory import load
from fleet.inventory.save import merge_hosts

CASES = YAML(typ="safe").load((Path(__file__).parent / "data/mdns_records.yaml").read_text())


def _record(raw: dict) -> ServiceRecord:
    txt = {}
    for entry in raw.get("txt", []):
        entry = {"HUGE": "x" * 10_000, "NESTED": "[" * 120 + "]" * 120}.get(entry, entry)
        key, sep, value = entry.partition("=") if not entry.startswith("{") else (entry, "", "")
        txt[key.encode("latin-1")] = value.encode() if sep else None
    return ServiceRecord(
        type=raw["type"],
        name=raw["name"],
        server=raw.get("server"),
        addresses=tuple(raw.get("addresses", [])),
        port=raw.get("port"),
        properties=txt,
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_records_become_one_row_per_robot(case):
    robots = merge(_record(r) for r in case["records"])
    assert [r.hostname for r in robots] == [r["hostname"] for r in case["robots"]]
    for robot, expected in zip(robots, case["robots"], strict=True):
        record = robot.as_record()
        for key, value in expected.items():
            assert record[key] == value, (robot.hostname, key)


def test_only_addresses_on_the_browsed_networks_are_kept():
    # Anyone on the LAN can answer for robot01; it cannot send fleet off the LAN.
    record = ServiceRecord(
        "_ssh._tcp.local.",
        "r._ssh._tcp.local.",
        "robot01.local.",
        ("192.168.1.20", "1.2.3.4", "192.168.2.9", "fe80::1%eth0", "2001:db8::5"),
        22,
    )
    lan = [ipaddress.ip_network("192.168.1.0/24"), ipaddress.ip_network("2001:db8::/64")]
    kept = on_link_only(record, lan).addresses
    assert kept == ("192.168.1.20", "fe80::1%eth0", "2001:db8::5")
    assert merge([on_link_only(record, lan[:1])])[0].addresses == ["192.168.1.20", "fe80::1%eth0"]


def test_addresses_off_the_link_cannot_crowd_out_the_robots_own():
    forged = tuple(f"203.0.113.{i}" for i in range(1, 40))
    record = ServiceRecord(
        "_ssh._tcp.local.", "r._ssh._tcp.local.", "robot01.local.", (*forged, "192.168.1.20"), 22
    )
    kept = checked(record, [ipaddress.ip_network("192.168.1.0/24")])
    assert kept is not None and kept.addresses == ("192.168.1.20",)


def test_type_filter():
    robots = merge(_record(r) for r in CASES[0]["records"])
    assert [r.hostname for r in filter_type(robots, "duckiebot")] == ["db01.local"]
    assert [r.hostname for r in filter_type(robots, "ssh")] == ["db01.local"]
    assert len(filter_type(robots, None)) == 2


INVENTORY = """\
# The robots of room 101. Keep this comment.
all:
  children:
    room101:
      vars:
        ansible_user: duckie   # the course account
      hosts:
        db01.local:
          fleet_arch: arm32v7
"""


def test_saving_keeps_comments_and_vars_and_never_duplicates():
    found = {"db01.local": {"ansible_host": "192.0.2.21"}, "db02.local": {}}
    text, added = merge_hosts(INVENTORY, "discovered", found)
    assert added == ["db02.local"]
    assert "# The robots of room 101. Keep this comment." in text
    assert "ansible_user: duckie   # the course account" in text
    inventory = load.load_text(text).inventory
    assert dict(inventory.host("db01.local").vars) == {
        "ansible_user": "duckie",
        "fleet_arch": "arm32v7",
    }
    assert "db02.local" in inventory.groups["discovered"].hosts
    again, added_again = merge_hosts(text, "discovered", found)
    assert added_again == [] and again == text


def test_saving_into_an_existing_group_and_into_nothing():
    text, added = merge_hosts(INVENTORY, "room101", {"db05.local": {"ansible_port": 2222}})
    assert added == ["db05.local"]
    inventory = load.load_text(text).inventory
    assert inventory.groups["room101"].hosts == ["db01.local", "db05.local"]
    assert inventory.host("db05.local").port == 2222
    fresh, _ = merge_hosts("", "lab", {"a.local": {}})
    assert load.load_text(fresh).inventory.groups["lab"].hosts == ["a.local"]


def _threads():
    return {t for t in threading.enumerate() if t.is_alive()}


def test_browse_over_loopback_sees_a_robot_and_its_goodbye():
    before = _threads()
    publisher = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    info = ServiceInfo(
        "_duckietown._tcp.local.",
        "DT::ROBOT_TYPE::loopbot._duckietown._tcp.local.",
        addresses=[bytes([127, 0, 0, 1])],
        port=0,
        properties={b'{"type": "duckiebot"}': None},
        server="loopbot.local.",
    )
    try:
        publisher.register_service(info, ttl=10)
        with Browser(["127.0.0.1"], resolve_timeout=1.0) as browser:
            deadline = time.monotonic() + 5
            while not browser.records() and time.monotonic() < deadline:
                time.sleep(0.05)
            robots = merge(browser.records())
            assert [(r.hostname, r.duckietown.get("type")) for r in robots] == [
                ("loopbot.local", "duckiebot")
            ]
            publisher.unregister_service(info)  # a goodbye packet: TTL 0
            deadline = time.monotonic() + 5
            while browser.records() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert browser.records() == []
    finally:
        publisher.close()
    deadline = time.monotonic() + 2
    while _threads() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _threads() - before == set(), "zeroconf or the resolver pool left a thread"


@pytest.mark.parametrize(
    ("nsswitch", "expected"),
    [
        ("hosts:          files dns\n", False),
        ("hosts: files mdns4_minimal [NOTFOUND=return] dns\n", True),
        ("# hosts: mdns\npasswd: files\n", False),
    ],
)
def test_local_names_go_to_the_system_resolver_only_with_nss_mdns(nsswitch, expected):
    from fleet.discovery.resolve import nss_resolves_local

    assert nss_resolves_local(nsswitch) is expected
