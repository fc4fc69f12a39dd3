"""`fleet login / logout / credentials` against the lab's real sshd, dockerd and registry."""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fleet.credentials.names import fingerprint

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def client(lab, tmp_path):
    """Run fleet with its own credential store and known_hosts, as a fresh user would."""
    env = {**os.environ, "FLEET_CREDENTIALS": str(tmp_path / "store.json")}
    known = tmp_path / "kh"

    def run(*args, secret=None, check=True, extra_env=None):
        common = (
            ["--known-hosts", str(known), "--accept-new"] if "-l" in args or "-H" in args else []
        )
        done = subprocess.run(
            [sys.executable, "-m", "fleet", *args, *common],
            input=secret,
            capture_output=True,
            text=True,
            timeout=300,
            env={**env, **(extra_env or {})},
        )
        if check and done.returncode != 0:
            raise AssertionError(f"fleet {args} exited {done.returncode}: {done.stderr}")
        return done

    return run


def _login(client, lab, *targets, user="robot", secret=None, extra=(), check=True):
    secret = lab.accounts["accounts"][user] if secret is None else secret
    return client(
        *lab.login_args(user),
        *extra,
        *(["-i", str(lab.paths.inventory), "-l", ",".join(targets)] if targets else []),
        secret=secret,
        check=check,
    )


def _config_path(lab, robot_name: str) -> Path:
    """The robot's /root/.docker/config.json, seen from outside through its overlay."""
    return lab.paths.robot_dir(robot_name) / "upper/root/.docker/config.json"


def _held(lab, robot_name: str) -> tuple[str, str] | None:
    path = _config_path(lab, robot_name)
    if not path.exists():
        return None
    entry = json.loads(path.read_text()).get("auths", {}).get(lab.registry)
    if not entry:
        return None
    user, _, secret = base64.b64decode(entry["auth"]).decode().partition(":")
    return user, secret


def _reset(lab, *robots):
    for robot in robots:
        lab.ssh(robot["address"], "rm -rf /root/.docker")


def test_a_robot_pulls_with_its_own_docker_only_after_fleet_login(lab, client):
    robot = lab.robots[2]
    _reset(lab, robot)
    image = f"{lab.registry}/duckietown/dt-core:daffy-amd64"
    lab.ssh(robot["address"], f"docker rmi -f {image}", check=False)
    refused = lab.ssh(robot["address"], f"docker pull {image}", check=False)
    assert refused.returncode != 0 and "no basic auth credentials" in refused.stderr
    done = _login(client, lab, "robot03.local", extra=("--json",))
    assert '"status": "changed"' in done.stdout
    assert lab.ssh(robot["address"], f"docker pull {image}").returncode == 0
    lab.ssh(robot["address"], f"docker rmi -f {image}", check=False)


def test_other_settings_survive_and_the_file_is_private(lab, client):
    robot = lab.robots[1]
    _reset(lab, robot)
    before = {
        "auths": {"ghcr.io": {"auth": base64.b64encode(b"other:tok").decode()}},
        "proxies": {"default": {"httpProxy": "http://198.18.0.1:3128"}},
        "x-unknown": {"kept": True},
    }
    lab.ssh(
        robot["address"],
        "mkdir -p /root/.docker && cat > /root/.docker/config.json && "
        "chmod 644 /root/.docker/config.json",
        input=json.dumps(before, indent="\t"),
    )
    _login(client, lab, "robot02.local")
    after = json.loads(_config_path(lab, robot["name"]).read_text())
    assert after["proxies"] == before["proxies"]
    assert after["x-unknown"] == before["x-unknown"]
    assert after["auths"]["ghcr.io"] == before["auths"]["ghcr.io"]
    assert _held(lab, robot["name"]) == ("robot", lab.accounts["accounts"]["robot"])
    modes = lab.ssh(robot["address"], "stat -c %a /root/.docker /root/.docker/config.json")
    assert modes.stdout.split() == ["700", "600"]
    assert lab.ssh(robot["address"], "ls -a /root/.docker").stdout.split() == [
        ".",
        "..",
        "config.json",
    ]


