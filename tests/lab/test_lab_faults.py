"""The fault matrix on the standard lab: a robot's disk filling, its link or its sshd going
away mid-pull, fleet killed mid-apply, two runs writing one robot at once. In every case
the faulty robot ends with a reason, the others finish, and nothing is lost."""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleet.lab import lifecycle, network
from fleet.lab.robot import RobotDirs
from tests.lab.conftest import fleet, pull_results
from tests.lab.test_lab_apply import inventory_for

PAYLOAD = "demo/payload:v1"  # ~50 MB in 5 layers, incompressible


def _robot(lab, name):
    return next(r for r in lab.robots if r["name"] == name)


def _remove(lab, names, image):
    """Remove `image` from each robot with every other name for its content (the cache
    tests pull the same payload as CACHE/demo/payload): otherwise its layers stay and the
    next pull moves no bytes."""
    path = image.split("/", 1)[1].rsplit(":", 1)[0]  # demo/payload
    for name in names:
        address = _robot(lab, name)["address"]
        listed = lab.docker(address, "image", "ls", "--format", "{{.ID}} {{.Repository}}")
        ids = {
            image_id
            for image_id, repository in (line.split() for line in listed.stdout.splitlines())
            if repository == path or repository.endswith("/" + path)
        }
        if ids:
            lab.docker(address, "rmi", "-f", *sorted(ids))


def _unshape(robot) -> None:
    subprocess.run(["tc", "qdisc", "del", "dev", robot.veth, "root"], check=False)
    subprocess.run(
        ["ip", "netns", "exec", robot.netns, "tc", "qdisc", "del", "dev", "eth0", "root"],
        check=False,
    )


def _wait_for_bytes(proc, host: str, enough: int, timeout: float = 120) -> list[str]:
    """Read the run's JSON events until `host` has moved `enough` bytes; the lines read."""
    deadline = time.monotonic() + timeout
    seen = []
    for line in proc.stdout:
        seen.append(line)
        event = json.loads(line)
        if (
            event["event"] == "progress"
            and event.get("host") == host
            and event.get("bytes_done", 0) > enough
        ):
            return seen
        assert time.monotonic() < deadline, "the pull never got going"
    raise AssertionError(f"the run ended before {host} moved {enough} bytes: {seen[-3:]}")


def _in_robot_mounts(lab, name: str, script: str) -> None:
    """A shell script in the robot's mount namespace (its root at ROOT), run from the host."""
    dirs = RobotDirs(lab.paths, lifecycle.lab_robot(lab.paths, name))
    subprocess.run(
        ["nsenter", f"--mount={dirs.mount_ns}", "sh", "-c", script],
        env={**os.environ, "ROOT": str(dirs.root)},
        check=True,
        timeout=120,
    )


def test_a_data_root_filling_mid_pull_fails_that_robot_and_keeps_its_old_images(lab, puller):
    # robot03 gets a small data root of its own (a tmpfs over /var/lib/docker), holding one
    # older image; mid-pull, something else on the robot takes all the space that is left.
    old = f"{lab.registry}/duckietown/dt-core:daffy-amd64"
    robot = lifecycle.lab_robot(lab.paths, "robot03")
    _remove(lab, ["robot02"], f"{lab.registry}/{PAYLOAD}")
    fleet("lab", "stop", "robot03", "dockerd")
    _in_robot_mounts(lab, "robot03", 'mount -t tmpfs -o size=400m tmpfs "$ROOT/var/lib/docker"')
    try:
        fleet("lab", "start", "robot03", "dockerd")
        done, results = puller("duckietown/dt-core:daffy-amd64", "-l", "robot03.local")
        assert results["robot03.local"]["status"] == "changed", done.stderr
        before = lab.docker(_robot(lab, "robot03")["address"], "image", "inspect", old).stdout
        network.shape_link(robot, "16mbit")  # 50 MB takes ~25 s: time to fill the disk
        proc = puller(PAYLOAD, "-l", "robot02.local,robot03.local", background=True)
        seen = _wait_for_bytes(proc, "robot03.local", 5_000_000)
        _in_robot_mounts(
            lab, "robot03", 'fallocate -l "$(df --output=avail -B1 "$ROOT/var/lib/docker" | '
            'tail -1)" "$ROOT/var/lib/docker/filler" || true',
        )  # fmt: skip
        rest = proc.stdout.read()
        assert proc.wait(timeout=600) == 2
        results = pull_results("".join(seen) + rest)
        assert results["robot03.local"]["status"] == "failed"
        assert "no space left" in results["robot03.local"]["reason"].lower()
        assert results["robot02.local"]["status"] == "changed"
        after = lab.docker(_robot(lab, "robot03")["address"], "image", "inspect", old).stdout
        assert json.loads(after)[0]["Id"] == json.loads(before)[0]["Id"]
    finally:
        _unshape(robot)
        fleet("lab", "stop", "robot03", "dockerd")
        _in_robot_mounts(lab, "robot03", 'umount "$ROOT/var/lib/docker"')
        fleet("lab", "start", "robot03", "dockerd")


