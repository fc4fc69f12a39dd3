"""mDNS service records -> one row per robot (pure: records in, robots out).

Robots announce `_workstation._tcp` (avahi's publish-workstation), often `_ssh._tcp`,
and Duckiebots one `_duckietown._tcp` service per fact, named `DT::<KEY>::<hostname>`,
whose TXT record is a single JSON string. Odd records never stop discovery: the robot is
still listed, and a debug log line says what was odd.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fleet.names import host_problem, is_ip_address, shown

log = logging.getLogger(__name__)

WORKSTATION = "_workstation._tcp.local."
SSH = "_ssh._tcp.local."
DUCKIETOWN = "_duckietown._tcp.local."
SERVICE_TYPES = (WORKSTATION, SSH, DUCKIETOWN)
MAX_TXT_BYTES = 4096  # larger than any real record; anything bigger is ignored


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


def _host_key(name: str) -> str | None:
    """`Robot1.local.` -> `robot1.local`; None for a name that is not a host name (a
    comma, a newline, a range, an escape sequence...): such a record is never listed."""
    name = name.rstrip(".").lower()
    name = name if name.endswith(".local") else f"{name}.local"
    problem = host_problem(name)
    if problem is not None:
        log.debug("skipping a record naming host %s: %s", shown(name), problem)
        return None
    return name


def parse_duckietown_name(name: str) -> tuple[str, str] | None:
    """`DT::ROBOT_TYPE::robot01._duckietown._tcp.local.` -> ("ROBOT_TYPE", "robot01")."""
    instance = name[: -len(DUCKIETOWN) - 1] if name.endswith("." + DUCKIETOWN) else name
    parts = instance.split("::")
    if len(parts) != 3 or parts[0] != "DT" or not parts[1] or not parts[2]:
        log.debug("odd Duckietown service name %r: expected DT::<KEY>::<hostname>", name)
        return None
    return parts[1], parts[2]


def parse_duckietown_txt(properties: Mapping[bytes, bytes | None], name: str) -> dict[str, Any]:
    """The TXT record is one JSON string; zeroconf shows it as a key without a value."""
    for key, value in properties.items():
        raw = key if value is None else key + b"=" + value
        if not raw:
            continue
        if len(raw) > MAX_TXT_BYTES:
            log.debug("ignoring a %d-byte TXT record on %r", len(raw), name)
            continue
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):  # [[[[... within 4 KiB
            log.debug("TXT record of %r is not JSON: %r", name, raw[:80])
            continue
        if isinstance(data, dict):
            return data
        log.debug("TXT record of %r is JSON but not an object: %r", name, raw[:80])
    return {}


def merge(records: Iterable[ServiceRecord]) -> list[Robot]:
    """One robot per host name, sorted by name; everything seen about it in one row."""
    robots: dict[str, Robot] = {}
    for record in records:
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
            if address not in robot.addresses and is_ip_address(address):
                robot.addresses.append(address)
        if record.type not in robot.services:
            robot.services.append(record.type)
        if record.type == SSH and record.port:
            robot.ssh_port = record.port
        if record.type == DUCKIETOWN:
            robot.duckietown.setdefault("keys", [])
            if dt:
                key = dt[0]
                if key not in robot.duckietown["keys"]:
                    robot.duckietown["keys"].append(key)
                for field_name, value in parse_duckietown_txt(
                    record.properties, record.name
                ).items():
                    if field_name in ("type", "configuration", "hardware"):
                        robot.duckietown[field_name] = value
    for robot in robots.values():
        robot.addresses.sort(key=lambda a: (":" in a, a))
        robot.services.sort()
    return [robots[name] for name in sorted(robots)]


def filter_type(robots: list[Robot], wanted: str | None) -> list[Robot]:
    """`--type duckiebot` keeps robots whose Duckietown type matches; `--type ssh` those
    with SSH announced; no type keeps all."""
    if not wanted:
        return robots
    if wanted == "ssh":
        return [r for r in robots if SSH in r.services]
    return [r for r in robots if r.duckietown.get("type") == wanted]
