"""`fleet apply` and `fleet status` on the mixed lab: an inventory declares registries and
images per group, and every robot is checked from outside (docker, config.json, the
registry's own log)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.lab.conftest import PROBES

PCS = ["robot01", "robot02", "robot03", "robot04"]  # three PCs and the Jetson
BOARDS = ["robot05", "robot06"]  # the Pi 3 and the Pi 4 on a 32-bit OS


def inventory_for(lab, path: Path, overrides: dict | None = None) -> Path:
    """Two groups: the PCs hold the `robot` account, dt-core per arch and payload:v1;
    the boards hold `publisher`, the dt-core index and payload:v2 (older ones pruned)."""
    reg = lab.registry
    hosts = {r["name"]: r for r in lab.robots}

    def group(names, account, images):
        return {
            "vars": {"fleet_registries": {reg: account}, "fleet_images": images},
            "hosts": {
                f"{n}.local": {"ansible_host": hosts[n]["address"], **(overrides or {}).get(n, {})}
                for n in names
            },
        }

    document = {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(lab.paths.lab_key),
            },
            "children": {
                "pcs": group(
                    PCS,
                    "robot",
                    [f"{reg}/duckietown/dt-core:daffy-{{arch}}", f"{reg}/demo/payload:v1"],
                ),
                "boards": group(
                    BOARDS,
                    "publisher",
                    [
                        f"{reg}/duckietown/dt-core:daffy",
                        {"ref": f"{reg}/demo/payload:v2", "keep": 0},
                    ],
                ),
            },
        }
    }
    with open(path, "w") as handle:
        YAML().dump(document, handle)
    return path


@pytest.fixture
def fleet_run(lab, tmp_path):
    """fleet with its own store (both lab accounts) and known_hosts; returns (done, results)."""
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

    def run(*args: str):
        command = [
            sys.executable,
            "-m",
            "fleet",
            *args,
            "--known-hosts",
            str(tmp_path / "kh"),
            "--accept-new",
            "--json",
            "--ca-cert",
            str(lab.paths.ca_cert),
        ]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200)
        records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        results = {r["host"]: r for r in records if r["event"] == "result"}
        return done, results, records

    return run


def _reset(lab, names):
    """Robots that hold neither the images nor a registry entry."""
    for name in names:
        address = next(r["address"] for r in lab.robots if r["name"] == name)
        lab.ssh(address, "rm -rf /root/.docker")
        for image in ("duckietown/dt-core", "demo/payload"):
            lab.ssh(
                address,
                f"docker images -q --no-trunc {lab.registry}/{image} | sort -u | "
                "xargs -r docker rmi -f >/dev/null",
            )


def _config(lab, name) -> Path:
    return lab.paths.robot_dir(name) / "upper/root/.docker/config.json"


def _held_account(lab, name):
    entry = json.loads(_config(lab, name).read_text())["auths"][lab.registry]
    return base64.b64decode(entry["auth"]).decode().partition(":")[0]


def _platform(lab, name, image):
    address = next(r["address"] for r in lab.robots if r["name"] == name)
    done = lab.docker(
        address,
        "image",
        "inspect",
        "--format",
        "{{.Os}}/{{.Architecture}}/{{.Variant}}",
        f"{lab.registry}/{image}",
        check=False,
    )
    return done.stdout.strip().rstrip("/") if done.returncode == 0 else None


def _profile(lab, name):
    return next(r["profile"] for r in lab.robots if r["name"] == name)


def _image_ids(lab):
    return {
        r["name"]: sorted(lab.docker(r["address"], "images", "-q", "--no-trunc").stdout.split())
        for r in lab.robots
    }


def _mtimes(lab):
    return {n: _config(lab, n).stat().st_mtime_ns for n in PCS + BOARDS}


def test_apply_converges_then_changes_nothing_and_status_sees_it(lab, fleet_run, tmp_path):
    inventory = inventory_for(lab, tmp_path / "inv.yaml")
    _reset(lab, PCS + BOARDS)
    before, results, _ = fleet_run("status", "-i", str(inventory))
    assert before.returncode == 2, before.stderr
    items = results["robot01.local"]["data"]["items"]
    assert {v["drift"] for v in items.values()} == {"missing", "no credential"}

    done, results, records = fleet_run("apply", "-i", str(inventory))
    assert done.returncode == 0, done.stderr
    assert {r["status"] for r in results.values()} == {"changed"}
    for name in PCS:
        pulled = PROBES[_profile(lab, name)]["pulled"]
        assert _held_account(lab, name) == "robot"
        assert _platform(lab, name, "demo/payload:v1") == pulled
        variant = results[f"{name}.local"]["data"]["variant"]
        assert _platform(lab, name, f"duckietown/dt-core:daffy-{variant}") == pulled
    for name in BOARDS:
        assert _held_account(lab, name) == "publisher"
        assert _platform(lab, name, "duckietown/dt-core:daffy") == "linux/arm/v7"
        assert _platform(lab, name, "demo/payload:v2") == "linux/arm/v7"
    actions = [r for r in records if r["event"] == "action"]
    assert len(actions) == 3 * len(PCS + BOARDS)  # a registry and two images each
    assert all(a["changed"] for a in actions)

    fetched, mtimes = lab.blob_fetches(), _mtimes(lab)
    again, results, records = fleet_run("apply", "-i", str(inventory))
    assert again.returncode == 0, again.stderr
    assert {r["status"] for r in results.values()} == {"ok"}
    assert not any(r["changed"] for r in records if r["event"] == "action")
    assert lab.blob_fetches() == fetched, "a second apply fetched layers"
    assert _mtimes(lab) == mtimes, "a second apply rewrote a config.json"

    after, results, _ = fleet_run("status", "-i", str(inventory))
    assert after.returncode == 0, after.stderr
    for result in results.values():
        assert {v["drift"] for v in result["data"]["items"].values()} == {"current"}


def test_check_reports_the_one_robot_changed_by_hand_and_changes_nothing(lab, fleet_run, tmp_path):
    inventory = inventory_for(lab, tmp_path / "inv.yaml")
    done, _, _ = fleet_run("apply", "-i", str(inventory))
    assert done.returncode == 0, done.stderr
    robot02 = next(r for r in lab.robots if r["name"] == "robot02")
    lab.docker(robot02["address"], "rmi", f"{lab.registry}/demo/payload:v1")
    images = _image_ids(lab)
    fetched, mtimes = lab.blob_fetches(), _mtimes(lab)

    check, results, records = fleet_run("apply", "--check", "-i", str(inventory))
    assert check.returncode == 0, check.stderr
    changed = {host for host, r in results.items() if r["status"] == "changed"}
    assert changed == {"robot02.local"}
    assert results["robot02.local"]["reason"].startswith("would pull")
    planned = [r for r in records if r["event"] == "action" and r["host"] == "robot02.local"]
    assert [a["action"] for a in planned if a["changed"]] == ["pull"]
    assert lab.blob_fetches() == fetched
    assert _mtimes(lab) == mtimes
    # docker lists images created in the same second in no fixed order.
    assert _image_ids(lab) == images


def test_a_failing_canary_stops_the_rollout(lab, fleet_run, tmp_path):
    # robot01 (a PC) is told to hold an arm64-only image: its plan fails before a byte moves.
    wrong = {"fleet_images": [f"{lab.registry}/duckietown/dt-core:daffy-arm64v8"]}
    inventory = inventory_for(lab, tmp_path / "inv.yaml", overrides={"robot01": wrong})
    retry = tmp_path / "fleet.retry"
    done, results, records = fleet_run(
        "apply", "-i", str(inventory), "--serial", "1", "--max-fail-percent", "0",
        "--retry-file", str(retry),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert results["robot01.local"]["status"] == "failed"
    assert "image is linux/arm64/v8 only" in results["robot01.local"]["reason"]
    rest = [f"{n}.local" for n in PCS[1:] + BOARDS]
    for host in rest:
        assert results[host]["status"] == "skipped"
        assert "the rollout stopped" in results[host]["reason"]
    assert retry.read_text().split() == ["robot01.local", *rest]
    assert [r for r in records if r["event"] == "batch"][0]["of"] == len(PCS + BOARDS)