def test_a_link_going_down_mid_pull_ends_that_robot_within_its_timeout(lab, puller):
    robot = lifecycle.lab_robot(lab.paths, "robot03")
    _remove(lab, ["robot02", "robot03"], f"{lab.registry}/{PAYLOAD}")
    network.shape_link(robot, "16mbit")
    try:
        proc = puller(
            PAYLOAD, "-l", "robot02.local,robot03.local", "--timeout", "60", background=True
        )
        seen = _wait_for_bytes(proc, "robot03.local", 5_000_000)
        cut = time.monotonic()
        subprocess.run(["ip", "link", "set", robot.veth, "down"], check=True)
        rest = proc.stdout.read()
        assert proc.wait(timeout=300) in (2, 4, 6)
        # The robot's whole budget is 60 s from its start; it ends within it, not hanging on.
        assert time.monotonic() - cut < 90
        results = pull_results("".join(seen) + rest)
        assert results["robot03.local"]["status"] in ("failed", "unreachable")
        assert results["robot03.local"]["reason"]
        assert results["robot02.local"]["status"] == "changed"
    finally:
        subprocess.run(["ip", "link", "set", robot.veth, "up"], check=True)
        _unshape(robot)
    # Back on the link, the robot pulls as if nothing had happened.
    done, results = puller(PAYLOAD, "-l", "robot03.local")
    assert results["robot03.local"]["status"] == "changed", done.stderr


def _kill_sshd(lab, name: str) -> int:
    """SIGKILL every sshd of one robot (the listener and each session), from the host."""
    root = os.path.realpath(RobotDirs(lab.paths, lifecycle.lab_robot(lab.paths, name)).root)
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "sshd":
                continue
            if os.readlink(entry / "root") != root:
                continue
            os.kill(int(entry.name), signal.SIGKILL)
            killed += 1
        except (OSError, ValueError):
            continue
    return killed


def test_sshd_killed_mid_pull_makes_that_robot_unreachable(lab, puller):
    robot = lifecycle.lab_robot(lab.paths, "robot03")
    _remove(lab, ["robot02", "robot03"], f"{lab.registry}/{PAYLOAD}")
    network.shape_link(robot, "16mbit")
    try:
        proc = puller(PAYLOAD, "-l", "robot02.local,robot03.local", background=True)
        seen = _wait_for_bytes(proc, "robot03.local", 5_000_000)
        assert _kill_sshd(lab, "robot03") >= 2  # the listener and fleet's session
        rest = proc.stdout.read()
        code = proc.wait(timeout=300)
        results = pull_results("".join(seen) + rest)
        assert results["robot03.local"]["status"] == "unreachable", results["robot03.local"]
        assert results["robot02.local"]["status"] == "changed"
        assert code == 4
    finally:
        _unshape(robot)
        fleet("lab", "start", "robot03", "sshd")


