"""`fleet contexts export`: names, endpoints and plans (pure), then the real docker CLI
with DOCKER_CONFIG in a temporary directory (no daemon needed to make or list contexts)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from fleet.contexts import (
    BadContextName,
    Context,
    Kind,
    Wanted,
    context_name,
    description_for,
    plan,
    ssh_url,
    unseen_ssh_settings,
)

CASES = YAML(typ="safe").load((Path(__file__).parent / "data/contexts_plan_cases.yaml").read_text())


def _existing(row: list) -> Context:
    name, host, description, *current = row
    description = description_for(name) if description == "fleet" else description
    return Context(name, description, host, bool(current and current[0]))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_plan(case):
    wanted = [Wanted(robot, name, host) for robot, name, host in case["wanted"]]
    existing = [_existing(row) for row in case["existing"]]
    actions = plan(wanted, existing, case.get("prune", False))
    assert [(a.kind.value, a.name) for a in actions] == [(k, n) for k, n, _ in case["actions"]]
    for action, (_, _, reason) in zip(actions, case["actions"], strict=True):
        assert reason in action.reason
        if action.kind in (Kind.CREATE, Kind.UPDATE):
            assert action.description == description_for(action.robot)


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("robot05", "robot05"),
        ("robot05.local", "robot05.local"),
        ("Robot_05+x", "Robot_05+x"),
        ("robot 05", "robot-05"),
        ("-robot", "robot"),
        ("ro/bot:5", "ro-bot-5"),
        ("fe80::1", "fe80--1"),
    ],
)
def test_context_names(host, name):
    assert context_name(host) == name


@pytest.mark.parametrize("host", ["a", "default", "-", "é"])
def test_names_docker_would_refuse(host):
    with pytest.raises(BadContextName):
        context_name(host)


@pytest.mark.parametrize(
    ("user", "host", "port", "url"),
    [
        ("pi", "robot05.local", 22, "ssh://pi@robot05.local"),
        ("root", "10.0.0.5", 2222, "ssh://root@10.0.0.5:2222"),
        ("root", "fe80::1%eth0", 22, "ssh://root@[fe80::1%eth0]"),
    ],
)
def test_ssh_urls(user, host, port, url):
    assert ssh_url(user, host, port) == url


@pytest.mark.parametrize(
    ("user", "host"),
    [("root", "a,skip-tls-verify=true"), ('ro"ot', "a"), ("root", "a b"), ("-oProxy", "a")],
)
def test_ssh_urls_refuse_what_would_reach_dockers_csv(user, host):
    with pytest.raises(BadContextName):
        ssh_url(user, host, 22)


def test_inventory_ssh_settings_docker_cannot_see():
    host_vars = {"ansible_ssh_private_key_file": "/k", "ansible_user": "pi", "x": 1}
    assert unseen_ssh_settings(host_vars) == ["ansible_ssh_private_key_file"]


# -- the real docker CLI --

needs_docker = pytest.mark.skipif(
    shutil.which("docker") is None, reason="the docker CLI is not installed"
)

INVENTORY = """\
all:
  hosts:
    robot05:
      ansible_host: 10.0.0.5
      ansible_user: pi
    robot06.local:
      ansible_user: root
      ansible_port: 2222
    duck:
      ansible_user: duckie
      fleet_docker_host: "tcp://{host}:2375"
