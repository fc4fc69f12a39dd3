"""`fleet pull` on the mixed lab: each robot its own variant, through its own daemon."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from fleet.lab import lifecycle, network
from tests.lab.conftest import PROBES, fleet, pull_results


def _remove(lab, robots, image):
    for robot in robots:
        lab.docker(robot["address"], "rmi", "-f", f"{lab.registry}/{image}", check=False)


def _images(lab, robot):
    return lab.docker(robot["address"], "images", "--all", "--quiet", "--no-trunc").stdout


def test_every_robot_gets_the_variant_it_can_run(lab, puller):
    _remove(lab, lab.robots, "duckietown/dt-core:daffy")
    done, results = puller("duckietown/dt-core:daffy")
    assert done.returncode == 0, done.stderr
    for robot in lab.robots:
        expected = PROBES[robot["profile"]]["pulled"]
        result = results[f"{robot['name']}.local"]
        assert result["status"] == "changed"
        assert result["data"]["platform"] == expected
        image = f"{lab.registry}/duckietown/dt-core:daffy"
        seen = (
            lab.docker(
                robot["address"],
                "image",
                "inspect",
                "--format",
                "{{.Os}}/{{.Architecture}}/{{.Variant}}",
                image,
            )
            .stdout.strip()
            .rstrip("/")
        )
        assert seen == expected, robot["name"]
        container = lab.docker(robot["address"], "create", image).stdout.strip()
        try:
            copied = lab.docker(robot["address"], "cp", f"{container}:/etc/fleet-demo-arch", "-")
            assert f"{expected}\n" in copied.stdout
        finally:
            lab.docker(robot["address"], "rm", container, check=False)
    pi4 = next(r for r in lab.robots if r["profile"] == "raspberrypi4-32")
    assert results[f"{pi4['name']}.local"]["data"]["variant"] == "arm32v7"


@pytest.mark.parametrize(
    ("image", "args"),
    [("duckietown/dt-core:daffy-{arch}", ()), ("duckietown/dt-core:daffy", ("--arch-suffix",))],
)
def test_arch_in_the_reference_and_arch_suffix_give_the_per_arch_tags(lab, puller, image, args):
    done, results = puller(image, *args, "-l", "robot01.local,robot04.local,robot06.local")
    assert done.returncode == 0, done.stderr
    expected = {"robot01.local": "amd64", "robot04.local": "arm64v8", "robot06.local": "arm32v7"}
    for host, variant in expected.items():
        assert results[host]["data"]["reference"] == (
            f"{lab.registry}/duckietown/dt-core:daffy-{variant}"
        )


def test_a_single_platform_image_of_another_arch_is_refused_before_any_layer(lab, puller):
    arm = [r for r in lab.robots if r["profile"] != "amd64"]
    _remove(lab, arm, "duckietown/dt-core:daffy-amd64")
    before = {r["name"]: _images(lab, r) for r in arm}
    limit = ",".join(f"{r['name']}.local" for r in arm)
    done, results = puller("duckietown/dt-core:daffy-amd64", "-l", limit)
    assert done.returncode == 2
    for robot in arm:
        reason = results[f"{robot['name']}.local"]["reason"]
        needs = PROBES[robot["profile"]]["pulled"].replace("linux/arm64/v8", "linux/arm64/v8")
        assert f"image is linux/amd64 only; robot needs {needs}" in reason
        assert "{arch}" in reason
        assert _images(lab, robot) == before[robot["name"]]


def test_a_second_identical_pull_is_ok_everywhere_and_fetches_no_layer(lab, puller):
    puller("duckietown/dt-core:daffy")
    fetched = lab.blob_fetches()
    done, results = puller("duckietown/dt-core:daffy")
    assert done.returncode == 0
    assert {r["status"] for r in results.values()} == {"ok"}
    assert lab.blob_fetches() == fetched
    check, results = puller("duckietown/dt-core:daffy", "--check")
    assert {r["status"] for r in results.values()} == {"ok"}, results


def test_check_says_what_would_be_pulled_and_changes_nothing(lab, puller):
    robot = lab.robots[4]
    _remove(lab, [robot], "demo/payload:v2")
    before = _images(lab, robot)
    done, results = puller("demo/payload:v2", "--check", "-l", f"{robot['name']}.local")
    result = results[f"{robot['name']}.local"]
    assert result["status"] == "changed" and result["reason"].startswith("would pull")
    assert result["data"]["platform"] == "linux/arm/v7"
    assert _images(lab, robot) == before


def test_one_robot_unreachable_the_others_finish(lab, puller):
    fleet("lab", "stop", "robot02", "sshd")
    try:
        done, results = puller("duckietown/dt-core:daffy", "-l", "robot01.local,robot02.local")
    finally:
        fleet("lab", "start", "robot02", "sshd")
    assert done.returncode == 4
    assert results["robot02.local"]["status"] == "unreachable"
    assert results["robot01.local"]["status"] in ("ok", "changed")


def test_private_image_needs_an_account_and_works_after_fleet_login(lab, puller, tmp_path):
    robot = lab.robots[2]
    lab.ssh(robot["address"], "rm -rf /root/.docker")  # the robot holds no account itself
    (tmp_path / "store.json").unlink()
    done, results = puller("duckietown/dt-core:daffy", "-l", "robot03.local")
    assert done.returncode == 2
    assert results["robot03.local"]["reason"] == (
        f"authentication required for {lab.registry}; run fleet login {lab.registry}"
    )
    puller.login()  # stored on this machine only: nothing is pushed to the robot
    done, results = puller("duckietown/dt-core:daffy", "-l", "robot03.local")
    assert done.returncode == 0
    assert results["robot03.local"]["status"] in ("ok", "changed")
    assert not (lab.paths.robot_dir("robot03") / "upper/root/.docker/config.json").exists()


def _sshd_log_counts(lab, name):
    """(handshakes, sessions) in the robot's sshd log; each Engine API connection is one
    session running `docker system dial-stdio`."""
    log = lab.paths.robot_dir(name) / "upper/var/log/sshd.log"
    text = log.read_text() if log.exists() else ""
    return text.count("Accepted publickey"), text.count("Starting session: command")


def test_one_ssh_handshake_and_one_api_connection_per_robot_per_pull(lab, puller):
    names = ["robot01", "robot04", "robot05", "robot06"]
    _remove(lab, [r for r in lab.robots if r["name"] in names], "demo/payload:v1")
    for case in ("cold", "up to date"):
        before = {n: _sshd_log_counts(lab, n) for n in names}
        done, results = puller("demo/payload:v1", "-l", ",".join(f"{n}.local" for n in names))
        assert done.returncode == 0, done.stderr
        expected = "changed" if case == "cold" else "ok"
        assert {r["status"] for r in results.values()} == {expected}
        after = {n: _sshd_log_counts(lab, n) for n in names}
        added = {n: (after[n][0] - before[n][0], after[n][1] - before[n][1]) for n in names}
        assert added == {n: (1, 1) for n in names}, case


def test_registry_stopped_mid_pull_fails_after_retries_and_a_rerun_completes(lab, puller):
    robot = next(r for r in lab.robots if r["name"] == "robot03")
    spec_robot = lifecycle.lab_robot(lab.paths, "robot03")
    _remove(lab, [robot], "demo/payload:v1")
    network.shape_link(spec_robot, "16mbit")  # 50 MB takes ~25 s: time to pull the plug
    try:
        proc = puller("demo/payload:v1", "-l", "robot03.local", background=True)
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            event = json.loads(line)
            if event["event"] == "progress" and event.get("bytes_done", 0) > 5_000_000:
                break
            assert time.monotonic() < deadline, "the pull never got going"
        fleet("lab", "stop", "registry")
        rest = proc.stdout.read()
        assert proc.wait(timeout=600) == 2
        result = pull_results(rest)["robot03.local"]
        assert result["status"] == "failed"
        assert "gave up after 3 attempts" in result["reason"]
    finally:
        fleet("lab", "start", "registry")
        subprocess.run(["tc", "qdisc", "del", "dev", spec_robot.veth, "root"], check=False)
        subprocess.run(
            ["ip", "netns", "exec", spec_robot.netns, "tc", "qdisc", "del", "dev", "eth0", "root"],
            check=False,
        )
    done, results = puller("demo/payload:v1", "-l", "robot03.local")
    assert done.returncode == 0, done.stderr
    assert results["robot03.local"]["status"] == "changed"