def _inventory_holding(lab, path: Path, names: list[str], account: str) -> Path:
    """The apply tests' inventory, where `names` hold `account` and no image."""
    wanted = {"fleet_registries": {lab.registry: account}, "fleet_images": []}
    return inventory_for(lab, path, overrides={name: wanted for name in names})


def _held_accounts(lab, name: str) -> dict[str, str]:
    """registry -> user name, from the robot's config.json (a broken file fails here)."""
    text = lab.ssh(_robot(lab, name)["address"], "cat /root/.docker/config.json").stdout
    auths = json.loads(text).get("auths", {})
    return {
        registry: base64.b64decode(entry["auth"]).decode().split(":", 1)[0]
        for registry, entry in auths.items()
    }


@pytest.fixture
def two_accounts(lab, tmp_path):
    """A store holding both lab registry accounts, and a run() of fleet against it."""
    env = {**os.environ, "FLEET_CREDENTIALS": str(tmp_path / "store.json")}
    for user in ("robot", "publisher"):
        done = subprocess.run(
            [sys.executable, "-m", "fleet", *lab.login_args(user)],
            input=lab.accounts["accounts"][user],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
    return env


def test_sigkill_during_apply_leaves_every_config_old_or_new(lab, two_accounts, tmp_path):
    names = ["robot02", "robot03"]
    inventories = {
        user: _inventory_holding(lab, tmp_path / f"{user}.yaml", names, user)
        for user in ("robot", "publisher")
    }
    trust = ["--known-hosts", str(tmp_path / "kh"), "--accept-new"]
    first = subprocess.run(
        [sys.executable, "-m", "fleet", "apply", "-i", str(inventories["robot"]),
         "-l", ",".join(f"{n}.local" for n in names), *trust,
         "--ca-cert", str(lab.paths.ca_cert)],
        capture_output=True, text=True, env=two_accounts, timeout=600,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    rng = random.Random(20261123)
    changed_hands = 0
    for attempt in range(100):
        user = "publisher" if attempt % 2 == 0 else "robot"
        proc = subprocess.Popen(
            [sys.executable, "-m", "fleet", "apply", "-i", str(inventories[user]),
             "-l", ",".join(f"{n}.local" for n in names), *trust,
             "--ca-cert", str(lab.paths.ca_cert)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=two_accounts,
        )  # fmt: skip
        time.sleep(rng.uniform(0, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for name in names:
            held = _held_accounts(lab, name)
            assert held.get(lab.registry) in ("robot", "publisher"), (attempt, name, held)
            changed_hands += held[lab.registry] == user
        json.loads(Path(two_accounts["FLEET_CREDENTIALS"]).read_text())  # the store parses
    assert 0 < changed_hands < 200  # the kills landed on both sides of the write


def test_two_runs_writing_different_registries_to_one_robot_lose_neither(
    lab, two_accounts, tmp_path
):
    # The lab registry and the hub, each written by its own fleet run, at the same moment.
    hub = lab.status["hub"]
    robot = _robot(lab, "robot02")
    trust = ["--known-hosts", str(tmp_path / "kh"), "--accept-new"]
    for attempt in range(5):
        lab.ssh(robot["address"], "rm -f /root/.docker/config.json")
        runs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "fleet",
                    "login",
                    registry,
                    "--username",
                    "robot",
                    "--no-verify",
                    "--password-stdin",
                    "-l",
                    "robot02.local",
                    *trust,
                    "-i",
                    str(lab.paths.inventory),
                    "--ca-cert",
                    str(lab.paths.ca_cert),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=two_accounts,
            )  # fmt: skip
            for registry in (lab.registry, hub)
        ]
        outputs = [run.communicate(lab.accounts["accounts"]["robot"], timeout=120) for run in runs]
        for run, (_, err) in zip(runs, outputs, strict=True):
            assert run.returncode == 0, err
        held = _held_accounts(lab, "robot02")
        assert set(held) >= {lab.registry, hub}, (attempt, held)
