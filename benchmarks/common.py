"""Helpers the benchmarks share: the lab, timing a command, medians."""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fleet.lab.paths import LabPaths  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FLEET = [sys.executable, "-m", "fleet"]


def fleet(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*FLEET, *args], capture_output=True, text=True, check=True, **kwargs)


def lab_up(*args: str) -> dict:
    done = subprocess.run([*FLEET, "lab", "up", *args], capture_output=True, text=True)
    if done.returncode != 0 and "different lab" in done.stderr:
        fleet("lab", "down")
        done = subprocess.run([*FLEET, "lab", "up", *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(done.stderr)
    return json.loads(fleet("lab", "status", "--json").stdout)


@dataclass
class Timed:
    seconds: float
    cpu: float  # user + system of the command and its children
    max_rss_mb: float  # the largest child's peak
    returncode: int
    stdout: str


def timed(command: list[str] | str, env: dict | None = None, shell: bool = False) -> Timed:
    """Wall time, CPU seconds and peak memory of one command (run as a child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run(
        command, shell=shell, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timed(seconds, cpu, after.ru_maxrss / 1024, done.returncode, done.stdout)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def client_env(
    work: Path, paths: LabPaths, accounts: dict, addresses: list[str], names: list[str]
) -> dict:
    """docker CLI and fleet both use the lab key, our known_hosts and the robot account."""
    bin_dir = work / "bin"
    bin_dir.mkdir()
    known = work / "known_hosts"
    (bin_dir / "ssh").write_text(
        f"#!/bin/sh\nexec {shutil.which('ssh')} -i {paths.lab_key} -o UserKnownHostsFile={known} "
        '-o StrictHostKeyChecking=accept-new -o BatchMode=yes "$@"\n'
    )
    (bin_dir / "ssh").chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "DOCKER_CONFIG": str(work / "docker"),
        "FLEET_CREDENTIALS": str(work / "store.json"),
    }
    prime_known_hosts(addresses, names, paths.inventory, known, env)
    password = accounts["accounts"]["robot"]
    # No Docker daemon runs on this machine: a robot's daemon checks the login, and the
    # client keeps it in DOCKER_CONFIG and sends it with every pull, as fleet does.
    login = ["docker", "-H", f"ssh://root@{addresses[0]}", "login", "-u", "robot"]
    subprocess.run(
        [*login, "--password-stdin", accounts["registry"]],
        input=password,
        text=True,
        capture_output=True,
        env={**os.environ, **env},
        check=True,
    )
    subprocess.run(
        [
            *FLEET,
            "login",
            accounts["registry"],
            "-u",
            "robot",
            "--password-stdin",
            "--ca-cert",
            str(paths.ca_cert),
        ],
        input=password,
        text=True,
        capture_output=True,
        env={**os.environ, **env},
        check=True,
    )
    return env


def prime_known_hosts(addresses, names, inventory, known, env) -> None:
    for address in addresses:
        subprocess.run(
            ["ssh", f"root@{address}", "true"],
            env={**os.environ, **env},
            capture_output=True,
            check=True,
        )
    subprocess.run(
        [
            *FLEET,
            "facts",
            "-i",
            str(inventory),
            "--known-hosts",
            str(known),
            "--accept-new",
            "-f",
            "20",
        ],
        capture_output=True,
        env={**os.environ, **env},
    )
