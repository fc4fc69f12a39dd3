"""`fleet contexts export` against the lab: afterwards the real docker CLI reaches every
robot by its name, `docker --context robotNN ...`, over ssh as the inventory says."""

from __future__ import annotations

import json
import subprocess

from tests.lab.conftest import PROBES, fleet


def test_exported_contexts_reach_each_robot(lab, tmp_path):
    # docker's ssh gets the lab key and known_hosts from lab.docker_env()'s wrapper; the
    # contexts go to a docker config of this test's own, so no other test sees them.
    env = {k: v for k, v in lab.docker_env().items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    env["DOCKER_CONFIG"] = str(tmp_path / "docker")
    inventory = str(lab.paths.inventory)

    first = fleet("contexts", "export", "-i", inventory, env=env)
    # The lab's key is an inventory variable, which docker's ssh never reads: said so.
    assert "ansible_ssh_private_key_file" in first.stderr
    listed = subprocess.run(
        ["docker", "context", "ls", "--format", "{{json .}}"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    ).stdout
    contexts = {c["Name"]: c for c in map(json.loads, filter(str.strip, listed.splitlines()))}
    for robot in lab.robots:
        name = f"{robot['name']}.local"  # the robot's name in the lab's inventory
        context = contexts[name]
        assert context["DockerEndpoint"] == f"ssh://root@{robot['address']}", context
        assert context["Description"].startswith("made by fleet")
        done = subprocess.run(
            [
                "docker",
                "--context",
                name,
                "version",
                "--format",
                "{{.Server.Os}}/{{.Server.Arch}}",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert done.returncode == 0, f"{robot['name']}: {done.stderr}"
        assert done.stdout.strip() == PROBES[robot["profile"]]["docker"], robot["name"]

    again = fleet("contexts", "export", "-i", inventory, env=env)
    assert [line.split()[0] for line in again.stdout.splitlines()] == ["ok"] * len(lab.robots)
