"""Emulated arm robots: every probe agrees with the board it stands for, and Docker on
each robot picks its own variant from a multi-platform index."""

from __future__ import annotations

import pytest

from tests.lab.conftest import PROBES

PROBE_SCRIPT = (
    "uname -m; dpkg --print-architecture; getconf LONG_BIT; "
    "tr -d '\\0' < /sys/firmware/devicetree/base/model 2>/dev/null || echo none"
)


def _robots_by_profile(lab):
    return {r["profile"]: r for r in lab.robots}


@pytest.mark.parametrize("profile", sorted(PROBES))
def test_probes_over_ssh_and_docker_see_the_board(lab, profile):
    robot = _robots_by_profile(lab)[profile]
    expected = PROBES[profile]
    uname, dpkg, long_bit, model = lab.ssh(robot["address"], PROBE_SCRIPT).stdout.splitlines()
    assert (uname, dpkg, long_bit) == (expected["uname"], expected["dpkg"], expected["long_bit"])
    assert model == (expected["model"] or "none")
    version = lab.docker(robot["address"], "version", "--format", "{{.Server.Os}}/{{.Server.Arch}}")
    assert version.stdout.strip() == expected["docker"]


def test_the_pi4_on_a_32bit_os_is_the_trap_it_should_be(lab):
    """Kernel and userland say 64-bit arm; the Docker daemon is 32-bit arm."""
    robot = _robots_by_profile(lab)["raspberrypi4-32"]
    assert lab.ssh(robot["address"], "uname -m").stdout.strip() == "aarch64"
    daemon = lab.docker(robot["address"], "version", "--format", "{{.Server.Arch}}")
    assert daemon.stdout.strip() == "arm"


@pytest.mark.parametrize("profile", sorted(PROBES))
def test_a_plain_tag_pull_gives_each_robot_its_own_variant(lab, profile):
    robot = _robots_by_profile(lab)[profile]
    address = robot["address"]
    image = f"{lab.registry}/duckietown/dt-core:daffy"
    # The client logs in here; the robot's daemon gets the credential with the pull only.
    lab.docker(
        address,
        "login",
        "--username",
        "robot",
        "--password-stdin",
        lab.registry,
        input=lab.accounts["accounts"]["robot"],
    )
    lab.docker(address, "rmi", "-f", image, check=False)
    try:
        lab.docker(address, "pull", "--quiet", image)
        inspect = lab.docker(
            address, "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}/{{.Variant}}", image
        )
        assert inspect.stdout.strip().rstrip("/") == PROBES[profile]["pulled"]
        container = lab.docker(address, "create", image).stdout.strip()
        try:
            copied = lab.docker(address, "cp", f"{container}:/etc/fleet-demo-arch", "-")
            # `docker cp ... -` writes a tar stream; the file's content is inside it.
            assert PROBES[profile]["pulled"] in copied.stdout
        finally:
            lab.docker(address, "rm", container, check=False)
        never_started = lab.docker(address, "ps", "--all", "--quiet", "--filter", "status=exited")
        assert never_started.stdout.strip() == ""
    finally:
        lab.docker(address, "rmi", "-f", image, check=False)
