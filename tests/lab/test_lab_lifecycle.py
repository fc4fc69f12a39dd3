"""`down` removes everything, twice in a row, and after an `up` that was killed halfway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from fleet.lab import network, rootfs
from tests.lab.conftest import LAB_UP_ARGS, fleet, leftovers


def test_a_second_up_reuses_the_cached_root_filesystems(lab, lab_paths):
    trees = [p for p in (lab_paths.cache / "rootfs").iterdir() if not p.name.endswith(".partial")]
    built = {tree.name: (tree / rootfs.MARKER).stat().st_mtime_ns for tree in trees}
    assert {"amd64", "jetson-nano", "raspberrypi3", "raspberrypi4-32"} <= set(built)
    fleet("lab", "down")
    done = fleet(*LAB_UP_ARGS)
    assert "debootstrap" not in done.stderr
    assert {t.name: (t / rootfs.MARKER).stat().st_mtime_ns for t in trees} == built


def test_down_after_a_killed_up_leaves_nothing_and_can_run_twice(lab_paths, _lab_session):
    fleet("lab", "down")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleet", "lab", "up", "--robots", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        # Kill it once the first robot exists: namespaces, mounts and daemons half made.
        while "fleetlab-robot01" not in network.lab_namespaces():
            assert proc.poll() is None, "fleet lab up ended before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert leftovers(lab_paths), "the interrupted up should have left something to clean"
    fleet("lab", "down")
    assert leftovers(lab_paths) == []
    second = fleet("lab", "down")
    assert "no lab" in second.stderr
    assert leftovers(lab_paths) == []
