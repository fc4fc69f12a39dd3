"""mDNS service records -> one row per robot (pure: records in, robots out).

Robots announce `_workstation._tcp` (avahi's publish-workstation), often `_ssh._tcp`,
and Duckiebots one `_duckietown._tcp` service per fact, named `DT::<KEY>::<hostname>`,
whose TXT record is a single JSON string.

Every field of a packet is hostile until `checked` says otherwise: a record whose name,
host name, port or TXT record is not what a responder sends (control characters, a comma
or a newline in a host name, a TXT record past DNS's own bounds) is skipped whole, with a
debug log line; an address that is no address is dropped. Odd but harmless content (a
Duckietown TXT that is not JSON) never stops discovery: the robot is still listed.
Nothing reaches the screen, an inventory or known_hosts that was not checked here.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fleet.names import host_problem, is_ip_address, shown

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

log = logging.getLogger(__name__)

WORKSTATION = "_workstation._tcp.local."
SSH = "_ssh._tcp.local."
DUCKIETOWN = "_duckietown._tcp.local."
SERVICE_TYPES = (WORKSTATION, SSH, DUCKIETOWN)

# Bounds of what a responder can send (RFC 1035, RFC 6763); past them a record is forged.
MAX_NAME_BYTES = 255  # a whole DNS name
MAX_TXT_STRING = 255  # one TXT string (`key=value`) has a one-byte length
MAX_TXT_STRINGS = 64  # DNS-SD advises a few; Duckietown sends one
MAX_TXT_BYTES = 2048  # all of one TXT record (DNS-SD: "should be under 1300 bytes")
MAX_ADDRESSES = 16  # per record, and per robot
MAX_DUCKIETOWN_KEYS = 32  # DT::<KEY>:: services per robot (a Duckiebot has about ten)
_SERVICE_TYPE = re.compile(r"_[A-Za-z0-9-]{1,15}\._(tcp|udp)\.local\.\Z")
_DUCKIETOWN_KEY = re.compile(r"[A-Za-z0-9_]{1,64}\Z")
# type, configuration and hardware of a Duckiebot: `duckiebot`, `DB21M`, `jetson_nano`
_DUCKIETOWN_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}\Z")
DUCKIETOWN_FIELDS = ("type", "configuration", "hardware")


@dataclass(frozen=True)
class ServiceRecord:
    """What zeroconf resolved for one service instance."""

    type: str
    name: str
    server: str | None = None
    addresses: tuple[str, ...] = ()
    port: int | None = None
    properties: Mapping[bytes, bytes | None] = field(default_factory=dict)


@dataclass
class Robot:
    hostname: str  # e.g. robot01.local
    addresses: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    ssh_port: int | None = None
    duckietown: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str | None:
        """Duckiebots say they are booting, then present; other robots say nothing."""
        if "BOOTING" in self.duckietown.get("keys", []):
            return "booting"
        if self.duckietown:
            return "ready"
        return None

    def as_record(self) -> dict[str, Any]:
        dt = self.duckietown
        return {
            "hostname": self.hostname,
            "addresses": self.addresses,
            "services": self.services,
            "ssh_port": self.ssh_port,
            "duckietown": bool(dt),
            "type": dt.get("type"),
            "configuration": dt.get("configuration"),
            "hardware": dt.get("hardware"),
            "state": self.state,
        }


def _name_problem(name: object) -> str | None:
    """None for a service instance name a responder can send; it may hold spaces,
    brackets and non-ASCII letters (`robot01 [b8:27:eb:01:02:03]`), never control or
    formatting characters (an escape sequence, a right-to-left override)."""
    if not isinstance(name, str):
        return f"a name is text, not {type(name).__name__}"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"longer than {MAX_NAME_BYTES} bytes"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in name):
        return "a control or formatting character"
    return None


def _txt_problem(properties: object) -> str | None:
    if not isinstance(properties, Mapping):
        return f"a TXT record is a mapping, not {type(properties).__name__}"
    if len(properties) > MAX_TXT_STRINGS:
        return f"{len(properties)} TXT strings (at most {MAX_TXT_STRINGS})"
    total = 0
    for key, value in properties.items():
        if not isinstance(key, bytes) or not isinstance(value, bytes | None):
            return "a TXT string that is not bytes"
        size = len(key) + (0 if value is None else 1 + len(value))
        if size > MAX_TXT_STRING:
            return f"a {size}-byte TXT string (at most {MAX_TXT_STRING})"
        total += 1 + size
    if total > MAX_TXT_BYTES:
        return f"a {total}-byte TXT record (at most {MAX_TXT_BYTES})"
    return None


def _record_problem(record: ServiceRecord) -> str | None:
    if not isinstance(record.type, str) or not _SERVICE_TYPE.match(record.type):
        return f"service type {shown(record.type)} is no DNS-SD service type"
    problem = _name_problem(record.name)
    if problem is not None:
        return f"service name: {problem}"
    if not record.name.endswith("." + record.type):
        return f"service name is not of type {record.type}"
    if record.server is not None and _host_key(record.server) is None:
        return f"host name {shown(record.server)} is no host name"
    port = record.port
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
        return f"port {shown(port)} is not a number"
    if port is not None and not 0 <= port <= 65535:
        return f"port {port} is out of range"
    return _txt_problem(record.properties)


def on_link_only(record: ServiceRecord, networks: Sequence[IPNetwork]) -> ServiceRecord:
    """The record with only the addresses on the networks discovery listened on (and
    IPv6 link-local ones): anyone on the LAN can answer for any name, but not send the
    controller off the LAN, where it would take its SSH and become passwords."""
    kept = tuple(a for a in record.addresses if isinstance(a, str) and _on_link(a, networks))
    if len(kept) != len(record.addresses):
        log.debug("mDNS service %s: dropped addresses off this link", shown(record.name))
    return replace(record, addresses=kept)


def _on_link(address: str, networks: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.is_link_local:
        return True
    return any(ip.version == net.version and ip in net for net in networks)


def checked(
    record: ServiceRecord, networks: Sequence[IPNetwork] | None = None
) -> ServiceRecord | None:
    """The record with every field checked and bounded, or None (with a debug log line)
    when it is not what a responder sends. Addresses that are no IP address are dropped,
    and with `networks`, those off them, before the count is bounded: announced addresses
    off the link cannot push a robot's own out of the first MAX_ADDRESSES."""
    problem = _record_problem(record)
    if problem is not None:
        log.debug("skipping mDNS service %s: %s", shown(record.name), problem)
        return None
    addresses = tuple(a for a in record.addresses if isinstance(a, str) and is_ip_address(a))
    if len(addresses) != len(record.addresses):
        log.debug("mDNS service %s: dropped what is no address", shown(record.name))
    record = replace(record, addresses=addresses, properties=dict(record.properties))
    if networks is not None:
        record = on_link_only(record, networks)
    if len(record.addresses) > MAX_ADDRESSES:
        log.debug("mDNS service %s: kept %d of its addresses", shown(record.name), MAX_ADDRESSES)
    return replace(record, addresses=record.addresses[:MAX_ADDRESSES])