def test_second_login_changes_nothing_wrong_secret_writes_nothing_logout_only_its_own(lab, client):
    robots = lab.robots[:3]
    names = [f"{r['name']}.local" for r in robots]
    _reset(lab, *robots)
    first = _login(client, lab, *names, extra=("--json",))
    assert first.stdout.count('"status": "changed"') == 3
    second = _login(client, lab, *names, extra=("--json",))
    assert second.stdout.count('"status": "ok"') == 3
    snapshot = {r["name"]: _config_path(lab, r["name"]).read_bytes() for r in robots}
    wrong = _login(client, lab, *names, secret="not-the-password", check=False)
    assert wrong.returncode == 2
    assert "refused the account" in wrong.stderr and "nothing was stored or pushed" in wrong.stderr
    assert {r["name"]: _config_path(lab, r["name"]).read_bytes() for r in robots} == snapshot
    # robot01 also holds another registry: logout removes only the lab registry's entry.
    config = json.loads(_config_path(lab, robots[0]["name"]).read_text())
    config["auths"] = {"ghcr.io": {"auth": "eDp5"}, **config["auths"]}
    lab.ssh(robots[0]["address"], "cat > /root/.docker/config.json", input=json.dumps(config))
    out = client(
        "logout", lab.registry, "-i", str(lab.paths.inventory), "-l", ",".join(names), "--json"
    )
    assert out.stdout.count('"status": "changed"') == 3
    auths = json.loads(_config_path(lab, robots[0]["name"]).read_text())["auths"]
    assert list(auths) == ["ghcr.io"]
    again = client("logout", lab.registry, "-i", str(lab.paths.inventory), "-l", names[1], "--json")
    assert '"status": "ok"' in again.stdout


def test_an_account_missing_from_the_store_fails_with_the_command_to_add_it(lab, client, tmp_path):
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        lab.paths.inventory.read_text().replace(
            "      hosts:\n        robot01.local:",
            f"      hosts:\n        robot01.local:\n          fleet_registry_accounts:\n"
            f"            {lab.registry}: site-b-readonly",
            1,
        )
    )
    done = client(
        *lab.login_args(),
        "-i",
        str(inventory),
        "-l",
        "robot01.local",
        "--json",
        secret=lab.accounts["accounts"]["robot"],
        check=False,
    )
    assert done.returncode == 2
    assert f"run: fleet login {lab.registry} --username site-b-readonly" in done.stdout


def test_a_credential_helper_gets_the_secret_and_auths_stays_untouched(lab, client):
    robot = lab.robots[3]
    _reset(lab, robot)
    lab.ssh(
        robot["address"],
        "cat > /usr/local/bin/docker-credential-fleettest && "
        "chmod 755 /usr/local/bin/docker-credential-fleettest && rm -rf /root/.fleettest-creds && "
        "mkdir -p /root/.docker && "
        'echo \'{"credsStore": "fleettest"}\' > /root/.docker/config.json',
        input=(FIXTURES / "docker-credential-fleettest").read_text(),
    )
    name = f"{robot['name']}.local"
    assert '"status": "changed"' in _login(client, lab, name, extra=("--json",)).stdout
    assert json.loads(_config_path(lab, robot["name"]).read_text()) == {"credsStore": "fleettest"}
    stored = lab.ssh(robot["address"], "docker-credential-fleettest get", input=lab.registry)
    assert json.loads(stored.stdout)["Secret"] == lab.accounts["accounts"]["robot"]
    # The robot's own docker uses the helper: it can pull.
    image = f"{lab.registry}/duckietown/dt-core:daffy-arm64v8"
    assert lab.ssh(robot["address"], f"docker pull -q {image}").returncode == 0
    assert '"status": "ok"' in _login(client, lab, name, extra=("--json",)).stdout
    audit = client("credentials", "audit", "-i", str(lab.paths.inventory), "-l", name, "--json")
    result = next(json.loads(x) for x in audit.stdout.splitlines() if '"result"' in x)
    assert result["data"]["credentials"] == [
        {
            "registry": lab.registry,
            "username": "robot",
            "via": "fleettest",
            "fingerprint": fingerprint(lab.accounts["accounts"]["robot"]),
        }
    ]
    client("logout", lab.registry, "-i", str(lab.paths.inventory), "-l", name)
    gone = lab.ssh(
        robot["address"], "docker-credential-fleettest get", input=lab.registry, check=False
    )
    assert gone.returncode != 0
    lab.ssh(robot["address"], f"docker rmi -f {image}", check=False)