"""


@pytest.fixture
def docker_home(tmp_path):
    """An environment whose docker config and ssh config are empty temporary ones."""
    (tmp_path / "home").mkdir()
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    env.update(
        HOME=str(tmp_path / "home"),
        DOCKER_CONFIG=str(tmp_path / "docker"),
        PYTHONPATH=str(Path(__file__).parents[2]),
    )
    return tmp_path, env


def fleet(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "fleet", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def contexts(env) -> dict[str, dict]:
    done = subprocess.run(
        ["docker", "context", "ls", "--format", "{{json .}}"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    found = (json.loads(line) for line in done.stdout.splitlines() if line.strip())
    return {c["Name"]: c for c in found}


def docker(env, *args):
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, env=env, check=True, timeout=60
    )


@needs_docker
def test_export_makes_updates_and_prunes_only_fleets_contexts(docker_home):
    tmp_path, env = docker_home
    inventory = str(tmp_path / "inventory.yml")
    docker(env, "context", "create", "mine", "--docker", "host=ssh://me@build")

    first = fleet(env, "contexts", "export", "-i", inventory)
    assert first.returncode == 0, first.stderr
    made = contexts(env)
    assert made["robot05"]["DockerEndpoint"] == "ssh://pi@10.0.0.5"
    assert made["robot06.local"]["DockerEndpoint"] == "ssh://root@robot06.local:2222"
    assert made["duck"]["DockerEndpoint"] == "tcp://duck:2375"
    assert made["robot05"]["Description"] == "made by fleet for robot05"
    assert "created" in first.stdout

    # A second run changes nothing: the very same files, and every robot ok.
    store = tmp_path / "docker" / "contexts"
    before = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}
    again = fleet(env, "contexts", "export", "-i", inventory)
    assert again.returncode == 0, again.stderr
    assert [line.split()[0] for line in again.stdout.splitlines()] == ["ok"] * 3
    assert {p: p.read_bytes() for p in store.rglob("*") if p.is_file()} == before

    # -u changes the user: the contexts are updated, the user's own is not.
    changed = fleet(env, "contexts", "export", "-i", inventory, "-u", "admin", "-l", "robot05")
    assert changed.returncode == 0, changed.stderr
    assert "updated" in changed.stdout
    assert contexts(env)["robot05"]["DockerEndpoint"] == "ssh://admin@10.0.0.5"

    # --check says what --prune would remove and removes nothing.
    check = fleet(env, "contexts", "export", "-i", inventory, "-l", "robot05", "--prune", "--check")
    assert check.returncode == 0, check.stderr
    assert "would remove" in check.stdout
    assert set(contexts(env)) == {"default", "mine", "robot05", "robot06.local", "duck"}

    pruned = fleet(env, "contexts", "export", "-i", inventory, "-l", "robot05", "--prune")
    assert pruned.returncode == 0, pruned.stderr
    left = contexts(env)
    assert set(left) == {"default", "mine", "robot05"}
    assert left["mine"]["DockerEndpoint"] == "ssh://me@build"


@needs_docker
def test_a_users_context_with_a_robots_name_is_left_alone(docker_home):
    tmp_path, env = docker_home
    docker(env, "context", "create", "robot05", "--docker", "host=ssh://me@my-own-robot")
    done = fleet(env, "contexts", "export", "-i", str(tmp_path / "inventory.yml"))
    assert done.returncode == 2
    assert "fleet did not make" in done.stdout
    found = contexts(env)
    assert found["robot05"]["DockerEndpoint"] == "ssh://me@my-own-robot"
    assert found["duck"]["DockerEndpoint"] == "tcp://duck:2375"  # the others still made
    pruned = fleet(env, "contexts", "export", "-H", "other.local", "-u", "x", "--prune")
    assert pruned.returncode == 0, pruned.stderr
    assert "robot05" in contexts(env)
    assert "duck" not in contexts(env)


@needs_docker
def test_the_ssh_endpoint_follows_the_ssh_layer(docker_home):
    """Port and user from ~/.ssh/config, as fleet's own connections resolve them; the host
    stays the name ssh looks up (so `docker`'s ssh finds the same Host block)."""
    tmp_path, env = docker_home
    ssh_dir = tmp_path / "home" / ".ssh"
    ssh_dir.mkdir()
    (ssh_dir / "config").write_text("Host robot07\n  HostName 10.0.0.7\n  Port 2200\n  User ops\n")
    done = fleet(env, "contexts", "export", "-H", "robot07")
    assert done.returncode == 0, done.stderr
    assert contexts(env)["robot07"]["DockerEndpoint"] == "ssh://ops@robot07:2200"


@needs_docker
def test_inventory_ssh_settings_are_warned_about(docker_home):
    tmp_path, env = docker_home
    (tmp_path / "inv.yml").write_text(
        "all:\n  vars:\n    ansible_ssh_private_key_file: /keys/lab\n    ansible_user: root\n"
        "  hosts:\n    r1:\n    r2:\n"
    )
    done = fleet(env, "contexts", "export", "-i", str(tmp_path / "inv.yml"))
    assert done.returncode == 0, done.stderr
    assert "ansible_ssh_private_key_file (r1, r2)" in done.stderr
    assert "~/.ssh/config" in done.stderr


def test_without_docker_the_message_says_so(docker_home):
    tmp_path, env = docker_home
    env["PATH"] = str(tmp_path / "empty")
    done = fleet(env, "contexts", "export", "-i", str(tmp_path / "inventory.yml"))
    assert done.returncode == 1
    assert "docker command is not installed" in done.stderr
    assert "Traceback" not in done.stderr