def _host_key(name: str) -> str | None:
    """`Robot1.local.` -> `robot1.local`; None for a name that is not a host name (a
    comma, a newline, a range, an escape sequence...): such a record is never listed."""
    name = name.rstrip(".").lower()
    name = name if name.endswith(".local") else f"{name}.local"
    # A discovered name is a DNS name: with `.local` added, `::1%x` would pass as an address.
    problem = "not a DNS name" if any(c in name for c in ":%") else host_problem(name)
    if problem is not None:
        log.debug("skipping a record naming host %s: %s", shown(name), problem)
        return None
    return name


def parse_duckietown_name(name: str) -> tuple[str, str] | None:
    """`DT::ROBOT_TYPE::robot01._duckietown._tcp.local.` -> ("ROBOT_TYPE", "robot01")."""
    instance = name[: -len(DUCKIETOWN) - 1] if name.endswith("." + DUCKIETOWN) else name
    parts = instance.split("::")
    if len(parts) != 3 or parts[0] != "DT" or not _DUCKIETOWN_KEY.match(parts[1]) or not parts[2]:
        log.debug("odd Duckietown service name %s: expected DT::<KEY>::<hostname>", shown(name))
        return None
    return parts[1], parts[2]


def parse_duckietown_txt(properties: Mapping[bytes, bytes | None], name: str) -> dict[str, Any]:
    """The TXT record is one JSON string; zeroconf shows it as a key without a value."""
    for key, value in properties.items():
        raw = key if value is None else key + b"=" + value
        if not raw:
            continue
        if len(raw) > MAX_TXT_STRING:
            log.debug("ignoring a %d-byte TXT string on %s", len(raw), shown(name))
            continue
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):  # [[[[... within 255 bytes
            log.debug("TXT record of %s is not JSON: %r", shown(name), raw[:80])
            continue
        if isinstance(data, dict):
            return data
        log.debug("TXT record of %s is JSON but not an object: %r", shown(name), raw[:80])
    return {}


