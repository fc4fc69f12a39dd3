"""Root filesystems for lab robots: built once per profile with debootstrap, then cached.

A robot never writes to the cache: it boots an overlay whose lower layer is the cached tree.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from fleet.lab.paths import LabPaths
from fleet.lab.sh import LabError, run
from fleet.lab.spec import Profile

SUITE = "bookworm"
# Bump when what a built tree must contain changes, so old caches are rebuilt.
ROOTFS_VERSION = 1
MARKER = ".fleet-lab-rootfs.json"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def is_complete(tree: Path, profile: Profile) -> bool:
    try:
        marker = json.loads((tree / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("version") == ROOTFS_VERSION and marker.get("profile") == profile.name


def ensure_rootfs(
    paths: LabPaths, profile: Profile, progress: Callable[[str], None] = lambda _: None
) -> Path:
    """Return the cached tree for `profile`, building it first if missing or half-built."""
    tree = paths.rootfs(profile.name)
    if is_complete(tree, profile):
        return tree
    partial = tree.with_name(tree.name + ".partial")
    for stale in (partial, tree):
        if stale.exists():
            shutil.rmtree(stale)
    partial.parent.mkdir(parents=True, exist_ok=True)
    log_file = paths.cache / f"debootstrap-{profile.name}.log"
    progress(f"building the {profile.name} root filesystem (debootstrap; once, then cached)")
    started = time.monotonic()
    _debootstrap(profile, partial, log_file)
    if profile.docker_arch:
        progress(f"installing the {profile.docker_arch} Docker Engine into {profile.name}")
        _install_foreign_docker(profile, partial, log_file)
    _strip_identity(partial)
    (partial / MARKER).write_text(
        json.dumps(
            {
                "profile": profile.name,
                "version": ROOTFS_VERSION,
                "seconds": round(time.monotonic() - started, 1),
            }
        )
    )
    partial.rename(tree)
    return tree


def _build_step(profile: Profile, step: str, args: list[str], log_file: Path) -> None:
    """Run one build step, append its output to the log, and on failure say which step
    failed and how to retry."""
    retry = "Rerun `fleet lab up` to retry; the half-built tree is discarded."
    try:
        done = run(args, check=False, timeout=1800)
    except LabError as exc:
        raise LabError(
            f"building the {profile.name} root filesystem failed at {step}: {exc}. {retry}"
        ) from None
    with open(log_file, "ab") as log:
        log.write(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()[-3:]
        raise LabError(
            f"building the {profile.name} root filesystem failed at {step} "
            f"(exit {done.returncode}): {' | '.join(tail)}. Full log: {log_file}. {retry}"
        )


def _debootstrap(profile: Profile, target: Path, log_file: Path) -> None:
    mirror = os.environ.get("FLEET_LAB_MIRROR", DEFAULT_MIRROR)
    args = [
        "debootstrap",
        f"--arch={profile.debootstrap_arch}",
        "--variant=minbase",
        f"--include={','.join(profile.packages)}",
        SUITE,
        str(target),
        mirror,
    ]
    log_file.unlink(missing_ok=True)
    _build_step(profile, "debootstrap", args, log_file)


def _install_foreign_docker(profile: Profile, tree: Path, log_file: Path) -> None:
    """Add the Docker Engine of another architecture with dpkg multiarch (in the tree's
    own apt, run under emulation, in a private mount namespace that vanishes with it)."""
    arch = profile.docker_arch
    inside = (
        "set -e; export DEBIAN_FRONTEND=noninteractive; "
        f"dpkg --add-architecture {arch}; apt-get update -q; "
        f"apt-get install -y -q --no-install-recommends docker.io:{arch}; apt-get clean"
    )
    script = (
        'set -e; mount -t proc proc "$1/proc"; cp /etc/resolv.conf "$1/etc/resolv.conf"; '
        'chroot "$1" sh -c "$2"'
    )
    args = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
    _build_step(profile, f"installing docker.io:{arch}", [*args, str(tree), inside], log_file)


def _strip_identity(tree: Path) -> None:
    """Remove what must differ per robot, so no two robots share a host key or a hostname."""
    for key in (tree / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    for name in ("etc/hostname", "etc/resolv.conf", "etc/machine-id"):
        (tree / name).unlink(missing_ok=True)
    # debootstrap leaves the downloaded packages behind; the robots never need them.
    for deb in (tree / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
