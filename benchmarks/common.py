"""Helpers the benchmarks share: the lab, timing a command, medians."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

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
