"""Running arm robots' binaries on this machine: qemu-user through binfmt_misc."""

from __future__ import annotations

import subprocess
from pathlib import Path

from fleet.lab.sh import LabError, run

BINFMT = Path("/proc/sys/fs/binfmt_misc")
# Debian architecture -> the qemu-user handler that runs its binaries.
EMULATORS = {"arm64": "qemu-aarch64", "armhf": "qemu-arm"}


def host_debian_arch() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


def emulators_needed(debian_arches: set[str], host_arch: str) -> list[str]:
    """The qemu handlers that the given architectures need on a host of `host_arch`."""
    foreign = sorted(a for a in debian_arches if a != host_arch)
    unknown = [a for a in foreign if a not in EMULATORS]
    if unknown:
        raise LabError(f"no emulator known for {', '.join(unknown)} on a {host_arch} host")
    return [EMULATORS[a] for a in foreign]


def handler_state(text: str) -> tuple[bool, str]:
    """(enabled, flags) from a /proc/sys/fs/binfmt_misc/NAME file."""
    lines = text.splitlines()
    enabled = bool(lines) and lines[0].strip() == "enabled"
    flags = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("flags:")), "")
    return enabled, flags


def ensure_emulators(handlers: list[str]) -> None:
    """Mount binfmt_misc if needed and enable each handler, with the F flag that lets a
    chroot run foreign binaries without a copy of qemu inside it."""
    if not handlers:
        return
    hint = (
        "arm robots need qemu-user through binfmt_misc; "
        "install qemu-user-static and binfmt-support, and run where the kernel allows "
        "binfmt_misc (not in an unprivileged container)"
    )
    if not (BINFMT / "status").exists():
        done = run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=False)
        if done.returncode != 0:
            raise LabError(f"cannot mount binfmt_misc ({done.stderr.decode().strip()}): {hint}")
    for handler in handlers:
        entry = BINFMT / handler
        if not entry.exists() or not handler_state(entry.read_text())[0]:
            run(["update-binfmts", "--enable", handler], check=False)
        if not entry.exists():
            raise LabError(f"binfmt handler {handler} is not registered: {hint}")
        enabled, flags = handler_state(entry.read_text())
        if not enabled:
            raise LabError(f"binfmt handler {handler} could not be enabled: {hint}")
        if "F" not in flags:
            raise LabError(
                f"binfmt handler {handler} lacks the F flag, so robots cannot run it from "
                "their own root filesystem; use Debian's qemu-user-static, which sets it"
            )
