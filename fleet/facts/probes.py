"""Each fact is a command plus a pure parser; all of a robot's facts come from one script,
run in one SSH round trip, whose output is cut back into one piece per fact."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Probe:
    name: str
    command: str
    parse: Callable[[str], Any]


def parse_model(output: str) -> str | None:
    """The device-tree model ends in NUL; DMI gives vendor and product on PCs."""
    text = " ".join(output.replace("\0", " ").split())
    return text or None


def parse_os_release(output: str) -> str | None:
    values = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip('"').strip("'")
    return values.get("PRETTY_NAME") or values.get("NAME")


def parse_first_line(output: str) -> str | None:
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    return lines[0] if lines else None


def parse_userland(output: str) -> dict[str, Any]:
    """`dpkg --print-architecture` then `getconf LONG_BIT`, one a line (either may be absent)."""
    result: dict[str, Any] = {"dpkg": None, "long_bit": None}
    for line in (ln.strip() for ln in output.splitlines()):
        if line.isdigit():
            result["long_bit"] = int(line)
        elif re.fullmatch(r"[a-z0-9]+", line):
            result["dpkg"] = line
    return result


def parse_docker_version(output: str) -> dict[str, Any]:
    """`docker version --format '{{json .}}'`: the server part, or why there is none."""
    start = output.find("{")
    try:
        data = json.loads(output[start:]) if start >= 0 else None
    except ValueError:
        data = None
    server = (data or {}).get("Server") or None
    if not server:
        error = " ".join(output[: start if start >= 0 else None].split()) or "no answer"
        return {"error": error[:300]}
    return {
        "version": server.get("Version"),
        "os": server.get("Os"),
        "arch": server.get("Arch"),
        "api_version": server.get("ApiVersion"),
    }


def parse_df(output: str) -> dict[str, Any] | None:
    """`df -Pk DIR`: free bytes on the filesystem holding Docker's data root."""
    lines = [ln for ln in output.splitlines() if ln.strip()]
    root = next((ln[len("root=") :] for ln in lines if ln.startswith("root=")), None)
    for line in lines:
        fields = line.split()
        if len(fields) >= 6 and fields[3].isdigit():
            return {"data_root": root, "free_bytes": int(fields[3]) * 1024, "mount": fields[5]}
    return None


_MODEL = (
    "cat /sys/firmware/devicetree/base/model 2>/dev/null"
    " || cat /proc/device-tree/model 2>/dev/null"
    ' || echo "$(cat /sys/class/dmi/id/sys_vendor 2>/dev/null)'
    ' $(cat /sys/class/dmi/id/product_name 2>/dev/null)"'
)
_DOCKER_ROOT = (
    "root=$(docker info --format '{{.DockerRootDir}}' 2>/dev/null); "
    'root=${root:-/var/lib/docker}; echo "root=$root"; df -Pk "$root"'
)

PROBES: tuple[Probe, ...] = (
    Probe("model", _MODEL, parse_model),
    Probe("os", "cat /etc/os-release", parse_os_release),
    Probe("kernel_arch", "uname -m", parse_first_line),
    Probe("userland", "dpkg --print-architecture; getconf LONG_BIT", parse_userland),
    Probe("docker", "docker version --format '{{json .}}'", parse_docker_version),
    Probe("docker_disk", _DOCKER_ROOT, parse_df),
)

_MARK = "@@fleet-fact"


def script(probes: tuple[Probe, ...] = PROBES) -> str:
    """One shell script that runs every probe and marks where each one's output starts."""
    parts = [f"printf '\\n{_MARK} %s\\n' {p.name}; ( {p.command} ) 2>&1" for p in probes]
    return "; ".join(parts) + "; true"


def split_output(output: str) -> dict[str, str]:
    pieces: dict[str, str] = {}
    for chunk in output.split(f"\n{_MARK} ")[1:]:
        name, _, body = chunk.partition("\n")
        pieces[name.strip()] = body
    return pieces


def parse_all(output: str, probes: tuple[Probe, ...] = PROBES) -> dict[str, Any]:
    pieces = split_output(output)
    return {p.name: p.parse(pieces[p.name]) if p.name in pieces else None for p in probes}
