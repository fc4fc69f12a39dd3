"""Lab tests: a real simulated fleet, checked from outside with real clients.

They need root on Linux and are skipped elsewhere with the reason. One lab serves the
whole run; a test that takes it down leaves the next user of `lab` to bring it back up.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleet.lab import network, spec
from fleet.lab.mounts import mounts_under
from fleet.lab.paths import LabPaths

# One lab serves every lab test: three native robots (the first a Duckiebot) and one of
# each emulated board. README's demo brings up the same lab, so the tests reuse it.
LAB_PROFILES = ["amd64:3", "jetson-nano", "raspberrypi3", "raspberrypi4-32"]
LAB_DUCKIEBOTS = 1
LAB_UPLINK = "100mbit"  # the hub, Docker Hub's stand-in, sits behind this one link
LAB_UP_ARGS = [
    "lab",
    "up",
    *(a for p in LAB_PROFILES for a in ("--profile", p)),
    "--duckiebots",
    str(LAB_DUCKIEBOTS),
    "--uplink-rate",
    LAB_UPLINK,
]
LAB_ROBOTS = 6

# What every probe on a robot of each profile must see, as on the real board.
PROBES = {
    "amd64": {
        "uname": "x86_64",
        "dpkg": "amd64",
        "long_bit": "64",
        "docker": "linux/amd64",
        "model": None,
        "pulled": "linux/amd64",
    },
    "jetson-nano": {
        "uname": "aarch64",
        "dpkg": "arm64",
        "long_bit": "64",
        "docker": "linux/arm64",
        "model": "NVIDIA Jetson Nano Developer Kit",
        "pulled": "linux/arm64/v8",
    },
    "raspberrypi3": {
        "uname": "armv7l",
        "dpkg": "armhf",
        "long_bit": "32",
        "docker": "linux/arm",
        "model": "Raspberry Pi 3 Model B Rev 1.2",
        "pulled": "linux/arm/v7",
    },
    "raspberrypi4-32": {
        "uname": "aarch64",
        "dpkg": "arm64",
        "long_bit": "64",
        "docker": "linux/arm",
        "model": "Raspberry Pi 4 Model B Rev 1.4",
        "pulled": "linux/arm/v7",
    },
}


def _why_not_runnable() -> str | None:
    if platform.system() != "Linux":
        return "lab tests need Linux (network namespaces)"
    if os.geteuid() != 0:
        return "lab tests need root (network namespaces, mounts); CI runs them as root"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _why_not_runnable()
    for item in items:
        if "tests/lab/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.lab)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def fleet(
    *args: str, check: bool = True, timeout: float = 900, **kwargs
) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "fleet", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"fleet {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done


def leftovers(paths: LabPaths) -> list[str]:
    """Everything a lab made that is still on the host: must be empty after `down`."""
    found = [f"namespace {ns}" for ns in network.lab_namespaces()]
    found += [
        f"interface {name}"
        for name in os.listdir("/sys/class/net")
        if name == spec.BRIDGE or name.startswith(spec.VETH_PREFIX)
    ]
    found += [
        f"mount {m}" for m in mounts_under(Path("/proc/self/mountinfo").read_text(), paths.state)
    ]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            continue  # exited; init reaps it
        if str(paths.state) in args:
            found.append(f"process {pid}: {args}")
    if paths.state.exists():
        found.append(f"directory {paths.state}")
    return found


@dataclass
class Lab:
    paths: LabPaths
    status: dict
    accounts: dict
    workdir: Path

    @property
    def robots(self) -> list[dict]:
        return self.status["robots"]

    @property
    def registry(self) -> str:
        return self.status["registry"]

    def login_args(self, user: str = "robot") -> list[str]:
        """`fleet login` of one of the lab registry's accounts (its secret goes on stdin)."""
        return [
            "login",
            self.registry,
            "--username",
            user,
            "--password-stdin",
            "--ca-cert",
            str(self.paths.ca_cert),
        ]

    def blob_fetches(self) -> int:
        """Layer and config downloads the lab registry served, from its access log."""
        log = (self.paths.registry_dir / "registry.log").read_text()
        return sum(1 for line in log.splitlines() if "GET /v2/" in line and "/blobs/" in line)

    @property
    def known_hosts(self) -> Path:
        return self.workdir / "known_hosts"

    def ssh_args(self, address: str) -> list[str]:
        return [
            "ssh",
            "-i",
            str(self.paths.lab_key),
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            f"root@{address}",
        ]

    def ssh(self, address: str, command: str, input: str | None = None, check: bool = True):
        done = subprocess.run(
            [*self.ssh_args(address), command],
            input=input,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"ssh {address} {command!r} exited {done.returncode}: {done.stderr}"
            )
        return done

    def docker(
        self, address: str, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess:
        """The real docker CLI on this machine, talking to a robot's daemon over SSH."""
        done = subprocess.run(
            ["docker", "-H", f"ssh://root@{address}", *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.docker_env(),
            timeout=600,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"docker -H {address} {' '.join(args)}: {done.stderr}")
        return done

    def docker_env(self) -> dict[str, str]:
        """Environment in which `docker -H ssh://root@ROBOT` uses the lab key and our
        known_hosts: an `ssh` wrapper first on PATH (ssh reads ~ from the password
        database, so HOME cannot redirect it)."""
        wrapper_dir = self.workdir / "bin"
        wrapper = wrapper_dir / "ssh"
        if not wrapper.exists():
            wrapper_dir.mkdir(parents=True, exist_ok=True)
            wrapper.write_text(
                "#!/bin/sh\n"
                f"exec {shutil.which('ssh')} -i {self.paths.lab_key} "
                f"-o UserKnownHostsFile={self.known_hosts} -o StrictHostKeyChecking=accept-new "
                '-o BatchMode=yes "$@"\n'
            )
            wrapper.chmod(0o755)
        # The client's own config (where `docker login` stores a credential) stays here too.
        return {
            **os.environ,
            "PATH": f"{wrapper_dir}:{os.environ['PATH']}",
            "DOCKER_CONFIG": str(self.workdir / "docker-client"),
        }


@pytest.fixture(scope="session")
def lab_paths() -> LabPaths:
    return LabPaths.from_env()


@pytest.fixture(scope="session")
def _lab_session(lab_paths):
    yield
    fleet("lab", "down", timeout=300)
    assert leftovers(lab_paths) == []


@pytest.fixture
def lab(_lab_session, lab_paths, tmp_path_factory) -> Lab:
    """The standard lab (LAB_PROFILES, robot01 a Duckiebot), brought up if it is not."""
    done = fleet(*LAB_UP_ARGS, check=False)
    if done.returncode != 0 and "different lab is already up" in done.stderr:
        fleet("lab", "down")
        done = fleet(*LAB_UP_ARGS, check=False)
    assert done.returncode == 0, done.stderr
    status = json.loads(fleet("lab", "status", "--json").stdout)
    assert status["healthy"], status
    accounts = json.loads(lab_paths.credentials.read_text())
    # One client directory (known_hosts, ssh wrapper) per lab built: every new lab has new
    # host keys under the same addresses, which a kept known_hosts would rightly refuse.
    if "already up" not in done.stderr or not _CLIENT_DIRS:
        _CLIENT_DIRS.append(tmp_path_factory.mktemp("lab-client"))
    return Lab(lab_paths, status, accounts, _CLIENT_DIRS[-1])


_CLIENT_DIRS: list[Path] = []


@pytest.fixture
def puller(lab, tmp_path):
    """fleet with its own store (holding the lab's robot account) and known_hosts."""
    env = {**os.environ, "FLEET_CREDENTIALS": str(tmp_path / "store.json")}
    known = tmp_path / "kh"

    def login():
        done = subprocess.run(
            [sys.executable, "-m", "fleet", *lab.login_args()],
            input=lab.accounts["accounts"]["robot"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr

    def pull(image, *args, background=False):
        command = [
            sys.executable,
            "-m",
            "fleet",
            "pull",
            f"{lab.registry}/{image}",
            "-i",
            str(lab.paths.inventory),
            "--known-hosts",
            str(known),
            "--accept-new",
            "--json",
            "--ca-cert",
            str(lab.paths.ca_cert),
            *args,
        ]
        if background:
            return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        return done, pull_results(done.stdout)

    pull.login = login
    login()
    return pull


def pull_results(stdout):
    records = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return {r["host"]: r for r in records if r["event"] == "result"}