def test_the_secret_never_leaks(lab, client, tmp_path):
    robots = lab.robots[:2]
    _reset(lab, *robots)
    secret = "fleet-LEAKCHECK-" + "".join(random.choice("abcdefghjk") for _ in range(20))
    forms = [
        secret,
        base64.b64encode(f"robot:{secret}".encode()).decode(),
        base64.b64encode(secret.encode()).decode(),
    ]
    samples: list[str] = []
    stop = threading.Event()

    def sample_host():
        while not stop.is_set():
            samples.append(
                subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
            )
            time.sleep(0.003)

    robot_sampler = subprocess.Popen(
        [
            *lab.ssh_args(robots[0]["address"]),
            "end=$(($(date +%s)+6)); while [ $(date +%s) -lt $end ]; do ps -eo args; done",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    sampler = threading.Thread(target=sample_host)
    sampler.start()
    log_file = tmp_path / "fleet.log"
    try:
        time.sleep(0.5)
        outputs = []
        for extra in (("--json",), ()):
            done = client(
                "-vv",
                "login",
                lab.registry,
                "--username",
                "robot",
                "--password-stdin",
                "--no-verify",
                "-i",
                str(lab.paths.inventory),
                "-l",
                ",".join(f"{r['name']}.local" for r in robots),
                *extra,
                secret=secret,
                extra_env={"FLEET_LOG_FILE": str(log_file)},
            )
            outputs += [done.stdout, done.stderr]
        listing = client("credentials", "list", "--json")
        outputs += [listing.stdout, listing.stderr]
    finally:
        stop.set()
        sampler.join()
        robot_samples = robot_sampler.communicate(timeout=30)[0]
    assert _held(lab, robots[0]["name"]) == ("robot", secret)  # the push did happen
    assert len(samples) > 50 and robot_samples.count("\n") > 100
    haystacks = {
        "fleet output": "\n".join(outputs),
        "host ps": "\n".join(samples),
        "robot ps": robot_samples,
        "log file": log_file.read_text() if log_file.exists() else "",
    }
    for where, text in haystacks.items():
        for form in forms:
            assert form not in text, f"secret found in {where}"
    _reset(lab, *robots)


def test_sigkill_at_any_moment_leaves_old_or_new_never_broken(lab, client):
    robots = lab.robots[1:3]
    names = ",".join(f"{r['name']}.local" for r in robots)
    _reset(lab, *robots)
    accounts = lab.accounts["accounts"]
    valid = {("robot", accounts["robot"]), ("publisher", accounts["publisher"])}
    _login(client, lab, *names.split(","))
    rng = random.Random(20261122)
    changed_hands = 0
    for attempt in range(100):
        user = "publisher" if attempt % 2 == 0 else "robot"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fleet",
                "login",
                lab.registry,
                "--username",
                user,
                "--password-stdin",
                "--no-verify",
                "-i",
                str(lab.paths.inventory),
                "-l",
                names,
                "--known-hosts",
                str(lab.workdir / "kh-kill"),
                "--accept-new",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "FLEET_CREDENTIALS": str(lab.workdir / "store-kill.json")},
        )
        proc.stdin.write(accounts[user].encode())
        proc.stdin.close()
        time.sleep(rng.uniform(0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for robot in robots:
            held = _held(lab, robot["name"])  # parses the file: a broken one fails here
            assert held in valid, (attempt, robot["name"], held)
            if held[0] == user:
                changed_hands += 1
    # The kills landed both before and after the rename, not always on one side.
    assert 0 < changed_hands < 200