def duckietown_fields(data: Mapping[str, Any], name: str) -> dict[str, str]:
    """type, configuration and hardware from a Duckietown TXT record, each kept only when
    it is a short word (these go into tables and inventories: no markup, no escapes)."""
    found = {}
    for key in DUCKIETOWN_FIELDS:
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, str) and _DUCKIETOWN_VALUE.match(value):
            found[key] = value
        else:
            log.debug("ignoring Duckietown %s %s of %s", key, shown(value), shown(name))
    return found


def merge(records: Iterable[ServiceRecord]) -> list[Robot]:
    """One robot per host name, sorted by name; everything seen about it in one row."""
    robots: dict[str, Robot] = {}
    for unchecked in records:
        record = checked(unchecked)
        if record is None:
            continue
        dt = parse_duckietown_name(record.name) if record.type == DUCKIETOWN else None
        if record.server:
            host = _host_key(record.server)
        elif dt:
            host = _host_key(dt[1])
        else:
            log.debug("service %r names no host; skipped", record.name)
            continue
        if host is None:
            continue
        robot = robots.setdefault(host, Robot(hostname=host))
        for address in record.addresses:
            if address not in robot.addresses and len(robot.addresses) < MAX_ADDRESSES:
                robot.addresses.append(address)
        if record.type not in robot.services:
            robot.services.append(record.type)
        if record.type == SSH and record.port:
            robot.ssh_port = record.port
        if record.type == DUCKIETOWN:
            _add_duckietown(robot, record, dt)
    for robot in robots.values():
        robot.addresses.sort(key=lambda a: (":" in a, a))
        robot.services.sort()
    return [robots[name] for name in sorted(robots)]


def _add_duckietown(robot: Robot, record: ServiceRecord, dt: tuple[str, str] | None) -> None:
    keys = robot.duckietown.setdefault("keys", [])
    if dt is None:
        return
    if dt[0] not in keys:
        if len(keys) >= MAX_DUCKIETOWN_KEYS:
            log.debug("%s: more than %d Duckietown services", robot.hostname, len(keys))
            return
        keys.append(dt[0])
    data = parse_duckietown_txt(record.properties, record.name)
    robot.duckietown.update(duckietown_fields(data, record.name))


def filter_type(robots: list[Robot], wanted: str | None) -> list[Robot]:
    """`--type duckiebot` keeps robots whose Duckietown type matches; `--type ssh` those
    with SSH announced; no type keeps all."""
    if not wanted:
        return robots
    if wanted == "ssh":
        return [r for r in robots if SSH in r.services]
    return [r for r in robots if r.duckietown.get("type") == wanted]
