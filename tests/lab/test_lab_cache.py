"""`fleet cache` and `--via cache` on the mixed lab: the hub (Docker Hub's stand-in, token
auth) behind the lab's one shaped uplink; robots get their bytes from this machine.

Each test has a cache of its own (XDG_STATE_HOME, XDG_CACHE_HOME in its tmp_path), and
stops it at the end: no registry process outlives a test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.lab.conftest import PROBES, fleet

MIXED = ["robot01", "robot04", "robot05", "robot06"]  # a PC, the Jetson, the Pi 3, the Pi 4


def _robot(lab, name):
    return next(r for r in lab.robots if r["name"] == name)


@pytest.fixture
def cached(lab, tmp_path):
    """fleet with its own store (the hub's `robot` account), known_hosts and cache."""
    env = {
        **os.environ,
        "FLEET_CREDENTIALS": str(tmp_path / "store.json"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    hub = lab.accounts["hub"]

    def run(*args, check=False, secret=None, timeout=900):
        common = []
        if any(a in args for a in ("-l", "-i", "-H")):
            common = ["--known-hosts", str(tmp_path / "kh"), "--accept-new"]
        done = subprocess.run(
            [sys.executable, "-m", "fleet", *args, *common],
            input=secret,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"fleet {args} exited {done.returncode}: {done.stderr}")
        return done

    def pull(image, *names, extra=()):
        done = run(
            "pull", f"{hub}/{image}", "-i", str(lab.paths.inventory),
            "-l", ",".join(f"{n}.local" for n in names),
            "--via", "cache", "--ca-cert", str(lab.paths.ca_cert), "--json", *extra,
        )  # fmt: skip
        records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        return done, {r["host"]: r for r in records if r["event"] == "result"}, records

    run(
        "login", hub, "--username", "robot", "--password-stdin",
        "--ca-cert", str(lab.paths.ca_cert),
        secret=lab.accounts["accounts"]["robot"], check=True,
    )  # fmt: skip
    run.pull = pull
    run.hub = hub
    run.state = tmp_path / "state"
    yield run
    run("cache", "down")
    assert not _cache_processes(tmp_path / "state"), "a cache outlived its test"


def _cache_processes(state: Path) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "docker-registry" in args and str(state) in args:
            found.append(int(pid))
    return found


def _hub_blob_gets(lab) -> Counter:
    """Blob downloads the hub served (bytes sent, not a 401 challenge), by digest and by
    who asked."""
    log = (lab.paths.hub_dir / "registry.log").read_text()
    seen: Counter = Counter()
    for line in log.splitlines():
        match = re.match(
            r'(\S+) - - \[[^]]+\] "GET /v2/\S+/blobs/(sha256:[0-9a-f]{64}) [^"]*" 20[06] ', line
        )
        if match:
            seen[(match.group(2), match.group(1))] += 1
    return seen


def _remove(lab, names, image):
    for name in names:
        lab.docker(_robot(lab, name)["address"], "rmi", "-f", image, check=False)


def _names(lab, name):
    """Every repository:tag and repository@digest the robot's daemon knows."""
    done = lab.docker(
        _robot(lab, name)["address"], "images", "--digests", "--format",
        "{{.Repository}}:{{.Tag}} {{.Repository}}@{{.Digest}}",
    )  # fmt: skip
    return done.stdout.split()


def _platform(lab, name, image):
    done = lab.docker(
        _robot(lab, name)["address"], "image", "inspect", "--format",
        "{{.Os}}/{{.Architecture}}/{{.Variant}}", image, check=False,
    )  # fmt: skip
    return done.stdout.strip().rstrip("/") if done.returncode == 0 else None


def test_each_blob_crosses_the_uplink_once_and_robots_get_their_platform(lab, cached):
    image = f"{cached.hub}/demo/payload:v2"
    _remove(lab, MIXED, image)
    before = _hub_blob_gets(lab)
    config_before = {n: lab.ssh(_robot(lab, n)["address"], _CONFIG_LISTING).stdout for n in MIXED}
    done, results, _ = cached.pull("demo/payload:v2", *MIXED)
    assert done.returncode == 0, done.stderr
    for name in MIXED:
        expected = PROBES[_robot(lab, name)["profile"]]["pulled"]
        assert results[f"{name}.local"]["status"] == "changed"
        assert _platform(lab, name, image) == expected
        assert not [n for n in _names(lab, name) if n.startswith("127.0.0.1")], name
    fetched = _hub_blob_gets(lab) - before
    assert fetched, "the cache fetched nothing from the hub"
    twice = [digest for (digest, _), count in fetched.items() if count > 1]
    assert not twice, "blobs crossed the uplink twice:\n" + "\n".join(
        line
        for line in (lab.paths.hub_dir / "registry.log").read_text().splitlines()
        if any(digest in line for digest in twice)
    )
    assert {who for _, who in fetched} == {lab.status["registry"].split(":")[0]}, (
        "robots reached the hub themselves"
    )
    summary = next(
        json.loads(line)["text"] for line in done.stdout.splitlines() if '"summary"' in line
    )
    assert f"for {len(MIXED)} robots" in summary and "upstream:" in summary

    again, results, _ = cached.pull("demo/payload:v2", *MIXED)
    assert again.returncode == 0, again.stderr
    assert {r["status"] for r in results.values()} == {"ok"}
    assert _hub_blob_gets(lab) - before == fetched, "a second run went upstream"
    # Nothing was configured on any robot: no daemon.json, no new trust, no login.
    for name in MIXED:
        assert lab.ssh(_robot(lab, name)["address"], _CONFIG_LISTING).stdout == config_before[name]


_CONFIG_LISTING = (
    "ls /etc/docker/daemon.json 2>/dev/null; ls /etc/docker/certs.d; "
    "cat /root/.docker/config.json 2>/dev/null; true"
)


def test_a_warmed_cache_delivers_with_the_upstream_gone_even_after_a_restart(lab, cached):
    image = f"{cached.hub}/demo/payload:v1"
    warm = cached(
        "cache", "warm", image, "-i", str(lab.paths.inventory), "-l", "robot02.local",
        "--ca-cert", str(lab.paths.ca_cert),
    )  # fmt: skip
    assert warm.returncode == 0, warm.stderr
    _remove(lab, ["robot03", "robot04"], image)
    fleet("lab", "stop", "hub")
    try:
        cached("cache", "down", check=True)
        up = cached("cache", "up", cached.hub, "--ca-cert", str(lab.paths.ca_cert), check=True)
        assert "offline" in up.stdout
        done, results, _ = cached.pull("demo/payload:v1", "robot03", "robot04")
    finally:
        fleet("lab", "start", "hub")
    assert results["robot03.local"]["status"] == "changed", results
    assert _platform(lab, "robot03", image) == "linux/amd64"
    # The Jetson's platform was never warmed: it fails, saying so; the PC got its image.
    assert results["robot04.local"]["status"] == "failed"
    assert "does not hold" in results["robot04.local"]["reason"]
    assert done.returncode == 2
    status = json.loads(cached("cache", "status", "--json", check=True).stdout.splitlines()[0])
    assert {"image": "demo/payload:v1", "platforms": ["linux/amd64"]} in status["holds"]


def test_the_hubs_bearer_flow_for_login_and_private_images(lab, cached, tmp_path):
    hub = cached.hub
    wrong = cached(
        "login", hub, "--username", "robot", "--password-stdin",
        "--ca-cert", str(lab.paths.ca_cert), secret="not-the-password",
    )  # fmt: skip
    assert wrong.returncode == 2 and "refused" in wrong.stderr
    store = json.loads((tmp_path / "store.json").read_text())
    assert list(store["registries"][hub]) == ["robot"]  # the right one, from the fixture
    private = f"{hub}/private/dt-core:daffy"
    _remove(lab, ["robot02"], private)
    direct = ("--via", "direct")
    done, results, _ = cached.pull("private/dt-core:daffy", "robot02", extra=direct)
    assert done.returncode == 0, done.stderr
    assert _platform(lab, "robot02", private) == "linux/amd64"
    (tmp_path / "store.json").unlink()
    _remove(lab, ["robot02"], private)
    done, results, _ = cached.pull("private/dt-core:daffy", "robot02", extra=direct)
    assert results["robot02.local"]["status"] == "failed"
    assert "authentication required" in results["robot02.local"]["reason"]
    public = f"{hub}/duckietown/dt-core:daffy"
    _remove(lab, ["robot02"], public)
    done, results, _ = cached.pull("duckietown/dt-core:daffy", "robot02", extra=direct)
    assert results["robot02.local"]["status"] == "changed", "public images need no account"


def test_a_robot_that_refuses_forwarding_fails_and_the_others_go_on(lab, cached):
    robot = _robot(lab, "robot02")
    conf = "/etc/ssh/sshd_config.d/zz-no-forwarding.conf"
    lab.ssh(robot["address"], f"echo 'AllowTcpForwarding no' > {conf}")
    pid = json.loads((lab.paths.robot_dir("robot02") / "pids.json").read_text())["sshd"]
    os.kill(pid, signal.SIGHUP)
    try:
        _remove(lab, ["robot02", "robot03"], f"{cached.hub}/demo/payload:v1")
        done, results, _ = cached.pull("demo/payload:v1", "robot02", "robot03")
    finally:
        lab.ssh(robot["address"], f"rm -f {conf}")
        os.kill(pid, signal.SIGHUP)
    assert results["robot02.local"]["status"] == "failed"
    assert results["robot02.local"]["reason"] == (
        "remote port forwarding disabled on robot02.local; use --via direct"
    )
    assert results["robot03.local"]["status"] == "changed"
    assert not [n for n in _names(lab, "robot02") if n.startswith("127.0.0.1")]


def test_a_full_cache_disk_is_a_clear_error(lab, cached):
    storage = cached.state.parent / "cache"
    storage.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(storage)], check=True)
    try:
        _remove(lab, ["robot03"], f"{cached.hub}/demo/payload:v1")
        done, results, _ = cached.pull("demo/payload:v1", "robot03")
        cached("cache", "down")
    finally:
        subprocess.run(["umount", "-l", str(storage)], check=False)
    assert results["robot03.local"]["status"] == "failed"
    assert "the cache's disk is full" in results["robot03.local"]["reason"]
    assert _platform(lab, "robot03", f"{cached.hub}/demo/payload:v1") is None


def test_the_upstream_going_away_before_a_warm_up_fails_that_image_cleanly(lab, cached):
    cached("cache", "up", cached.hub, "--ca-cert", str(lab.paths.ca_cert), check=True)
    image = f"{cached.hub}/demo/payload:v2"
    _remove(lab, ["robot03"], image)
    fleet("lab", "stop", "hub")
    try:
        done, results, _ = cached.pull("demo/payload:v2", "robot03")
    finally:
        fleet("lab", "start", "hub")
    assert results["robot03.local"]["status"] == "failed", results
    assert _platform(lab, "robot03", image) is None
    assert not [n for n in _names(lab, "robot03") if n.startswith("127.0.0.1")]


def test_two_runs_at_once_share_one_cache(lab, cached):
    image = f"{cached.hub}/demo/payload:v1"
    _remove(lab, ["robot02", "robot03"], image)
    procs = [
        subprocess.Popen(
            [
                sys.executable, "-m", "fleet", "pull", image, "-i", str(lab.paths.inventory),
                "-l", f"{name}.local", "--via", "cache", "--ca-cert", str(lab.paths.ca_cert),
                "--known-hosts", str(cached.state.parent / f"kh-{name}"), "--accept-new",
            ],
            env={
                **os.environ,
                "FLEET_CREDENTIALS": str(cached.state.parent / "store.json"),
                "XDG_STATE_HOME": str(cached.state),
                "XDG_CACHE_HOME": str(cached.state.parent / "cache"),
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("robot02", "robot03")
    ]  # fmt: skip
    outcomes = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outcomes
    assert len(_cache_processes(cached.state)) == 2  # one cache: its proxy and its filler
    for name in ("robot02", "robot03"):
        assert _platform(lab, name, image) == "linux/amd64"
