"""Batch runs, side by side on one lab of N native robots (default 16):
- cold: robots without the lab inventory's images or credential; `fleet apply` against
  what a user does today by hand, `fleet login` then one `fleet pull` per image;
- up to date: `fleet apply` right after a successful one (gathers, plans, does nothing);
- `fleet status` (read-only: one digest lookup per image and platform).
Each is repeated --reps times; medians of wall time, and this machine's CPU seconds.
Run as root: .venv/bin/python benchmarks/apply_bench.py [--robots 16] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import FLEET, client_env, lab_up, median, timed  # noqa: E402
from fleet.lab.paths import LabPaths  # noqa: E402


def reset_robots(addresses: list[str], images: list[str], env: dict) -> None:
    """Robots as before any run: without the declared images and without a credential."""
    script = "docker rmi -f " + " ".join(images) + " >/dev/null 2>&1; rm -f ~/.docker/config.json"
    procs = [
        subprocess.Popen(["ssh", f"root@{a}", script], env=env, stdout=subprocess.DEVNULL)
        for a in addresses
    ]
    for proc in procs:
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--robots", type=int, default=16)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    status = lab_up("--robots", str(args.robots))
    paths = LabPaths.from_env()
    accounts = json.loads(paths.credentials.read_text())
    work = Path(tempfile.mkdtemp(prefix="fleet-apply-bench-"))
    addresses = [r["address"] for r in status["robots"]]
    names = [f"{r['name']}.local" for r in status["robots"]]
    env = client_env(work, paths, accounts, addresses, names)
    full_env = {**os.environ, **env}
    common = [
        "-i", str(paths.inventory), "--known-hosts", str(work / "known_hosts"),
        "--ca-cert", str(paths.ca_cert), "-f", str(args.robots),
    ]  # fmt: skip
    # What the lab's inventory declares (fleet/lab/inventory.py); by hand, a user pulls the
    # per-arch tag these native robots need, where fleet fills in `{arch}` per robot.
    registry = status["registry"]
    images = [f"{registry}/duckietown/dt-core:daffy-amd64", f"{registry}/duckietown/dt-core:daffy"]
    login = [*FLEET, "login", accounts["registry"], "-u", "robot", "--password-stdin", *common]
    password = accounts["accounts"]["robot"]

    rows: dict[str, list] = {"apply cold": [], "login + pull per image": [], "apply again": []}
    rows["status"] = []
    for _ in range(args.reps):
        reset_robots(addresses, images, full_env)
        by_hand = [
            timed(f"echo {password} | {' '.join(login)}", env=env, shell=True),
            *(timed([*FLEET, "pull", image, *common], env=env) for image in images),
        ]
        rows["login + pull per image"].append(by_hand)
        reset_robots(addresses, images, full_env)
        rows["apply cold"].append([timed([*FLEET, "apply", *common], env=env)])
        rows["apply again"].append([timed([*FLEET, "apply", *common], env=env)])
        rows["status"].append([timed([*FLEET, "status", *common], env=env)])

    print(f"robots: {args.robots}, repetitions: {args.reps}, images declared: {len(images)}")
    cold = median([sum(t.seconds for t in run) for run in rows["apply cold"]])
    for name, runs in rows.items():
        seconds = median([sum(t.seconds for t in run) for run in runs])
        cpu = median([sum(t.cpu for t in run) for run in runs])
        codes = sorted({t.returncode for run in runs for t in run})
        print(
            f"{name:>24}: {seconds:7.1f} s wall (x{seconds / cold:.2f} of apply cold), "
            f"{cpu:6.1f} s CPU, exit codes {codes}"
        )


if __name__ == "__main__":
    main()
