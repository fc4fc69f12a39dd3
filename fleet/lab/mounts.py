"""Finding and removing the mounts the lab left on the host."""

from __future__ import annotations

import re
from pathlib import Path

from fleet.lab.sh import run

_OCTAL = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def mounts_under(mountinfo: str, prefix: Path) -> list[str]:
    """Mount points at or below `prefix`, deepest first (the order to unmount them in)."""
    base = str(prefix).rstrip("/")
    found = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        point = _unescape(fields[4])
        if point == base or point.startswith(base + "/"):
            found.append(point)
    # Later mounts can sit on earlier ones; unmount in reverse mount order, deepest first.
    return sorted(reversed(found), key=lambda p: p.count("/"), reverse=True)


def unmount_all_under(prefix: Path) -> list[str]:
    """Unmount everything at or below `prefix`; return what was unmounted."""
    done: list[str] = []
    # A mount can hide another at the same point; repeat until nothing is left.
    for _ in range(10):
        points = mounts_under(Path("/proc/self/mountinfo").read_text(), prefix)
        if not points:
            break
        for point in points:
            if run(["umount", point], check=False).returncode != 0:
                run(["umount", "-l", point], check=False)
            done.append(point)
    return done
