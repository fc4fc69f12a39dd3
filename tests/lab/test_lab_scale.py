"""A lab of 100 robots: what a 20-robot lab hid (discovery losing robots at its default
timeout), facts from all of them at once, and Ctrl-C / SIGTERM in the middle of a
16-robot pull. These tests share one big lab and take it down when they finish; the next
test that needs the standard lab brings that back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fleet.lab.spec import BRIDGE
from tests.lab.conftest import fleet, pull_results

ROBOTS = 100
LINK = "50mbit"  # classroom WiFi: a 50 MB pull takes ~8 s, time to interrupt it
RESULTS_FILE = "scale-figures.json"  # what the run measured, for the closing note


@pytest.fixture(scope="module")
def big_lab(lab_paths, tmp_path_factory):
    up = ["lab", "up", "--robots", str(ROBOTS), "--link-rate", LINK]
    done = fleet(*up, check=False, timeout=1800)
    if done.returncode != 0 and "different lab is already up" in done.stderr:
        fleet("lab", "down", timeout=600)
        done = fleet(*up, check=False, timeout=1800)
    assert done.returncode == 0, done.stderr
    status = json.loads(fleet("lab", "status", "--json").stdout)
    assert status["healthy"], [r for r in status["robots"] if not r.get("healthy", True)]
    workdir = tmp_path_factory.mktemp("big-lab")
    yield status, workdir
    fleet("lab", "down", timeout=900)


def _record(workdir, **figures) -> None:
    path = workdir / RESULTS_FILE
    known = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**known, **figures}, indent=2))
    print(json.dumps(figures))


def test_discover_lists_all_100_robots_in_every_trial(big_lab):
    status, workdir = big_lab
    expected = {f"{r['name']}.local" for r in status["robots"]}
    counts, seconds = [], []
    for _ in range(20):
        start = time.monotonic()
        done = fleet("discover", "--json", "--interface", BRIDGE, timeout=120)
        seconds.append(time.monotonic() - start)
        found = {json.loads(line)["hostname"] for line in done.stdout.splitlines() if line}
        counts.append(len(found & expected))
    _record(workdir, discover_counts=counts, discover_seconds=sorted(seconds))
    assert counts == [ROBOTS] * 20, counts


def test_facts_from_100_robots_50_at_a_time(big_lab, lab_paths):
    status, workdir = big_lab
    start = time.monotonic()
    done = fleet(
        "facts", "-i", str(lab_paths.inventory), "-f", "50", "--json", "--accept-new",
        "--known-hosts", str(workdir / "kh"), timeout=600,
    )  # fmt: skip
    seconds = time.monotonic() - start
    results = pull_results(done.stdout)
    _record(workdir, facts_seconds=round(seconds, 1), facts_ok=len(results))
    assert len(results) == ROBOTS
    assert {r["status"] for r in results.values()} == {"ok"}


def _login_and_pull_command(status, lab_paths, workdir, hosts):
    env = {**os.environ, "FLEET_CREDENTIALS": str(workdir / "store.json")}
    accounts = json.loads(lab_paths.credentials.read_text())
    registry = status["registry"]
    login = subprocess.run(
        [sys.executable, "-m", "fleet", "login", registry, "--username", "robot",
         "--password-stdin", "--ca-cert", str(lab_paths.ca_cert)],
        input=accounts["accounts"]["robot"], capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    command = [
        sys.executable, "-m", "fleet", "pull", f"{registry}/demo/payload:v1",
        "-i", str(lab_paths.inventory), "-l", ",".join(hosts), "-f", "16", "--json",
        "--accept-new", "--known-hosts", str(workdir / "kh"), "--ca-cert", str(lab_paths.ca_cert),
        "--retry-file", str(workdir / "interrupted.retry"),
    ]  # fmt: skip
    return command, env


def _on_robot(lab_paths, address: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh", "-i", str(lab_paths.lab_key), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
         f"root@{address}", command],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    "first,second", [(signal.SIGINT, signal.SIGTERM), (signal.SIGTERM, signal.SIGINT)]
)
def test_two_signals_during_a_16_robot_pull_stop_it_within_5_s(big_lab, lab_paths, first, second):
    status, workdir = big_lab
    robots = status["robots"][:16]
    hosts = [f"{r['name']}.local" for r in robots]
    image = f"{status['registry']}/demo/payload:v1"
    for robot in robots:
        _on_robot(lab_paths, robot["address"], f"docker rmi -f {image}")
    command, env = _login_and_pull_command(status, lab_paths, workdir, hosts)
    retry = workdir / "interrupted.retry"
    retry.unlink(missing_ok=True)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    moving: set[str] = set()
    lines = []
    for line in proc.stdout:
        lines.append(line)
        event = json.loads(line)
        if event["event"] == "progress" and event.get("bytes_done", 0) > 1_000_000:
            moving.add(event["host"])
        if len(moving) >= 4:
            break
    assert len(moving) >= 4, "the pulls never got going"
    proc.send_signal(first)
    time.sleep(1)
    proc.send_signal(second)
    sent = time.monotonic()
    rest, _ = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    assert proc.returncode == 130
    assert took < 5, f"exited {took:.1f} s after the second signal"
    records = [json.loads(x) for x in "".join(lines + [rest]).splitlines() if x.startswith("{")]
    assert any(r["event"] == "recap" for r in records), "no recap"
    results = {r["host"]: r for r in records if r["event"] == "result"}
    unfinished = {h for h in hosts if results.get(h, {}).get("status") not in ("ok", "changed")}
    assert unfinished, "every pull finished before the signals: nothing was interrupted"
    assert set(retry.read_text().split()) >= unfinished
    # No robot is left with a half-tagged image: the name is absent, or names an image whose
    # every layer is there (docker save reads them all).
    for robot in robots:
        held = _on_robot(lab_paths, robot["address"], f"docker image inspect {image}")
        if held.returncode == 0:
            whole = _on_robot(lab_paths, robot["address"], f"docker save {image} > /dev/null")
            assert whole.returncode == 0, (robot["name"], whole.stderr)
